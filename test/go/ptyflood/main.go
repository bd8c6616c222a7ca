// ptyflood pushes a large amount of data through an exec's terminal in raw mode, both
// ways at once, through the containerd 1.6 Go client: the exec runs
// `stty raw -echo; echo raw-ready; exec head -c SIZE` with a terminal, the client starts
// sending SIZE pseudo-random bytes once it saw "raw-ready" (before that the line
// discipline would still echo and edit them), and everything after the marker is what
// head wrote back. It measures how fast a shim moves a terminal's bytes (client FIFO →
// pty master → process → pty master → client FIFO).
//
//	ptyflood -address SOCK -namespace NS -image REF -id ID [-mb N] [-fifodir DIR] [-timeout D]
//	         [-stall D]
//
// One JSON line: {"sent","received","sentSha","receivedSha","code","seconds"}; on a
// failure {"step":…,"error":…} and exit status 1. The container (and its snapshot) is
// removed before it exits.
//
// With -stall D the client stops reading the terminal's output once it saw the marker and
// keeps offering input for D: back-pressure must reach it (the process blocks writing to
// its terminal, stops reading its input, and the shim stops taking the client's input).
// Then the exec is killed and the line is {"stalled","acceptedWhileStalled","code"}:
// how many bytes the shim took from the client's stdin in that time.
package main

import (
	"berth.test/go/internal/jsonl"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"hash"
	"io"
	"math/rand"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
)

const marker = "raw-ready\n"

// source: size pseudo-random bytes, hashed as they are read, held back until ready closes.
type source struct {
	ready <-chan struct{}
	r     *rand.Rand
	left  int64
	h     hash.Hash
	read  atomic.Int64
}

func (s *source) Read(p []byte) (int, error) {
	<-s.ready
	if s.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > s.left {
		p = p[:s.left]
	}
	s.r.Read(p)
	s.h.Write(p)
	s.left -= int64(len(p))
	s.read.Add(int64(len(p)))
	return len(p), nil
}

// sink: drops everything up to and including the marker (closing ready then), hashes and
// counts the rest.
type sink struct {
	mu    sync.Mutex
	ready chan struct{}
	// stall, when set, is waited for by the first write after the marker (the client stops
	// reading its FIFO until it is closed).
	stall chan struct{}
	seen  []byte
	found bool
	h     hash.Hash
	n     int64
}

func (s *sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.found {
		if s.stall != nil {
			s.mu.Unlock()
			<-s.stall
			s.mu.Lock()
		}
		s.h.Write(p)
		s.n += int64(len(p))
		return len(p), nil
	}
	s.seen = append(s.seen, p...)
	i := bytes.Index(s.seen, []byte(marker))
	if i < 0 {
		return len(p), nil
	}
	s.found = true
	close(s.ready)
	rest := s.seen[i+len(marker):]
	s.h.Write(rest)
	s.n += int64(len(rest))
	s.seen = nil
	return len(p), nil
}

func main() {
	address := flag.String("address", "", "daemon socket")
	ns := flag.String("namespace", "", "namespace")
	image := flag.String("image", "", "image reference")
	id := flag.String("id", "", "container id")
	mb := flag.Int64("mb", 64, "MiB to send (and receive back)")
	fifoDir := flag.String("fifodir", os.TempDir(), "where the client makes its FIFOs")
	timeout := flag.Duration("timeout", 120*time.Second, "overall timeout")
	stall := flag.Duration("stall", 0, "stop reading the output for this long, then kill the exec")
	flag.Parse()
	size := *mb << 20

	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	ctx = namespaces.WithNamespace(ctx, *ns)
	client, err := containerd.New(*address)
	jsonl.Check("connect", err)
	defer client.Close()
	img, err := client.GetImage(ctx, *image)
	jsonl.Check("image", err)

	c, err := client.NewContainer(ctx, *id, containerd.WithNewSnapshot(*id+"-snap", img),
		containerd.WithNewSpec(oci.WithImageConfig(img), oci.WithProcessArgs("sleep", "600")))
	jsonl.Check("container", err)
	cleanup := func() {
		c.Delete(context.Background(), containerd.WithSnapshotCleanup) //nolint:errcheck
	}
	task, err := c.NewTask(ctx, cio.NullIO)
	if err != nil {
		cleanup()
		jsonl.Check("task", err)
	}
	stopTask := func() {
		bg := namespaces.WithNamespace(context.Background(), *ns)
		ch, err := task.Wait(bg)
		if err == nil && task.Kill(bg, syscall.SIGKILL) == nil {
			select {
			case <-ch:
			case <-time.After(10 * time.Second):
			}
		}
		task.Delete(bg) //nolint:errcheck
		cleanup()
	}
	fail := func(step string, err error) {
		if err != nil {
			stopTask()
			jsonl.Check(step, err)
		}
	}
	// The exec's exit code once it has exited, and the exec deleted.
	exitAndDelete := func(ch <-chan containerd.ExitStatus, p containerd.Process) uint32 {
		var st containerd.ExitStatus
		select {
		case st = <-ch:
		case <-ctx.Done():
			fail("exit", ctx.Err())
		}
		code, _, err := st.Result()
		fail("result", err)
		_, err = p.Delete(ctx)
		fail("exec-delete", err)
		return code
	}
	fail("start", task.Start(ctx))
	spec, err := c.Spec(ctx)
	fail("spec", err)

	ready := make(chan struct{})
	src := &source{ready: ready, r: rand.New(rand.NewSource(7)), left: size, h: sha256.New()}
	dst := &sink{ready: ready, h: sha256.New()}
	if *stall > 0 {
		dst.stall = make(chan struct{})
	}
	pspec := *spec.Process
	pspec.Args = []string{"sh", "-c", fmt.Sprintf("stty raw -echo; echo raw-ready; exec head -c %d", size)}
	pspec.Terminal = true
	p, err := task.Exec(ctx, "flood", &pspec, cio.NewCreator(cio.WithStreams(src, dst, nil), cio.WithTerminal, cio.WithFIFODir(*fifoDir)))
	fail("exec", err)
	ch, err := p.Wait(ctx)
	fail("wait", err)
	start := time.Now()
	fail("exec-start", p.Start(ctx))
	if *stall > 0 {
		select {
		case <-ready:
		case <-ctx.Done():
			fail("marker", ctx.Err())
		}
		time.Sleep(*stall)
		accepted := src.read.Load()
		fail("kill", p.Kill(ctx, syscall.SIGKILL))
		close(dst.stall)
		code := exitAndDelete(ch, p)
		p.IO().Cancel()
		stopTask()
		jsonl.Emit(map[string]interface{}{"stalled": stall.Seconds(), "acceptedWhileStalled": accepted, "code": code})
		return
	}
	code := exitAndDelete(ch, p)
	p.IO().Wait()
	seconds := time.Since(start).Seconds()
	dst.mu.Lock()
	received, receivedSha := dst.n, hex.EncodeToString(dst.h.Sum(nil))
	dst.mu.Unlock()
	stopTask()
	jsonl.Emit(map[string]interface{}{"sent": size, "received": received, "sentSha": hex.EncodeToString(src.h.Sum(nil)),
		"receivedSha": receivedSha, "code": code, "seconds": seconds})
}
