// Package jsonl is what the test/go programs share for talking to the e2e tests: one JSON
// object per stdout line (the harness's runGoProgram parses them), a fatal-step helper
// that reports the failing step both as a line and on stderr, and a buffer that cio's
// copy goroutines can write while the program reads it.
package jsonl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/containerd/containerd/errdefs"
	"google.golang.org/grpc/status"
)

// Result is one line of output.
type Result map[string]interface{}

// Emit prints v as one JSON line on stdout.
func Emit(v Result) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
}

// Check ends the program as Fail does if err is set.
func Check(step string, err error) {
	if err != nil {
		Fail(step, err)
	}
}

// Fail ends the program with exit status 1, after emitting {"step", "error", "code"} and
// saying the same on stderr.
func Fail(step string, err error) {
	Emit(Result{"step": step, "error": err.Error(), "code": Code(err)})
	fmt.Fprintf(os.Stderr, "%s: %s: %v\n", filepath.Base(os.Args[0]), step, err)
	os.Exit(1)
}

// Code is the gRPC code name of err ("NotFound", "AlreadyExists", …), as the client's
// errdefs would classify it.
func Code(err error) string {
	if st, ok := status.FromError(err); ok && st.Code().String() != "Unknown" {
		return st.Code().String()
	}
	return status.Code(errdefs.ToGRPC(err)).String()
}

// SafeBuffer is a bytes.Buffer safe for one writer goroutine and readers elsewhere.
type SafeBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SafeBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SafeBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Bytes returns a copy of what was written so far.
func (b *SafeBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]byte(nil), b.buf.Bytes()...)
}
