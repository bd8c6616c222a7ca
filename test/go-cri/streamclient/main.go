// streamclient drives a CRI streaming server with client-go, as kubectl and crictl do:
// remotecommand's SPDY executor (v4 and older), its WebSocket executor, and the SPDY
// port-forwarder. URLs come from a dispenser (the test's HTTP endpoint that calls the
// server's getExec/getPortForward, as the CRI Exec/PortForward RPCs will). Each case prints one
// JSON line with what it observed; the test asserts on them.
package main

import (
	"berth.test/go-cri/internal/streamio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
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
	"k8s.io/client-go/transport/spdy"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

var dispenser string

// With -cri, URLs come from a CRI runtime's Exec/Attach/PortForward RPCs (containerd's or
// berthd's) for criContainer/criPod instead of the dispenser.
var (
	criEndpoint  string
	criContainer string
	criPod       string
)

func criURL(kind string, q url.Values) string {
	conn, err := grpc.NewClient(criEndpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	switch kind {
	case "exec":
		var cmd []string
		if err := json.Unmarshal([]byte(q.Get("cmd")), &cmd); err != nil {
			panic(err)
		}
		r, err := rt.Exec(ctx, &runtimeapi.ExecRequest{ContainerId: criContainer, Cmd: cmd, Tty: q.Get("tty") == "1", Stdin: q.Get("stdin") == "1", Stdout: q.Get("stdout") == "1", Stderr: q.Get("stderr") == "1"})
		if err != nil {
			panic(err)
		}
		return r.Url
	case "portforward":
		r, err := rt.PortForward(ctx, &runtimeapi.PortForwardRequest{PodSandboxId: criPod})
		if err != nil {
			panic(err)
		}
		return r.Url
	}
	panic("no CRI request for " + kind)
}

// get asks the dispenser for a URL: kind exec|portforward, with query parameters.
func get(kind string, q url.Values) string {
	if criEndpoint != "" {
		return criURL(kind, q)
	}
	resp, err := http.Get(dispenser + "/" + kind + "?" + q.Encode())
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		panic(fmt.Sprintf("dispenser: %d %s", resp.StatusCode, b))
	}
	return strings.TrimSpace(string(b))
}

func execURL(cmd []string, tty, stdin, stdout, stderr bool) string {
	c, _ := json.Marshal(cmd)
	b := func(x bool) string {
		if x {
			return "1"
		}
		return "0"
	}
	return get("exec", url.Values{"cmd": {string(c)}, "tty": {b(tty)}, "stdin": {b(stdin)}, "stdout": {b(stdout)}, "stderr": {b(stderr)}})
}

func spdyExec(rawURL string, protocols ...string) remotecommand.Executor {
	u, err := url.Parse(rawURL)
	if err != nil {
		panic(err)
	}
	if len(protocols) == 0 {
		ex, err := remotecommand.NewSPDYExecutor(&rest.Config{}, "POST", u)
		if err != nil {
			panic(err)
		}
		return ex
	}
	tr, up, err := spdy.RoundTripperFor(&rest.Config{})
	if err != nil {
		panic(err)
	}
	ex, err := remotecommand.NewSPDYExecutorForProtocols(tr, up, "POST", u, protocols...)
	if err != nil {
		panic(err)
	}
	return ex
}

type runResult struct {
	stdout, stderr string
	err            error
	elapsed        time.Duration
}

func run(ex remotecommand.Executor, stdin io.Reader, tty bool, sizes remotecommand.TerminalSizeQueue, withStderr bool) runResult {
	var out, errb bytes.Buffer
	opts := remotecommand.StreamOptions{Stdin: stdin, Stdout: &out, Tty: tty, TerminalSizeQueue: sizes}
	if withStderr {
		opts.Stderr = &errb
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	start := time.Now()
	err := ex.StreamWithContext(ctx, opts)
	return runResult{out.String(), errb.String(), err, time.Since(start)}
}

func caseBasic() {
	r := run(spdyExec(execURL([]string{"sh", "-c", "cat; echo to-stderr >&2"}, false, true, true, true)), strings.NewReader("hello from stdin\n"), false, nil, true)
	streamio.Emit(map[string]any{"case": "basic", "stdout": r.stdout, "stderr": r.stderr, "code": streamio.ExitCode(r.err), "err": streamio.ErrText(r.err)})
}

func caseAttach() {
	r := run(spdyExec(get("attach", url.Values{"container": {"a1"}})), strings.NewReader("attach-in\n"), false, nil, true)
	streamio.Emit(map[string]any{"case": "attach", "stdout": r.stdout, "stderr": r.stderr, "code": streamio.ExitCode(r.err), "err": streamio.ErrText(r.err)})
	r = run(spdyExec(get("attach", url.Values{"container": {"nope"}})), strings.NewReader(""), false, nil, true)
	streamio.Emit(map[string]any{"case": "attach unknown", "code": streamio.ExitCode(r.err), "err": streamio.ErrText(r.err)})
}

func caseExitCodes() {
	for _, c := range []struct{ name, script string }{{"exit3", "exit 3"}, {"signal", "kill -9 $$"}, {"exit0", "true"}} {
		r := run(spdyExec(execURL([]string{"sh", "-c", c.script}, false, false, true, true)), nil, false, nil, true)
		streamio.Emit(map[string]any{"case": c.name, "code": streamio.ExitCode(r.err), "err": streamio.ErrText(r.err)})
	}
}

func caseOlderProtocols() {
	for _, p := range []string{"v3.channel.k8s.io", "v2.channel.k8s.io"} {
		r := run(spdyExec(execURL([]string{"sh", "-c", "echo out-" + p + "; exit 4"}, false, false, true, true), p), nil, false, nil, true)
		streamio.Emit(map[string]any{"case": "protocol " + p, "stdout": r.stdout, "code": streamio.ExitCode(r.err), "err": streamio.ErrText(r.err)})
	}
}

func caseWebSocket() {
	for _, p := range []string{"v4.channel.k8s.io", "channel.k8s.io"} {
		ex, err := remotecommand.NewWebSocketExecutorForProtocols(&rest.Config{}, "GET", execURL([]string{"sh", "-c", "echo ws-out; echo ws-err >&2; exit 5"}, false, false, true, true), p)
		if err != nil {
			panic(err)
		}
		r := run(ex, nil, false, nil, true)
		streamio.Emit(map[string]any{"case": "websocket " + p, "stdout": r.stdout, "stderr": r.stderr, "code": streamio.ExitCode(r.err), "err": streamio.ErrText(r.err)})
	}
}

// sizeQueue hands out the first size at once and the second when the output shows the first.
type sizeQueue struct {
	ch chan *remotecommand.TerminalSize
}

func (q *sizeQueue) Next() *remotecommand.TerminalSize { return <-q.ch }

type watchWriter struct {
	mu    sync.Mutex
	buf   bytes.Buffer
	want  string
	fired bool
	fire  func()
}

func (w *watchWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf.Write(p)
	if !w.fired && strings.Contains(w.buf.String(), w.want) {
		w.fired = true
		go w.fire()
	}
	return len(p), nil
}

func caseTTY() {
	// Prints the terminal size whenever it changes; ends when it is 40x100.
	script := `last=; i=0; while [ $i -lt 300 ]; do s=$(stty size); if [ "$s" != "$last" ]; then echo "size $s"; last=$s; fi; if [ "$s" = "40 100" ]; then exit 0; fi; sleep 0.05; i=$((i+1)); done; exit 1`
	q := &sizeQueue{ch: make(chan *remotecommand.TerminalSize, 2)}
	q.ch <- &remotecommand.TerminalSize{Width: 80, Height: 24}
	w := &watchWriter{want: "size 24 80", fire: func() { q.ch <- &remotecommand.TerminalSize{Width: 100, Height: 40} }}
	ex := spdyExec(execURL([]string{"sh", "-c", script}, true, false, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: w, Tty: true, TerminalSizeQueue: q})
	w.mu.Lock()
	out := w.buf.String()
	w.mu.Unlock()
	streamio.Emit(map[string]any{"case": "tty", "stdout": out, "code": streamio.ExitCode(err), "err": streamio.ErrText(err)})
}

func caseLarge(size int64) {
	h := sha256.New()
	src := io.TeeReader(streamio.NewPrng(42, size), h)
	out := sha256.New()
	var n streamio.CountWriter
	ex := spdyExec(execURL([]string{"sh", "-c", "cat"}, false, true, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: src, Stdout: io.MultiWriter(out, &n)})
	el := time.Since(start)
	streamio.Emit(map[string]any{"case": "large", "sent": size, "received": n.N, "sentSha": hex.EncodeToString(h.Sum(nil)), "receivedSha": hex.EncodeToString(out.Sum(nil)),
		"code": streamio.ExitCode(err), "err": streamio.ErrText(err), "seconds": el.Seconds()})
}

// caseLargeTTY: the same through a terminal in raw mode (`stty raw -echo` in the command):
// the bytes sent after the command says it is ready come back unchanged.
func caseLargeTTY(size int64) {
	h := sha256.New()
	ready := make(chan struct{})
	src := &streamio.GatedReader{Ready: ready, R: io.TeeReader(streamio.NewPrng(43, size), h)}
	out := sha256.New()
	var n streamio.CountWriter
	sink := &streamio.AfterMarker{Marker: []byte("raw-ready\n"), Ready: ready, Next: io.MultiWriter(out, &n)}
	script := fmt.Sprintf("stty raw -echo; echo raw-ready; exec head -c %d", size)
	ex := spdyExec(execURL([]string{"sh", "-c", script}, true, true, true, false))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	start := time.Now()
	err := ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: src, Stdout: sink, Tty: true})
	streamio.Emit(map[string]any{"case": "large tty", "sent": size, "received": n.N, "sentSha": hex.EncodeToString(h.Sum(nil)), "receivedSha": hex.EncodeToString(out.Sum(nil)),
		"code": streamio.ExitCode(err), "err": streamio.ErrText(err), "seconds": time.Since(start).Seconds()})
}

