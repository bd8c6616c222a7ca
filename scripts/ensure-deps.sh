#!/usr/bin/env bash
# ensure-deps.sh — install what berth needs to build, run and be tested, when it is missing.
#
# Idempotent and quiet when there is nothing to do. Fails loudly (exit 1) with a clear
# message otherwise.
#
#   bash scripts/ensure-deps.sh              # everything the test suite needs
#   bash scripts/ensure-deps.sh --runtime    # only what berthd needs to build and run
#                                            # (skips busybox-static, Go and the Go modules,
#                                            #  the registry and skopeo, the CRI test tools)
#   bash scripts/ensure-deps.sh --no-build   # skip `npm run build`
#   bash scripts/ensure-deps.sh -v           # say what was checked even when nothing to do
#
# Environment: BERTH_SKIP_BUILD=1 is the same as --no-build. BERTH_CRI_CACHE: where the CRI
# test tools are cached (default /var/cache/berth-test/cri; test/harness/cri-tools.ts reads it too).
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO_ROOT"

mode=test
build=1
verbose=0
[[ "${BERTH_SKIP_BUILD:-}" == 1 ]] && build=0
for arg in "$@"; do
  case "$arg" in
    --runtime) mode=runtime ;;
    --no-build) build=0 ;;
    -v|--verbose) verbose=1 ;;
    -h|--help) sed -n '2,15p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "ensure-deps: unknown argument: $arg" >&2; exit 2 ;;
  esac
done

say() { echo "ensure-deps: $*" >&2; }
die() { echo "ensure-deps: ERROR: $*" >&2; exit 1; }
info() { if [[ $verbose == 1 ]]; then say "$@"; fi; }

# ---------------------------------------------------------------- Node.js >= 20
if ! command -v node >/dev/null 2>&1; then
  die "Node.js >= 20 is required but 'node' was not found in PATH. Install Node.js 20 or newer (and npm) first."
fi
node_version="$(node -p 'process.versions.node' 2>/dev/null || true)"
node_major="${node_version%%.*}"
if ! [[ "$node_major" =~ ^[0-9]+$ ]] || (( node_major < 20 )); then
  die "Node.js >= 20 is required, found '${node_version:-unknown}' at $(command -v node). Install Node.js 20 or newer."
fi
command -v npm >/dev/null 2>&1 || die "npm was not found in PATH (it ships with Node.js $node_version); install npm."
info "node $node_version ok"

# ---------------------------------------------------------------- Debian packages
# Each package is checked by something it provides: "package|check" where check is
# either an absolute path that must exist or a command name that must be in PATH.
runtime_pkgs=(
  "runc|runc"
  "containerd|/usr/bin/containerd"            # also containerd-shim-runc-v2, used as runtime io.containerd.runc.v2
  "containerd|/usr/bin/ctr"
  "containerd|containerd-shim-runc-v2"
  "iproute2|ip"
  "util-linux|unshare"
  "util-linux|nsenter"
  "mount|umount"
  "protobuf-compiler|protoc"
  # CRI pod networks (src/cni): Debian installs the plugins in /usr/lib/cni; iptables for
  # portmap (host ports) and bridge's ipMasq.
  "containernetworking-plugins|/usr/lib/cni/bridge"
  "containernetworking-plugins|/usr/lib/cni/host-local"
  "containernetworking-plugins|/usr/lib/cni/loopback"
  "containernetworking-plugins|/usr/lib/cni/portmap"
  "iptables|iptables"
  # CRI port-forward (src/cri/sandbox_portforward.ts): the relay run inside a pod's netns.
  "socat|socat"
)
test_pkgs=(
  "busybox-static|busybox-static"              # special: a statically linked /bin/busybox
  "docker-registry|/usr/bin/docker-registry"   # test/harness/registry.ts: private registry on loopback
  "skopeo|/usr/bin/skopeo"                     # test/harness/registry.ts: pushes archives into it
  "openssl|/usr/bin/openssl"                   # test/e2e/remotes-pull.test.ts: a self-signed certificate for a TLS registry front
  # test/unit/proto-contract.test.ts: grpc's health.proto (containerd's own protos come from Go's module cache)
  "golang-google-grpc-dev|/usr/share/gocode/src/google.golang.org/grpc/debian/missing-sources/grpc/grpc-proto/master/grpc/health/v1/health.proto"
  "docker.io|/usr/sbin/dockerd"                # test/e2e/dockerd.test.ts: dockerd 20.10 (and its /usr/bin/docker) on berthd
  # CRI tests (test/harness/cri-*.ts, test/e2e/critest.test.ts):
  "gcc|gcc"                                    # static pause, web server and nonewprivs programs for the test images
  "libc6-dev|/usr/include/stdio.h"             #   (with libc.a for -static)
  "util-linux|ipcmk"                           # critest makes a SysV segment on the "host" for its HostIpc spec
  "prometheus|/usr/bin/prometheus"             # test/e2e/metrics.test.ts: a real Prometheus scrapes berthd's [metrics] endpoint
  "prometheus|/usr/bin/promtool"               # promtool check metrics on berthd's output
  "tmux|/usr/bin/tmux"                         # test/e2e/cli-tty.test.ts: berth in a real terminal, read with capture-pane
)
# The native addon (native/) is built by node-gyp during `npm ci` once it has a binding.gyp.
if [[ -f native/binding.gyp || -f binding.gyp ]]; then
  runtime_pkgs+=("g++|g++" "make|make" "python3|python3")
