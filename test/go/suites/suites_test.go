// suites: containerd v1.6.20's own reusable conformance suites, run unchanged against a
// daemon over gRPC through the Go client's proxies — content/testsuite through
// client.ContentStore() and snapshots/testsuite through client.SnapshotService(name).
// This is how containerd's integration tests run them against a containerd daemon; here
// the same binary runs against berthd and against a real containerd, and
// test/e2e/containerd-suites.test.ts compares the case names that pass.
//
//	suites.test -address /run/berth/berthd.sock -test.run 'TestContent' -test.v
//	suites.test -address ... -snapshotter native -test.run 'TestSnapshotter' -test.v
package suites

import (
	"context"
	"flag"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/content"
	contentsuite "github.com/containerd/containerd/content/testsuite"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/snapshots"
	snapshotsuite "github.com/containerd/containerd/snapshots/testsuite"
)

var (
	address     = flag.String("address", "", "the daemon's gRPC socket")
	snapshotter = flag.String("snapshotter", "overlayfs", "the snapshotter the Snapshotter suite runs against")
)

// dial connects a client of its own for one case (the suites build a store per case).
func dial() (*containerd.Client, error) {
	if *address == "" {
		return nil, fmt.Errorf("-address is required")
	}
	c, err := containerd.New(*address)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", *address, err)
	}
	return c, nil
}

// contentStore is the suites' StoreInitFn: every case gets the daemon's content store and
// a context wrapper that puts each of its contexts in a namespace of its own under a lease
// (released when the case ends), so cases never see each other's blobs.
func contentStore() contentsuite.StoreInitFn {
	return func(ctx context.Context, root string) (context.Context, content.Store, func() error, error) {
		c, err := dial()
		if err != nil {
			return nil, nil, nil, err
		}
		var n uint64
		name := contentsuite.Name(ctx)
		ctx = contentsuite.SetContextWrapper(ctx, func(ctx context.Context) (context.Context, func(context.Context) error, error) {
			ns := fmt.Sprintf("%s-n%d", name, atomic.AddUint64(&n, 1))
			return c.WithLease(namespaces.WithNamespace(ctx, ns))
		})
		return ctx, c.ContentStore(), c.Close, nil
	}
}

func TestContent(t *testing.T) {
	contentsuite.ContentSuite(t, "Content", contentStore())
}

func TestContentCrossNS(t *testing.T) {
	contentsuite.ContentCrossNSSharedSuite(t, "ContentCrossNS", contentStore())
}

// TestSnapshotter runs the snapshotter suite through the Snapshots service's proxy; the
// suite mounts what the daemon returns in this (root) process, as a client does.
func TestSnapshotter(t *testing.T) {
	snapshotsuite.SnapshotterSuite(t, *snapshotter, func(ctx context.Context, root string) (snapshots.Snapshotter, func() error, error) {
		c, err := dial()
		if err != nil {
			return nil, nil, err
		}
		return c.SnapshotService(*snapshotter), c.Close, nil
	})
}