func caseTokens() {
	u := execURL([]string{"true"}, false, false, true, false)
	r1 := run(spdyExec(u), nil, false, nil, false)
	r2 := run(spdyExec(u), nil, false, nil, false)
	streamio.Emit(map[string]any{"case": "token reuse", "first": streamio.ErrText(r1.err), "second": streamio.ErrText(r2.err)})
	r3 := run(spdyExec(u[:strings.LastIndex(u, "/")+1]+"AAAAAAAA"), nil, false, nil, false)
	streamio.Emit(map[string]any{"case": "token unknown", "err": streamio.ErrText(r3.err)})
}

func caseTokenExpiry(wait time.Duration) {
	u := execURL([]string{"true"}, false, false, true, false)
	time.Sleep(wait)
	r := run(spdyExec(u), nil, false, nil, false)
	streamio.Emit(map[string]any{"case": "token expired", "err": streamio.ErrText(r.err)})
}

// blockingWriter never returns: a client that stops reading its stdout.
type blockingWriter struct{ stop chan struct{} }

func (b *blockingWriter) Write(p []byte) (int, error) { <-b.stop; return 0, io.ErrClosedPipe }

func caseStalledReader() {
	stop := make(chan struct{})
	ex := spdyExec(execURL([]string{"sh", "-c", "exec yes stalled-reader-line"}, false, false, true, false))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		ex.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &blockingWriter{stop: stop}}) //nolint:errcheck
		close(done)
	}()
	time.Sleep(1500 * time.Millisecond) // the stalled session fills its buffers
	var worst time.Duration
	okRuns := 0
	for i := 0; i < 10; i++ {
		r := run(spdyExec(execURL([]string{"sh", "-c", fmt.Sprintf("echo other-%d", i)}, false, false, true, false)), nil, false, nil, false)
		if r.err == nil && r.stdout == fmt.Sprintf("other-%d\n", i) {
			okRuns++
		}
		if r.elapsed > worst {
			worst = r.elapsed
		}
	}
	streamio.Emit(map[string]any{"case": "stalled reader", "otherRuns": okRuns, "worstSeconds": worst.Seconds()})
	close(stop)
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
}

