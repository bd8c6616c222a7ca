// Package streamio holds what the client-go streaming test programs (cristream,
// streamclient) share: JSON-lines output, the exit code of a remote command, and the byte
// sources and sinks of their large transfers.
package streamio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"

	utilexec "k8s.io/client-go/util/exec"
)

// Emit prints one result as a JSON line.
func Emit(v map[string]any) {
	b, _ := json.Marshal(v)
	fmt.Println(string(b))
}

// ExitCode is 0 for nil, the code of a CodeExitError, -1 for any other error.
func ExitCode(err error) int {
	if err == nil {
		return 0
	}
	var ce utilexec.CodeExitError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// ErrText is the error's text, "" for nil.
func ErrText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// Prng is a deterministic source of a fixed number of bytes.
type Prng struct {
	r    *rand.Rand
	left int64
}

// NewPrng gives n bytes from a generator seeded with seed.
func NewPrng(seed, n int64) *Prng { return &Prng{r: rand.New(rand.NewSource(seed)), left: n} }

func (p *Prng) Read(b []byte) (int, error) {
	if p.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	p.r.Read(b)
	p.left -= int64(len(b))
	return len(b), nil
}

// CountWriter counts what is written to it.
type CountWriter struct{ N int64 }

func (c *CountWriter) Write(p []byte) (int, error) { c.N += int64(len(p)); return len(p), nil }

// AfterMarker passes on to Next what follows the first occurrence of Marker, and closes
// Ready then.
type AfterMarker struct {
	Marker []byte
	Ready  chan struct{}
	Next   io.Writer
	seen   []byte
	found  bool
}

func (a *AfterMarker) Write(p []byte) (int, error) {
	if a.found {
		return a.Next.Write(p)
	}
	a.seen = append(a.seen, p...)
	i := bytes.Index(a.seen, a.Marker)
	if i < 0 {
		return len(p), nil
	}
	a.found = true
	close(a.Ready)
	if _, err := a.Next.Write(a.seen[i+len(a.Marker):]); err != nil {
		return 0, err
	}
	return len(p), nil
}

// GatedReader blocks until Ready is closed, then reads from R.
type GatedReader struct {
	Ready <-chan struct{}
	R     io.Reader
}

func (g *GatedReader) Read(p []byte) (int, error) { <-g.Ready; return g.R.Read(p) }