fi

pkgs=("${runtime_pkgs[@]}")
[[ $mode == test ]] && pkgs+=("${test_pkgs[@]}")

PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

provided() {
  local check="$1"
  case "$check" in
    busybox-static)
      local bb
      bb="$(command -v busybox 2>/dev/null || true)"
      [[ -n "$bb" ]] || return 1
      # ldd exits non-zero ("not a dynamic executable") for a static binary.
      ! ldd "$bb" >/dev/null 2>&1
      ;;
    /*) [[ -e "$check" ]] ;;
    *) command -v "$check" >/dev/null 2>&1 ;;
  esac
}

missing=()
for entry in "${pkgs[@]}"; do
  pkg="${entry%%|*}"
  check="${entry#*|}"
  if ! provided "$check"; then
    [[ " ${missing[*]:-} " == *" $pkg "* ]] || missing+=("$pkg")
  fi
done

if (( ${#missing[@]} > 0 )); then
  say "installing missing Debian packages: ${missing[*]}"
  if [[ $(id -u) != 0 ]]; then
    die "missing packages (${missing[*]}) and not running as root; run: sudo apt-get install -y ${missing[*]}"
  fi
  command -v apt-get >/dev/null 2>&1 || die "missing packages (${missing[*]}) and apt-get is not available (Debian/Ubuntu required)"
  export DEBIAN_FRONTEND=noninteractive
  apt_log="$(mktemp -t berth-apt.XXXXXX.log)"
  apt_opts=(-o DPkg::Lock::Timeout=300 -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
  if ! apt-get "${apt_opts[@]}" update >"$apt_log" 2>&1; then
    cat "$apt_log" >&2
    die "apt-get update failed (log above)"
  fi
  if ! apt-get "${apt_opts[@]}" install -y --no-install-recommends "${missing[@]}" >>"$apt_log" 2>&1; then
    tail -n 60 "$apt_log" >&2
    die "apt-get install ${missing[*]} failed (log above, full log in $apt_log)"
  fi
  rm -f "$apt_log"
  # Re-check: a package that installed but does not provide what we check for is an error.
  for entry in "${pkgs[@]}"; do
    provided "${entry#*|}" || die "package ${entry%%|*} is installed but '${entry#*|}' is still missing"
  done
  say "installed: ${missing[*]}"
else
  info "Debian packages ok"
fi

# ---------------------------------------------------------------- Go and test/go's modules
# The Go programs under test/go are one module pinned to the containerd 1.6.20 Go client
# (test/go/go.mod, go.sum). Any Go >= 1.19 builds it: the machine's /usr/local/go, `go` on
# PATH, or else Debian's golang-go, installed here and called by path (/usr/lib/go-1.19).
# The modules are downloaded now, so no test pays for the download inside its timeout.
go_ok() {
  local v
  v="$(GOTOOLCHAIN=local "$1" env GOVERSION 2>/dev/null)" || return 1
  v="${v#go}"
  local major="${v%%.*}" rest="${v#*.}"
  local minor="${rest%%.*}"
  [[ "$major" =~ ^[0-9]+$ && "$minor" =~ ^[0-9]+$ ]] || return 1
  (( major > 1 || (major == 1 && minor >= 19) ))
}
find_go() {
  local c
  for c in /usr/local/go/bin/go "$(command -v go 2>/dev/null || true)" /usr/lib/go-1.19/bin/go; do
    [[ -n "$c" && -x "$c" ]] && go_ok "$c" && { echo "$c"; return 0; }
  done
  return 1
}
if [[ $mode == test ]]; then
  if ! go_bin="$(find_go)"; then
    say "no Go >= 1.19 found; installing Debian's golang-go"
    [[ $(id -u) == 0 ]] || die "Go >= 1.19 is missing and not running as root; run: sudo apt-get install -y golang-go"
    { DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 update \
        && DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends golang-go; } >/dev/null 2>&1 \
      || die "apt-get install golang-go failed"
    go_bin="$(find_go)" || die "golang-go is installed but no Go >= 1.19 was found"
  fi
  info "go: $go_bin ($(GOTOOLCHAIN=local "$go_bin" env GOVERSION))"
  go_log="$(mktemp -t berth-go.XXXXXX.log)"
  if ! (cd test/go && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go_bin" mod download) >"$go_log" 2>&1; then
    tail -n 40 "$go_log" >&2
    die "downloading test/go's Go modules failed (log above, full log in $go_log)"
  fi
  # test/go-transfer: containerd 2's Go client (v2.4.2, which needs Go >= 1.26.6), the
  # Transfer service's real peer.
  if ! (cd test/go-transfer && GOTOOLCHAIN=local GOFLAGS=-mod=readonly "$go_bin" mod download) >"$go_log" 2>&1; then
    tail -n 40 "$go_log" >&2
    die "downloading test/go-transfer's Go modules failed (log above, full log in $go_log; containerd 2's client needs Go >= 1.26.6)"
  fi
  rm -f "$go_log"

  # ---------------------------------------------------------------- CRI test tools
  # crictl, critest (`go test -c`) and the ginkgo CLI that critest runs itself under for
  # -parallel, built from the module test/go-cri pins (sigs.k8s.io/cri-tools) into
  # $BERTH_CRI_CACHE/cri-tools/<key>/, where key = sha256(go.mod, go.sum, go version): a
  # machine builds them once (about 3 minutes on 2 cores) and again only when the pins or
  # the toolchain change. test/harness/cri-tools.ts computes the same key.
  cri_cache="${BERTH_CRI_CACHE:-/var/cache/berth-test/cri}"
  cri_key="$({ cat test/go-cri/go.mod test/go-cri/go.sum; GOTOOLCHAIN=local "$go_bin" env GOVERSION; } | sha256sum | cut -c1-32)"
  cri_bin="$cri_cache/cri-tools/$cri_key"
  if [[ ! -x "$cri_bin/crictl" || ! -x "$cri_bin/critest" || ! -x "$cri_bin/ginkgo" ]]; then
    say "building crictl, critest and ginkgo ($(grep -m1 -o 'sigs.k8s.io/cri-tools v[^ ]*' test/go-cri/go.mod)) into $cri_bin"
    mkdir -p "$cri_cache/cri-tools"
    cri_work="$(mktemp -d "$cri_cache/cri-tools/work.XXXXXX")"
    cri_log="$(mktemp -t berth-cri-tools.XXXXXX.log)"
    if ! (cd test/go-cri \
          && export GOTOOLCHAIN=local GOFLAGS="-mod=readonly -buildvcs=false" CGO_ENABLED=0 GOCACHE="$cri_cache/gocache" \
          && "$go_bin" build -o "$cri_work/crictl" sigs.k8s.io/cri-tools/cmd/crictl \
          && "$go_bin" build -o "$cri_work/ginkgo" github.com/onsi/ginkgo/v2/ginkgo \
          && "$go_bin" test -c -o "$cri_work/critest" sigs.k8s.io/cri-tools/cmd/critest) >"$cri_log" 2>&1; then
      tail -n 40 "$cri_log" >&2
      rm -rf "$cri_work"
      die "building the CRI test tools failed (log above, full log in $cri_log)"
    fi
    rm -f "$cri_log"
    rm -rf "$cri_bin"
    mv "$cri_work" "$cri_bin"   # one rename: the harness sees all three binaries or none
    # Older keys' binaries are no use any more.
    find "$cri_cache/cri-tools" -mindepth 1 -maxdepth 1 -type d -regextype posix-extended \
      -regex '.*/[0-9a-f]{32}' ! -name "$cri_key" -exec rm -rf {} +
  else
    info "CRI test tools ok ($cri_bin)"
  fi

  # Debian's dynamic busybox for the CRI test images (applets as hard links, like a real
  # image; busybox-static's shell runs applets in-process, which defeats critest's masked
  # path checks). It conflicts with busybox-static, so it is downloaded and extracted, not
  # installed: $BERTH_CRI_CACHE/busybox/bin/busybox.
  if [[ ! -x "$cri_cache/busybox/bin/busybox" ]]; then
    say "fetching Debian's dynamic busybox into $cri_cache/busybox"
    bb_dl="$(mktemp -d "${TMPDIR:-/tmp}/berth-busybox.XXXXXX")"
    chmod 755 "$bb_dl"   # apt's download sandbox user must be able to write there
    if ! (cd "$bb_dl" && apt-get download busybox >/dev/null 2>&1); then
      apt-get -o DPkg::Lock::Timeout=300 update >/dev/null 2>&1 || true
      (cd "$bb_dl" && apt-get download busybox >/dev/null 2>&1) || { rm -rf "$bb_dl"; die "apt-get download busybox failed"; }
    fi
    rm -rf "$cri_cache/busybox.new"
    mkdir -p "$cri_cache/busybox.new"
    dpkg-deb -x "$bb_dl"/busybox_*.deb "$cri_cache/busybox.new" || { rm -rf "$bb_dl"; die "dpkg-deb -x of busybox failed"; }
    rm -rf "$bb_dl"
    [[ -x "$cri_cache/busybox.new/bin/busybox" ]] || die "Debian's busybox package has no bin/busybox"
    rm -rf "$cri_cache/busybox"
    mv "$cri_cache/busybox.new" "$cri_cache/busybox"
  else
    info "dynamic busybox ok"
  fi