func casePortForward(remotePort string, conns int, large int64) {
	u, _ := url.Parse(get("portforward", url.Values{}))
	fw, ok, err := streamio.StartPortForward(u, remotePort)
	if err != nil {
		panic(err)
	}
	if !ok {
		return
	}
	local := fmt.Sprintf("127.0.0.1:%d", fw.Local)

	var wg sync.WaitGroup
	results := make([]string, conns)
	for i := 0; i < conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.DialTimeout("tcp", local, 5*time.Second)
			if err != nil {
				results[i] = "dial: " + err.Error()
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(20 * time.Second)) //nolint:errcheck
			msg := fmt.Sprintf("connection %d says hello\n", i)
			if _, err := c.Write([]byte(msg)); err != nil {
				results[i] = "write: " + err.Error()
				return
			}
			c.(*net.TCPConn).CloseWrite() //nolint:errcheck
			b, err := io.ReadAll(c)
			if err != nil {
				results[i] = "read: " + err.Error()
				return
			}
			results[i] = string(b)
		}(i)
	}
	wg.Wait()
	streamio.Emit(map[string]any{"case": "portforward concurrent", "replies": results})

	// One large transfer through the echo server, both ways at once.
	c, err := net.Dial("tcp", local)
	if err != nil {
		streamio.Emit(map[string]any{"case": "portforward large", "err": err.Error()})
		return
	}
	c.SetDeadline(time.Now().Add(60 * time.Second)) //nolint:errcheck
	sent := sha256.New()
	got := sha256.New()
	var n streamio.CountWriter
	start := time.Now()
	go func() {
		io.Copy(c, io.TeeReader(streamio.NewPrng(7, large), sent)) //nolint:errcheck
		c.(*net.TCPConn).CloseWrite()                              //nolint:errcheck
	}()
	_, err = io.Copy(io.MultiWriter(got, &n), c)
	c.Close()
	streamio.Emit(map[string]any{"case": "portforward large", "sent": large, "received": n.N, "sentSha": hex.EncodeToString(sent.Sum(nil)),
		"receivedSha": hex.EncodeToString(got.Sum(nil)), "err": streamio.ErrText(err), "seconds": time.Since(start).Seconds()})
	fw.Close()
}

