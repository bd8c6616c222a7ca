// hpack: header blocks as grpc-go's HPACK encoder (golang.org/x/net/http2/hpack) writes
// them on one connection, with the header lists they encode, as JSON lines:
// {"block": base64, "want": [[name, value], ...]}. Headers shaped like a containerd
// client's, the dynamic table filling and evicting, table size updates mid-stream and
// never-indexed (sensitive) fields. test/e2e/hpack-go.test.ts decodes them in order.
package main

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"golang.org/x/net/http2/hpack"
)

func main() {
	var buf bytes.Buffer
	enc := hpack.NewEncoder(&buf)
	out := json.NewEncoder(os.Stdout)
	paths := []string{
		"/containerd.services.content.v1.Content/Info",
		"/containerd.services.content.v1.Content/Read",
		"/containerd.services.snapshots.v1.Snapshots/Prepare",
		"/containerd.services.leases.v1.Leases/Create",
		"/containerd.services.containers.v1.Containers/Create",
		"/containerd.services.tasks.v1.Tasks/Create",
		"/containerd.services.images.v1.Images/Get",
	}
	for i := 0; i < 3000; i++ {
		switch i {
		case 1500:
			enc.SetMaxDynamicTableSize(1024)
		case 2000:
			enc.SetMaxDynamicTableSize(4096)
		}
		fields := []hpack.HeaderField{
			{Name: ":method", Value: "POST"},
			{Name: ":scheme", Value: "http"},
			{Name: ":path", Value: paths[i%len(paths)]},
			{Name: ":authority", Value: "localhost"},
			{Name: "content-type", Value: "application/grpc"},
			{Name: "user-agent", Value: "grpc-go/1.41.0"},
			{Name: "te", Value: "trailers"},
			{Name: "containerd-namespace", Value: fmt.Sprintf("ns-%d", i%13)},
			{Name: "containerd-lease", Value: fmt.Sprintf("lease-%d-%s", i, strings.Repeat("z", i%50))},
			{Name: "grpc-timeout", Value: fmt.Sprintf("%dm", i), Sensitive: i%5 == 0},
		}
		buf.Reset()
		want := [][2]string{}
		for _, f := range fields {
			if err := enc.WriteField(f); err != nil {
				panic(err)
			}
			want = append(want, [2]string{f.Name, f.Value})
		}
		if err := out.Encode(map[string]interface{}{"block": base64.StdEncoding.EncodeToString(buf.Bytes()), "want": want}); err != nil {
			panic(err)
		}
	}
}
