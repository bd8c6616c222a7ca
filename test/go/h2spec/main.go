// h2spec: runs h2spec's server conformance suite (github.com/summerwind/h2spec, as its own
// `h2spec` command would: generic, http2 and hpack sections, non-strict by default) against
// one plaintext HTTP/2 (h2c) address and prints one JSON line per case, so a test can compare
// daemons case by case instead of scraping h2spec's coloured console output.
//
//	h2spec -host 127.0.0.1 -port 10010 [-path /] [-timeout 2s] [-strict] [section...]
//
// Output lines: {"id":"http2/6.5/1","desc":"…","result":"passed|failed|skipped","error":"…"}.
// h2spec's own progress output goes to stderr.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/summerwind/h2spec/config"
	"github.com/summerwind/h2spec/generic"
	"github.com/summerwind/h2spec/hpack"
	"github.com/summerwind/h2spec/http2"
	"github.com/summerwind/h2spec/spec"
)

type caseResult struct {
	ID     string `json:"id"`
	Desc   string `json:"desc"`
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
}

func walk(tg *spec.TestGroup, out *json.Encoder) {
	tests := append(append([]*spec.TestCase{}, tg.Tests...), tg.StrictTests...)
	for i, tc := range tests {
		if tc.Result == nil {
			continue // not selected (section filter or strict case)
		}
		r := caseResult{ID: fmt.Sprintf("%s/%d", tg.ID(), i+1), Desc: tc.Desc, Result: "passed"}
		switch {
		case tc.Result.Skipped:
			r.Result = "skipped"
		case tc.Result.Failed:
			r.Result = "failed"
			if tc.Result.Error != nil {
				r.Error = tc.Result.Error.Error()
			}
		}
		_ = out.Encode(r)
	}
	for _, g := range tg.Groups {
		walk(g, out)
	}
}

func main() {
	host := flag.String("host", "127.0.0.1", "target host")
	port := flag.Int("port", 0, "target port")
	path := flag.String("path", "/", "target path")
	timeout := flag.Duration("timeout", 2*time.Second, "per-case timeout")
	strict := flag.Bool("strict", false, "run strict cases too")
	flag.Parse()
	if *port == 0 {
		fmt.Fprintln(os.Stderr, "h2spec: -port is required")
		os.Exit(2)
	}
	c := &config.Config{
		Host:         *host,
		Port:         *port,
		Path:         *path,
		Timeout:      *timeout,
		MaxHeaderLen: 4000, // h2spec's command-line default
		Strict:       *strict,
		Sections:     flag.Args(),
	}
	// h2spec logs progress to stdout; keep stdout for the JSON lines.
	stdout := os.Stdout
	os.Stdout = os.Stderr
	groups := []*spec.TestGroup{generic.Spec(), http2.Spec(), hpack.Spec()}
	for _, g := range groups {
		g.Test(c)
	}
	out := json.NewEncoder(stdout)
	for _, g := range groups {
		walk(g, out)
	}
}
