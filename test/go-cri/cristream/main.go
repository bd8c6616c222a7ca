// cristream drives a CRI runtime's streaming as kubectl does through kubelet: it asks the
// runtime's CRI socket for an Exec/Attach/PortForward URL, then speaks to that URL with
// client-go's SPDY executor (remotecommand) and SPDY port-forward dialer. Each case prints
// one JSON line with what it observed; the test asserts on them and compares the runtimes.
package main

import (
	"berth.test/go-cri/internal/streamio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var rt runtimeapi.RuntimeServiceClient

func die(what string, err error) {
	streamio.Emit(map[string]any{"case": "fatal", "err": what + ": " + err.Error()})
	os.Exit(1)
}

func callCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func execURL(container string, cmd []string, tty, stdin, stdout, stderr bool) string {
	ctx, cancel := callCtx()
	defer cancel()
	r, err := rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: container, Cmd: cmd, Tty: tty, Stdin: stdin, Stdout: stdout, Stderr: stderr})
	if err != nil {
		die("Exec", err)
	}
	return r.Url
}

func executor(raw string) remotecommand.Executor {
	u, err := url.Parse(raw)
	if err != nil {
		die("url", err)
	}
	ex, err := remotecommand.NewSPDYExecutor(&rest.Config{}, "POST", u)
	if err != nil {
		die("executor", err)
	}
	return ex
}

func caseExec(container string) {
	var out, errb bytes.Buffer
	ex := executor(execURL(container, []string{"sh", "-c", "cat; echo to-stderr >&2; exit 3"}, false, true, true, true))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("hello from stdin\n"), Stdout: &out, Stderr: &errb})
	streamio.Emit(map[string]any{"case": "exec", "stdout": out.String(), "stderr": errb.String(), "code": streamio.ExitCode(err), "err": streamio.ErrText(err)})
}

func caseLarge(container string, size int64) {
	h := sha256.New()
	src := io.TeeReader(streamio.NewPrng(42, size), h)
	got := sha256.New()
	var n streamio.CountWriter
	ex := executor(execURL(container, []string{"cat"}, false, true, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: src, Stdout: io.MultiWriter(got, &n)})
	streamio.Emit(map[string]any{"case": "large", "sent": size, "received": n.N, "sentSha": hex.EncodeToString(h.Sum(nil)), "receivedSha": hex.EncodeToString(got.Sum(nil)),
		"code": streamio.ExitCode(err), "err": streamio.ErrText(err), "seconds": time.Since(start).Seconds()})
}

// caseLargeTTY: through a terminal in raw mode; what is sent after the command says it is
// ready comes back unchanged.
func caseLargeTTY(container string, size int64) {
	h := sha256.New()
	ready := make(chan struct{})
	src := &streamio.GatedReader{Ready: ready, R: io.TeeReader(streamio.NewPrng(43, size), h)}
	got := sha256.New()
	var n streamio.CountWriter
	sink := &streamio.AfterMarker{Marker: []byte("raw-ready\n"), Ready: ready, Next: io.MultiWriter(got, &n)}
	script := fmt.Sprintf("stty raw -echo; echo raw-ready; exec head -c %d", size)
	ex := executor(execURL(container, []string{"sh", "-c", script}, true, true, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 240*time.Second)
	defer cancel()
	start := time.Now()
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: src, Stdout: sink, Tty: true})
	streamio.Emit(map[string]any{"case": "large tty", "sent": size, "received": n.N, "sentSha": hex.EncodeToString(h.Sum(nil)), "receivedSha": hex.EncodeToString(got.Sum(nil)),
		"code": streamio.ExitCode(err), "err": streamio.ErrText(err), "seconds": time.Since(start).Seconds()})
}

// caseAttach: the container runs `cat; echo attached >&2` with stdin and stdin_once: what
// the client sends comes back on stdout, its EOF ends the container's stdin.
func caseAttach(container string) {
	ctx, cancel := callCtx()
	r, err := rt.Attach(ctx, &runtimeapi.AttachRequest{ContainerId: container, Stdin: true, Stdout: true, Stderr: true})
	cancel()
	if err != nil {
		die("Attach", err)
	}
	var out, errb bytes.Buffer
	sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer scancel()
	// stdin is held until the attach is surely wired, so the echo is not lost.
	pr, pw := io.Pipe()
	go func() {
		time.Sleep(500 * time.Millisecond)
		pw.Write([]byte("attach-in\n")) //nolint:errcheck
		time.Sleep(300 * time.Millisecond)
		pw.Close()
	}()
	err = executor(r.Url).StreamWithContext(sctx, remotecommand.StreamOptions{Stdin: pr, Stdout: &out, Stderr: &errb})
	streamio.Emit(map[string]any{"case": "attach", "stdout": out.String(), "stderr": errb.String(), "err": streamio.ErrText(err)})
}

// caseAbandon: the client goes away while its exec runs; the runtime must kill the process.
func caseAbandon(container string) {
	ex := executor(execURL(container, []string{"sh", "-c", "echo started; exec sleep 1000"}, false, false, true, false))
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: pw}) }()
	buf := make([]byte, 64)
	n, _ := io.ReadAtLeast(pr, buf, len("started\n"))
	cancel()
	go io.Copy(io.Discard, pr) //nolint:errcheck
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		err = errors.New("stream did not end after cancel")
	}
	streamio.Emit(map[string]any{"case": "abandon", "stdout": string(buf[:n]), "err": streamio.ErrText(err)})
}

// casePortForward: GETs through a forwarded port, conns at once.
func casePortForward(pod string, port string, conns int) {
	ctx, cancel := callCtx()
	r, err := rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: pod})
	cancel()
	if err != nil {
		die("PortForward", err)
	}
	u, _ := url.Parse(r.Url)
	fw, ok, err := streamio.StartPortForward(u, port)
	if err != nil {
		die("portforward", err)
	}
	if !ok {
		return
	}
	base := fmt.Sprintf("http://127.0.0.1:%d/", fw.Local)
	var wg sync.WaitGroup
	bodies := make([]string, conns)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			resp, err := client.Get(base)
			if err != nil {
				bodies[i] = "get: " + err.Error()
				return
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			bodies[i] = fmt.Sprintf("%d %s", resp.StatusCode, b)
		}(i)
	}
	wg.Wait()
	streamio.Emit(map[string]any{"case": "portforward", "bodies": bodies, "err": ""})
	fw.Close()
}

func main() {
	endpoint := flag.String("endpoint", "", "CRI socket path")
	only := flag.String("case", "", "exec|large|large-tty|attach|abandon|portforward")
	container := flag.String("container", "", "container id")
	pod := flag.String("pod", "", "pod sandbox id")
	largeMB := flag.Int64("large-mb", 100, "MiB each way")
	port := flag.String("port", "80", "port in the pod")
	conns := flag.Int("conns", 4, "concurrent port-forward connections")
	flag.Parse()
	conn, err := grpc.NewClient("unix://"+*endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		die("dial", err)
	}
	defer conn.Close()
	rt = runtimeapi.NewRuntimeServiceClient(conn)
	switch *only {
	case "exec":
		caseExec(*container)
	case "large":
		caseLarge(*container, *largeMB<<20)
	case "large-tty":
		caseLargeTTY(*container, *largeMB<<20)
	case "attach":
		caseAttach(*container)
	case "abandon":
		caseAbandon(*container)
	case "portforward":
		casePortForward(*pod, *port, *conns)
	default:
		fmt.Fprintln(os.Stderr, "unknown case", *only)
		os.Exit(2)
	}
}
