// gotask: the Go client flow of the reference (containerd-api.md §7) — NewContainer,
// NewTask, Wait, Start, Delete — printing each step as a JSON line; test/e2e/tasks.test.ts
// runs it against berthd and containerd and compares.
package main

import (
	"berth.test/go/internal/jsonl"
	"context"
	"flag"
	"os"
	"strings"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

func fail(step string, err error) {
	jsonl.Emit(map[string]interface{}{"step": step, "error": err.Error(), "notfound": errdefs.IsNotFound(err)})
	os.Exit(1)
}

func main() {
	address := flag.String("address", "", "socket")
	ns := flag.String("namespace", "", "namespace")
	image := flag.String("image", "", "image")
	id := flag.String("id", "", "container id")
	flag.Parse()
	client, err := containerd.New(*address)
	if err != nil {
		fail("connect", err)
	}
	defer client.Close()
	ctx := namespaces.WithNamespace(context.Background(), *ns)
	img, err := client.GetImage(ctx, *image)
	if err != nil {
		fail("image", err)
	}
	c, err := client.NewContainer(ctx, *id, containerd.WithNewSnapshot(*id+"-snap", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sh", "-c", "echo from go; exit 5")))
	if err != nil {
		fail("container", err)
	}
	out := &jsonl.SafeBuffer{}
	t, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, out, out)))
	if err != nil {
		fail("task", err)
	}
	ch, err := t.Wait(ctx)
	if err != nil {
		fail("wait", err)
	}
	st, _ := t.Status(ctx)
	jsonl.Emit(map[string]interface{}{"step": "created", "status": string(st.Status), "pid": t.Pid() > 0})
	if err := t.Start(ctx); err != nil {
		fail("start", err)
	}
	ex := <-ch
	code, _, err := ex.Result()
	if err != nil {
		fail("result", err)
	}
	st, _ = t.Status(ctx)
	jsonl.Emit(map[string]interface{}{"step": "exited", "code": code, "status": string(st.Status)})
	// The exit can be reported before the shim has copied the last output into the FIFO,
	// and Delete closes the client's end: give the copy a moment (a client-side race,
	// the same with any daemon).
	for i := 0; i < 200 && !strings.Contains(out.String(), "from go"); i++ {
		time.Sleep(10 * time.Millisecond)
	}
	es, err := t.Delete(ctx)
	if err != nil {
		fail("delete", err)
	}
	jsonl.Emit(map[string]interface{}{"step": "deleted", "code": es.ExitCode(), "output": out.String()})
	_, err = c.Task(ctx, nil)
	jsonl.Emit(map[string]interface{}{"step": "task-after", "notfound": errdefs.IsNotFound(err)})
	if err := c.Delete(ctx, containerd.WithSnapshotCleanup); err != nil {
		fail("container-delete", err)
	}
	jsonl.Emit(map[string]interface{}{"step": "done"})
}
