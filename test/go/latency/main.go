// latency: N sequential unary Version calls over one grpc-go connection to a unix socket;
// prints the per-call latency percentiles as one JSON line. Used to check that transport
// changes in berthd do not slow the 1×1 case down.
//
//	latency <socket> [calls]
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"time"

	versionapi "github.com/containerd/containerd/api/services/version/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	ptypes "github.com/gogo/protobuf/types"
)

func main() {
	sock := os.Args[1]
	n := 2000
	if len(os.Args) > 2 {
		n, _ = strconv.Atoi(os.Args[2])
	}
	conn, err := grpc.Dial("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		}))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	client := versionapi.NewVersionClient(conn)
	ctx := context.Background()
	// Warm-up: connection, and both sides' code paths.
	for i := 0; i < 200; i++ {
		if _, err := client.Version(ctx, &ptypes.Empty{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	d := make([]float64, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		t := time.Now()
		if _, err := client.Version(ctx, &ptypes.Empty{}); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		d[i] = float64(time.Since(t).Microseconds()) / 1000
	}
	total := time.Since(start)
	sort.Float64s(d)
	out, _ := json.Marshal(map[string]float64{
		"calls": float64(n), "callsPerSec": float64(n) / total.Seconds(),
		"p50ms": d[n/2], "p99ms": d[n*99/100], "maxms": d[n-1],
	})
	fmt.Println(string(out))
}