fi

# ---------------------------------------------------------------- npm ci
[[ -f package-lock.json ]] || die "package-lock.json not found in $REPO_ROOT"
stamp=node_modules/.package-lock.json
[[ -e $stamp ]] || stamp=node_modules
if [[ ! -d node_modules || package-lock.json -nt "$stamp" ]]; then
  say "running npm ci"
  npm_log="$(mktemp -t berth-npm.XXXXXX.log)"
  if ! npm ci --no-audit --no-fund >"$npm_log" 2>&1; then
    tail -n 80 "$npm_log" >&2
    die "npm ci failed (log above, full log in $npm_log)"
  fi
  rm -f "$npm_log"
else
  info "node_modules up to date"
fi

# ---------------------------------------------------------------- npm run build
# Rebuilds when dist/ is missing, any input file is newer than the last successful build,
# or the git revision changed (the build records it in dist/build-info.json).
if [[ $build == 1 ]]; then
  build_stamp=dist/.berth-build-stamp
  revision="$(git rev-parse HEAD 2>/dev/null || true)"
  need_build=0
  if [[ ! -e $build_stamp || "$(cat "$build_stamp" 2>/dev/null)" != "$revision" ]]; then
    need_build=1
  else
    inputs=(package.json package-lock.json tsconfig.json)
    for d in src proto scripts native; do [[ -e $d ]] && inputs+=("$d"); done
    if [[ -n "$(find "${inputs[@]}" -type f -newer "$build_stamp" \
                 -not -path 'native/build/*' -not -path 'src/generated/*' -print -quit 2>/dev/null)" ]]; then
      need_build=1
    fi
  fi
  if [[ $need_build == 1 ]]; then
    say "running npm run build"
    build_log="$(mktemp -t berth-build.XXXXXX.log)"
    build_start="$(mktemp -t berth-build-start.XXXXXX)"   # inputs edited during the build trigger the next one
    if ! npm run build >"$build_log" 2>&1; then
      tail -n 80 "$build_log" >&2
      rm -f "$build_start"
      die "npm run build failed (log above, full log in $build_log)"
    fi
    rm -f "$build_log"
    mkdir -p dist
    printf '%s' "$revision" >"$build_stamp"
    touch -r "$build_start" "$build_stamp"
    rm -f "$build_start"
  else
    info "build up to date"
  fi
fi
