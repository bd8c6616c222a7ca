// unpack drives image unpacking and snapshot-backed containers through the containerd
// 1.6 Go client, printing one JSON line per step:
//
//	image.Get; IsUnpacked; image.Unpack (Stat/Prepare/Apply/Commit underneath);
//	IsUnpacked; NewContainer(WithNewSnapshot, WithNewSpec(WithImageConfig)) — the client
//	mounts the snapshot itself while building the spec; Snapshots.Mounts mounted here and
//	a file read through them; container Delete(WithSnapshotCleanup).
//
//	unpack -address SOCK -namespace NS -image NAME -snapshotter overlayfs
package main

import (
	"berth.test/go/internal/jsonl"
	"context"
	"flag"
	"io/ioutil"
	"os"
	"path/filepath"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

func main() {
	address := flag.String("address", "", "daemon socket")
	ns := flag.String("namespace", "go-unpack", "namespace")
	ref := flag.String("image", "", "image name")
	snapshotter := flag.String("snapshotter", "overlayfs", "snapshotter")
	flag.Parse()

	client, err := containerd.New(*address)
	jsonl.Check("connect", err)
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), *ns)

	image, err := client.GetImage(ctx, *ref)
	jsonl.Check("image.get", err)
	jsonl.Emit(map[string]interface{}{"step": "image.get", "name": image.Name(), "target": image.Target().Digest.String()})

	unpacked, err := image.IsUnpacked(ctx, *snapshotter)
	jsonl.Check("isunpacked.before", err)
	jsonl.Emit(map[string]interface{}{"step": "isunpacked.before", "unpacked": unpacked})

	jsonl.Check("unpack", image.Unpack(ctx, *snapshotter))
	unpacked, err = image.IsUnpacked(ctx, *snapshotter)
	jsonl.Check("isunpacked.after", err)
	jsonl.Emit(map[string]interface{}{"step": "unpack", "unpacked": unpacked})

	id := "go-unpack-c1"
	container, err := client.NewContainer(ctx, id,
		containerd.WithSnapshotter(*snapshotter),
		containerd.WithNewSnapshot(id+"-snap", image),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("/bin/true")))
	jsonl.Check("newcontainer", err)
	info, err := container.Info(ctx)
	jsonl.Check("container.info", err)
	jsonl.Emit(map[string]interface{}{"step": "newcontainer", "snapshotter": info.Snapshotter, "snapshot_key": info.SnapshotKey, "image": info.Image})

	mounts, err := client.SnapshotService(*snapshotter).Mounts(ctx, info.SnapshotKey)
	jsonl.Check("snapshot.mounts", err)
	dir, err := ioutil.TempDir("", "go-unpack-")
	jsonl.Check("tempdir", err)
	jsonl.Check("mount", mount.All(mounts, dir))
	motd, readErr := ioutil.ReadFile(filepath.Join(dir, "etc", "motd"))
	_, shErr := os.Stat(filepath.Join(dir, "bin", "sh"))
	jsonl.Check("unmount", mount.UnmountAll(dir, 0))
	os.Remove(dir)
	jsonl.Check("read", readErr)
	jsonl.Emit(map[string]interface{}{"step": "rootfs", "motd": string(motd), "has_sh": shErr == nil, "mount_type": mounts[0].Type})

	jsonl.Check("container.delete", container.Delete(ctx, containerd.WithSnapshotCleanup))
	_, err = client.SnapshotService(*snapshotter).Stat(ctx, id+"-snap")
	jsonl.Emit(map[string]interface{}{"step": "deleted", "snapshot_gone": errdefs.IsNotFound(err)})
	jsonl.Emit(map[string]interface{}{"step": "done", "ok": true})
}
