// grpcload: a grpc-go client that makes unary calls as fast as it can over `-conns`
// connections with `-streams` calls in flight on each, and prints one JSON line with the
// throughput and latency percentiles. The load generator of bench/grpc-load.ts, and a quick
// "does this address serve gRPC" probe for the tests (-calls 1).
//
//	grpcload -address unix:///path/to.sock|tcp://127.0.0.1:PORT [-conns 1] [-streams 1]
//	         [-calls 20000] [-method version|namespaces] [-warmup 200]
//
// Output: {"calls":N,"errors":E,"seconds":S,"calls_per_s":R,"p50_ms":…,"p99_ms":…,"first_error":"…"}
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	namespacesapi "github.com/containerd/containerd/api/services/namespaces/v1"
	versionapi "github.com/containerd/containerd/api/services/version/v1"
	ptypes "github.com/gogo/protobuf/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"berth.test/go/internal/jsonl"
)

func dial(address string) (*grpc.ClientConn, error) {
	var network, addr string
	switch {
	case strings.HasPrefix(address, "unix://"):
		network, addr = "unix", strings.TrimPrefix(address, "unix://")
	case strings.HasPrefix(address, "tcp://"):
		network, addr = "tcp", strings.TrimPrefix(address, "tcp://")
	default:
		network, addr = "unix", address
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// One grpc.ClientConn per connection: grpc-go multiplexes every call of a ClientConn on
	// one HTTP/2 connection, so -conns N means N ClientConns.
	return grpc.DialContext(ctx, "passthrough:///"+addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithBlock(),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}),
	)
}

func main() {
	address := flag.String("address", "", "unix:///path, tcp://host:port or a socket path")
	conns := flag.Int("conns", 1, "connections")
	streams := flag.Int("streams", 1, "calls in flight per connection")
	calls := flag.Int("calls", 20000, "calls in total (timed)")
	warmup := flag.Int("warmup", 200, "untimed calls per connection first")
	method := flag.String("method", "version", "version or namespaces (Namespaces.List)")
	flag.Parse()

	ccs := make([]*grpc.ClientConn, *conns)
	for i := range ccs {
		cc, err := dial(*address)
		jsonl.Check("dial", err)
		defer cc.Close()
		ccs[i] = cc
	}
	var call func(cc *grpc.ClientConn) error
	switch *method {
	case "version":
		call = func(cc *grpc.ClientConn) error {
			_, err := versionapi.NewVersionClient(cc).Version(context.Background(), &ptypes.Empty{})
			return err
		}
	case "namespaces":
		call = func(cc *grpc.ClientConn) error {
			_, err := namespacesapi.NewNamespacesClient(cc).List(context.Background(), &namespacesapi.ListNamespacesRequest{})
			return err
		}
	default:
		jsonl.Fail("flags", fmt.Errorf("unknown -method %q", *method))
	}
	for _, cc := range ccs {
		for i := 0; i < *warmup; i++ {
			jsonl.Check("warmup", call(cc))
		}
	}

	// Workers take call numbers from one counter until `calls` are taken, so the total is
	// exact whatever the split; each records its own latencies (no lock on the hot path).
	var next int64
	var errs int64
	var firstErr atomic.Value
	lat := make([][]time.Duration, *conns**streams)
	var wg sync.WaitGroup
	start := time.Now()
	for c := 0; c < *conns; c++ {
		for s := 0; s < *streams; s++ {
			w := c**streams + s
			cc := ccs[c]
			wg.Add(1)
			go func() {
				defer wg.Done()
				mine := make([]time.Duration, 0, *calls/len(lat)+1)
				for atomic.AddInt64(&next, 1) <= int64(*calls) {
					t0 := time.Now()
					err := call(cc)
					mine = append(mine, time.Since(t0))
					if err != nil {
						atomic.AddInt64(&errs, 1)
						firstErr.CompareAndSwap(nil, err.Error())
					}
				}
				lat[w] = mine
			}()
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	all := make([]time.Duration, 0, *calls)
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		i := int(p * float64(len(all)-1))
		return float64(all[i].Microseconds()) / 1000
	}
	out := jsonl.Result{
		"calls":       len(all),
		"errors":      errs,
		"seconds":     elapsed.Seconds(),
		"calls_per_s": float64(len(all)) / elapsed.Seconds(),
		"p50_ms":      pct(0.50),
		"p99_ms":      pct(0.99),
		"p90_ms":      pct(0.90),
		"p999_ms":     pct(0.999),
		"max_ms":      pct(1),
	}
	if e, ok := firstErr.Load().(string); ok {
		out["first_error"] = e
	}
	jsonl.Emit(out)
	if errs > 0 {
		os.Exit(1)
	}
}
