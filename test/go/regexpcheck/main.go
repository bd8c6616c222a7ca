// regexpcheck: Go's regexp answers for a table of (pattern, input) cases, so that berth's
// `~=` matching (src/filters/regexp.ts) is checked against Go itself. The table comes in
// a file (its path the one argument: inputs can be long), a JSON array of [pattern,
// input] pairs; each answer is a JSON line:
// {"match": bool} or {"err": "<regexp.Compile's error text>"}.
// test/e2e/regexp-go.test.ts runs it.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
)

type answer struct {
	Match *bool  `json:"match,omitempty"`
	Err   string `json:"err,omitempty"`
}

func main() {
	var cases [][2]string
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: regexpcheck cases.json")
		os.Exit(2)
	}
	data, err := os.ReadFile(os.Args[1])
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := json.Unmarshal(data, &cases); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, c := range cases {
		re, err := regexp.Compile(c[0])
		if err != nil {
			_ = out.Encode(answer{Err: err.Error()})
			continue
		}
		m := re.MatchString(c[1])
		_ = out.Encode(answer{Match: &m})
	}
}
