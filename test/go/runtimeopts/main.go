// runtimeopts runs one task through the containerd 1.6 Go client with runtime options that
// ctr cannot pass: the legacy runctypes.RuncOptions of io.containerd.runtime.v1.linux
// (ctr refuses --runc-binary for it) and containerd.WithShimCgroup. One JSON line per step.
//
//	runtimeopts -address SOCK -namespace NS -image REF -id ID [-runtime NAME]
//	            [-legacy-runc BINARY] [-shim-cgroup PATH] [-detach] -- ARGS...
//
// Without -detach the task runs to its end: {"step":"exited","code":N,"output":"…"}.
// With -detach it is left running: {"step":"started","pid":N}. A failure prints
// {"step":…,"error":…} and exits 1.
package main

import (
	"berth.test/go/internal/jsonl"
	"context"
	"flag"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/linux/runctypes"
)

func main() {
	address := flag.String("address", "", "daemon socket")
	ns := flag.String("namespace", "default", "namespace")
	image := flag.String("image", "", "image reference")
	id := flag.String("id", "", "container id")
	runtime := flag.String("runtime", "io.containerd.runc.v2", "runtime name")
	legacyRunc := flag.String("legacy-runc", "", "runctypes.RuncOptions.Runtime (runtime options of the container)")
	shimCgroup := flag.String("shim-cgroup", "", "containerd.WithShimCgroup")
	detach := flag.Bool("detach", false, "leave the task running")
	flag.Parse()

	client, err := containerd.New(*address, containerd.WithTimeout(10*time.Second))
	jsonl.Check("connect", err)
	defer client.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), *ns), 60*time.Second)
	defer cancel()

	img, err := client.GetImage(ctx, *image)
	jsonl.Check("image", err)
	var runtimeOpts interface{}
	if *legacyRunc != "" {
		runtimeOpts = &runctypes.RuncOptions{Runtime: *legacyRunc}
	}
	container, err := client.NewContainer(ctx, *id,
		containerd.WithImage(img),
		containerd.WithNewSnapshot(*id+"-snap", img),
		containerd.WithRuntime(*runtime, runtimeOpts),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs(flag.Args()...)),
	)
	jsonl.Check("container", err)

	var taskOpts []containerd.NewTaskOpts
	if *shimCgroup != "" {
		taskOpts = append(taskOpts, containerd.WithShimCgroup(*shimCgroup))
	}
	out := &jsonl.SafeBuffer{}
	creator := cio.NewCreator(cio.WithStreams(nil, out, out))
	if *detach {
		creator = cio.NullIO
	}
	task, err := container.NewTask(ctx, creator, taskOpts...)
	if err != nil {
		// As ctr run does: the container goes when its task cannot be made.
		_ = container.Delete(ctx, containerd.WithSnapshotCleanup)
		jsonl.Check("task", err)
	}
	exitCh, err := task.Wait(ctx)
	jsonl.Check("wait", err)
	jsonl.Check("start", task.Start(ctx))
	if *detach {
		jsonl.Emit(jsonl.Result{"step": "started", "pid": task.Pid()})
		return
	}
	st := <-exitCh
	code, _, err := st.Result()
	jsonl.Check("exit", err)
	_, err = task.Delete(ctx)
	jsonl.Check("delete", err)
	jsonl.Check("container-delete", container.Delete(ctx, containerd.WithSnapshotCleanup))
	jsonl.Emit(jsonl.Result{"step": "exited", "code": code, "output": out.String()})
}
