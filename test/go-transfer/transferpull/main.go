// transferpull: a pull through the Transfer service with containerd 2's own Go client
// (client.Transfer with a registry source and an image store destination, as ctr 2's
// `images pull` does it). Prints each progress report as a JSON line on stdout and a last
// line {"done":true} or {"error":"...","code":"..."}; exits 0 only when the transfer succeeded.
//
//	transferpull -address SOCK -namespace NS [-plain-http] [-user U:P] [-snapshotter S] [-no-unpack] REF
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/transfer"
	"github.com/containerd/containerd/v2/core/transfer/image"
	"github.com/containerd/containerd/v2/core/transfer/registry"
	"github.com/containerd/errdefs"
	"github.com/containerd/platforms"
)

type staticCreds struct{ user, secret string }

func (c staticCreds) GetCredentials(ctx context.Context, ref, host string) (registry.Credentials, error) {
	return registry.Credentials{Host: host, Username: c.user, Secret: c.secret}, nil
}

func main() {
	address := flag.String("address", "", "daemon socket")
	namespace := flag.String("namespace", "default", "namespace")
	plainHTTP := flag.Bool("plain-http", false, "plain HTTP")
	user := flag.String("user", "", "USER:PASSWORD")
	snapshotter := flag.String("snapshotter", "overlayfs", "snapshotter to unpack into")
	noUnpack := flag.Bool("no-unpack", false, "do not unpack")
	timeout := flag.Duration("timeout", 2*time.Minute, "deadline")
	flag.Parse()
	ref := flag.Arg(0)
	var mu sync.Mutex
	out := json.NewEncoder(os.Stdout)
	emit := func(v any) {
		mu.Lock()
		defer mu.Unlock()
		_ = out.Encode(v)
	}
	fail := func(err error) {
		code := "unknown"
		switch {
		case errdefs.IsNotImplemented(err):
			code = "not-implemented"
		case errdefs.IsNotFound(err):
			code = "not-found"
		case errdefs.IsInvalidArgument(err):
			code = "invalid-argument"
		case errdefs.IsUnauthorized(err):
			code = "unauthorized"
		}
		emit(map[string]any{"error": err.Error(), "code": code})
		os.Exit(1)
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c, err := client.New(*address, client.WithDefaultNamespace(*namespace))
	if err != nil {
		fail(err)
	}
	defer c.Close()

	var ropts []registry.Opt
	if *plainHTTP {
		ropts = append(ropts, registry.WithDefaultScheme("http"))
	}
	if *user != "" {
		u, p, _ := strings.Cut(*user, ":")
		ropts = append(ropts, registry.WithCredentials(staticCreds{u, p}))
	}
	src, err := registry.NewOCIRegistry(ctx, ref, ropts...)
	if err != nil {
		fail(err)
	}
	var sopts []image.StoreOpt
	if !*noUnpack {
		sopts = append(sopts, image.WithUnpack(platforms.DefaultSpec(), *snapshotter))
	}
	dst := image.NewStore(ref, sopts...)
	err = c.Transfer(ctx, src, dst, transfer.WithProgress(func(p transfer.Progress) {
		ev := map[string]any{"event": p.Event, "name": p.Name, "parents": p.Parents, "progress": p.Progress, "total": p.Total}
		if p.Desc != nil {
			ev["digest"] = p.Desc.Digest.String()
			ev["mediaType"] = p.Desc.MediaType
		}
		emit(ev)
	}))
	if err != nil {
		fail(fmt.Errorf("transfer: %w", err))
	}
	emit(map[string]any{"done": true})
}