func main() {
	flag.StringVar(&dispenser, "dispenser", "", "base URL of the test's URL dispenser")
	only := flag.String("case", "all", "which case group to run")
	largeMB := flag.Int64("large-mb", 100, "MiB each way for the large exec")
	pfPort := flag.String("pf-port", "", "port of the echo server in the pod netns")
	pfConns := flag.Int("pf-conns", 8, "concurrent port-forward connections")
	pfLargeMB := flag.Int64("pf-large-mb", 32, "MiB each way through port-forward")
	expiryWait := flag.Duration("expiry-wait", 0, "wait before using a token (expiry case)")
	flag.StringVar(&criEndpoint, "cri", "", "CRI endpoint (unix:///path) to get URLs from instead of the dispenser")
	flag.StringVar(&criContainer, "container", "", "container for -cri exec")
	flag.StringVar(&criPod, "pod", "", "pod sandbox for -cri port-forward")
	flag.Parse()
	switch *only {
	case "exec":
		caseBasic()
		if criEndpoint == "" {
			caseAttach()
		}
		caseExitCodes()
		caseOlderProtocols()
		caseWebSocket()
		caseTTY()
		caseTokens()
	case "large":
		caseLarge(*largeMB << 20)
	case "large-tty":
		caseLargeTTY(*largeMB << 20)
	case "expiry":
		caseTokenExpiry(*expiryWait)
	case "stalled":
		caseStalledReader()
	case "portforward":
		casePortForward(*pfPort, *pfConns, *pfLargeMB<<20)
	default:
		fmt.Fprintln(os.Stderr, "unknown case", *only)
		os.Exit(2)
	}
}
