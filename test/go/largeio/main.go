// largeio runs processes that print a lot through the containerd 1.6 Go client and
// prints, for every run, the sha256 and length of the bytes the client received: the
// flow of containerd's integration test for large TTY output (exec with a terminal,
// Start, the Wait channel, the exit status, process.Delete, then process.IO().Wait()),
// with or without a terminal, as an exec or as the task's init process.
//
//	largeio -address SOCK -namespace NS -image REF -id ID -case exec-tty|exec-pipe|init-tty|init-pipe
//	        [-n RUNS] [-fifodir DIR] -- ARGS...
//
// One JSON line per run: {"case","run","code","len","sha256","tail"} (+"stderr", its
// length, without a terminal); the last line is
// {"step":"done"}. On a failure: {"step":…,"error":…} and exit status 1. The container
// (and its snapshot) is removed before it exits.
package main

import (
	"berth.test/go/internal/jsonl"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

// digest: the length and sha256 of what was received.
func digest(b []byte) (int, string) {
	h := sha256.Sum256(b)
	return len(b), hex.EncodeToString(h[:])
}

// tail: the last 64 bytes received (where a short output stopped).
func tail(b []byte) string {
	if len(b) > 64 {
		b = b[len(b)-64:]
	}
	return string(b)
}

// creator: stdout into out; without a terminal stderr into errOut (containerd's shim
// wants both pipes named), with one the terminal is both.
func creator(out, errOut *jsonl.SafeBuffer, tty bool, fifoDir string) cio.Creator {
	if tty {
		return cio.NewCreator(cio.WithStreams(nil, out, nil), cio.WithTerminal, cio.WithFIFODir(fifoDir))
	}
	return cio.NewCreator(cio.WithStreams(nil, out, errOut), cio.WithFIFODir(fifoDir))
}

func report(c string, run int, code uint32, out, errOut *jsonl.SafeBuffer, tty bool) {
	got := out.Bytes()
	n, sum := digest(got)
	line := map[string]interface{}{"case": c, "run": run, "code": code, "len": n, "sha256": sum, "tail": tail(got)}
	if !tty {
		line["stderr"] = len(errOut.Bytes())
	}
	jsonl.Emit(line)
}

func main() {
	address := flag.String("address", "", "daemon socket")
	ns := flag.String("namespace", "", "namespace")
	image := flag.String("image", "", "image reference")
	id := flag.String("id", "", "container id")
	which := flag.String("case", "exec-tty", "exec-tty, exec-pipe, init-tty or init-pipe")
	runs := flag.Int("n", 1, "runs")
	fifoDir := flag.String("fifodir", os.TempDir(), "where the client makes its FIFOs")
	timeout := flag.Duration("timeout", 120*time.Second, "overall timeout")
	flag.Parse()
	args := flag.Args()
	if len(args) == 0 {
		jsonl.Check("args", fmt.Errorf("no command"))
	}

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, *ns)
	client, err := containerd.New(*address)
	jsonl.Check("connect", err)
	defer client.Close()
	img, err := client.GetImage(ctx, *image)
	jsonl.Check("image", err)

	tty := *which == "exec-tty" || *which == "init-tty"
	switch *which {
	case "exec-tty", "exec-pipe":
		c, err := client.NewContainer(ctx, *id, containerd.WithNewSnapshot(*id+"-snap", img),
			containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "600")))
		jsonl.Check("container", err)
		defer c.Delete(context.Background(), containerd.WithSnapshotCleanup) //nolint:errcheck
		task, err := c.NewTask(ctx, cio.NullIO)
		jsonl.Check("task", err)
		defer func() {
			ch, err := task.Wait(ctx)
			if err == nil && task.Kill(ctx, syscall.SIGKILL) == nil {
				<-ch
			}
			task.Delete(ctx) //nolint:errcheck
		}()
		jsonl.Check("start", task.Start(ctx))
		spec, err := c.Spec(ctx)
		jsonl.Check("spec", err)
		for i := 0; i < *runs; i++ {
			pspec := *spec.Process
			pspec.Args = args
			pspec.Terminal = tty
			out, errOut := &jsonl.SafeBuffer{}, &jsonl.SafeBuffer{}
			execID := fmt.Sprintf("large-%d", i)
			p, err := task.Exec(ctx, execID, &pspec, creator(out, errOut, tty, *fifoDir))
			jsonl.Check("exec", err)
			ch, err := p.Wait(ctx)
			jsonl.Check("wait", err)
			jsonl.Check("exec-start", p.Start(ctx))
			st := <-ch
			code, _, err := st.Result()
			jsonl.Check("result", err)
			_, err = p.Delete(ctx)
			jsonl.Check("exec-delete", err)
			p.IO().Wait()
			report(*which, i, code, out, errOut, tty)
		}
	case "init-tty", "init-pipe":
		for i := 0; i < *runs; i++ {
			cid := fmt.Sprintf("%s-%d", *id, i)
			specOpts := []oci.SpecOpts{oci.WithImageConfig(img), oci.WithProcessArgs(args...)}
			if tty {
				specOpts = append(specOpts, oci.WithTTY)
			}
			c, err := client.NewContainer(ctx, cid, containerd.WithNewSnapshot(cid+"-snap", img), containerd.WithNewSpec(specOpts...))
			jsonl.Check("container", err)
			out, errOut := &jsonl.SafeBuffer{}, &jsonl.SafeBuffer{}
			task, err := c.NewTask(ctx, creator(out, errOut, tty, *fifoDir))
			jsonl.Check("task", err)
			ch, err := task.Wait(ctx)
			jsonl.Check("wait", err)
			jsonl.Check("start", task.Start(ctx))
			st := <-ch
			code, _, err := st.Result()
			jsonl.Check("result", err)
			// Delete waits for the client's copies (io.Wait) before it deletes the task.
			_, err = task.Delete(ctx)
			jsonl.Check("task-delete", err)
			report(*which, i, code, out, errOut, tty)
			jsonl.Check("container-delete", c.Delete(ctx, containerd.WithSnapshotCleanup))
		}
	default:
		jsonl.Check("case", fmt.Errorf("unknown case %q", *which))
	}
	jsonl.Emit(map[string]interface{}{"step": "done"})
}
