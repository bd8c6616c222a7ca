//go:build tools

// Package tools pins the CRI test tools this module builds: cri-tools' crictl and
// critest (built by scripts/ensure-deps.sh with `go build` and `go test -c`), the ginkgo
// CLI critest runs itself under for -parallel > 1 (the version critest's go.mod pins), and
// the CRI v1 API for Go tests. The build tag keeps it out of every build; it only makes
// `go mod tidy` keep these modules and their test dependencies in go.mod and go.sum.
package tools

import (
	_ "github.com/onsi/ginkgo/v2/ginkgo"
	_ "k8s.io/cri-api/pkg/apis/runtime/v1"
	_ "sigs.k8s.io/cri-tools/cmd/crictl"
	_ "sigs.k8s.io/cri-tools/cmd/critest"
)
