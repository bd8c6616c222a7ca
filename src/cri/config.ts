import { isIP } from 'node:net';
import { InvalidArgumentError } from '../errdefs/errors';

// The [cri] section of berthd's TOML. Key names are containerd 1.6's, from its
// [plugins."io.containerd.grpc.v1.cri"] table (and its [cni], [containerd], [registry]
// sub-tables), so a reader who knows containerd's file knows this one. The defaults live in
// the daemon's DEFAULT_CONFIG_TOML (src/daemon/config.ts), which `berthd config default`
// prints; the generic merge there already refuses unknown keys and wrong types, naming the
// key. What is left for here is what a type cannot say: ranges, formats, absolute paths.

export interface CriConfig {
  /** Serve runtime.v1.RuntimeService and ImageService on berthd's socket. */
  enabled: boolean;
  /** The pause image every pod sandbox runs. */
  sandbox_image: string;
  /** Never lower a container's oom_score_adj below berthd's own (needs no CAP_SYS_RESOURCE). */
  restrict_oom_score_adj: boolean;
  /** Where the streaming server (exec/attach/port-forward URLs) listens. */
  stream_server_address: string;
  /** A string, as in containerd; "0" picks a free port. */
  stream_server_port: string;
  /** A Go duration: how long an idle streaming connection is kept. */
  stream_idle_timeout: string;
  /** CRI log lines longer than this are split (containerd's default 16 KiB); -1: never. */
  max_container_log_line_size: number;
  /** Layers fetched at once by one PullImage. */
  max_concurrent_downloads: number;
  cni: {
    /** Where the CNI plugin binaries are. */
    bin_dir: string;
    /** Where network configurations (.conf/.conflist) are read from. */
    conf_dir: string;
    /** How many network configurations in conf_dir are used (0: all, as containerd). */
    max_conf_num: number;
    /** A file holding a CNI config as a Go template; rendered into conf_dir when
     * UpdateRuntimeConfig brings a pod CIDR. "" for none. */
    conf_template: string;
  };
  containerd: {
    /** The snapshotter images are unpacked into and containers' rootfs come from. */
    snapshotter: string;
  };
  registry: {
    /** A directory of <host>/hosts.toml files (containerd's format); "" for none. */
    config_path: string;
  };
}

/** The [cri] part of `berthd config default`. */
export const DEFAULT_CRI_TOML = `[cri]
# Kubernetes CRI v1 (runtime.v1.RuntimeService and ImageService), served on [grpc] address
# as containerd serves it on its own socket. Key names are those of containerd 1.6's
# [plugins."io.containerd.grpc.v1.cri"]. CRI works in the namespace "k8s.io".
enabled = true
sandbox_image = "registry.k8s.io/pause:3.9"
# true: a container's oom_score_adj is never set below berthd's own. Needed where berthd
# lacks CAP_SYS_RESOURCE (some VMs, user namespaces), as in containerd.
restrict_oom_score_adj = false
# The streaming server for exec, attach and port-forward.
stream_server_address = "127.0.0.1"
# "0": any free port.
stream_server_port = "0"
stream_idle_timeout = "4h0m0s"
# CRI log lines longer than this (bytes) are split; -1: never split.
max_container_log_line_size = 16384
max_concurrent_downloads = 3

[cri.cni]
# Debian's containernetworking-plugins installs them here (containerd's default is /opt/cni/bin).
bin_dir = "/usr/lib/cni"
conf_dir = "/etc/cni/net.d"
# How many network configurations from conf_dir are used, in file name order (0: all).
max_conf_num = 1
# A file holding a CNI config template (Go text/template: {{.PodCIDR}}, {{.PodCIDRRanges}},
# {{.Routes}}), rendered into conf_dir when kubelet sends a pod CIDR (UpdateRuntimeConfig).
# "" for none.
conf_template = ""

[cri.containerd]
snapshotter = "overlayfs"

[cri.registry]
# <host>/hosts.toml files in containerd's format: mirrors, plain HTTP, CAs, per-host auth.
config_path = "/etc/berth/certs.d"
`;

/** Go's time.ParseDuration grammar: "4h0m0s", "1.5h", "300ms", "0". */
const GO_DURATION = /^[+-]?(?:0|(?:(?:\d+\.?\d*|\.\d+)(?:ns|us|µs|μs|ms|s|m|h))+)$/;

function fail(key: string, what: string): never {
  throw new InvalidArgumentError(`configuration key "cri.${key}" ${what}`);
}

function absoluteOrEmpty(key: string, v: string): void {
  if (v !== '' && !v.startsWith('/')) fail(key, `must be an absolute path, got "${v}"`);
}

function absolute(key: string, v: string): void {
  if (!v.startsWith('/')) fail(key, `must be an absolute path, got "${v}"`);
}

function integer(key: string, v: number, min: number, max: number): void {
  if (!Number.isInteger(v) || v < min || v > max) fail(key, `must be an integer from ${min} to ${max}, got ${v}`);
}

/**
 * An image reference as containerd's docker reference grammar reads it, in outline: a name of
 * lowercase path components (optionally a domain with a port first), then ":tag" and/or
 * "@sha256:<64 hex>". The full parser (normalising "busybox" to docker.io/library/busybox)
 * is src/remotes'; at start-up it is enough to refuse what could never be pulled.
 */
const REFERENCE =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*(?::\d+)?\/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$/;

/** Refuse values a type alone lets through; the error names the key. */
export function validateCriConfig(c: CriConfig): void {
  if (c.sandbox_image === '') fail('sandbox_image', 'must be set');
  if (!REFERENCE.test(c.sandbox_image)) fail('sandbox_image', `is not a valid image reference: "${c.sandbox_image}"`);
  if (c.stream_server_address !== '' && isIP(c.stream_server_address) === 0 && c.stream_server_address !== 'localhost') {
    fail('stream_server_address', `must be an IP address, got "${c.stream_server_address}"`);
  }
  if (!/^\d{1,5}$/.test(c.stream_server_port) || Number(c.stream_server_port) > 65535) {
    fail('stream_server_port', `must be a port number from "0" to "65535", got "${c.stream_server_port}"`);
  }
  if (!GO_DURATION.test(c.stream_idle_timeout)) {
    fail('stream_idle_timeout', `must be a duration such as "4h0m0s", got "${c.stream_idle_timeout}"`);
  }
  integer('max_container_log_line_size', c.max_container_log_line_size, -1, 2 ** 31 - 1);
  integer('max_concurrent_downloads', c.max_concurrent_downloads, 1, 1024);
  absolute('cni.bin_dir', c.cni.bin_dir);
  absolute('cni.conf_dir', c.cni.conf_dir);
  integer('cni.max_conf_num', c.cni.max_conf_num, 0, 2 ** 31 - 1);
  absoluteOrEmpty('cni.conf_template', c.cni.conf_template);
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(c.containerd.snapshotter)) {
    fail('containerd.snapshotter', `must be a snapshotter name, got "${c.containerd.snapshotter}"`);
  }
  absoluteOrEmpty('registry.config_path', c.registry.config_path);
}

/** Go's time.ParseDuration, for the durations validateCriConfig accepted: milliseconds. */
export function goDurationMs(s: string): number {
  if (s === '0' || s === '+0' || s === '-0') return 0;
  const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1e3, m: 60e3, h: 3600e3 };
  const sign = s.startsWith('-') ? -1 : 1;
  let total = 0;
  for (const m of s.replace(/^[+-]/, '').matchAll(/(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/g)) {
    total += Number(m[1]) * (unit[m[2] as string] as number);
  }
  return sign * total;
}
