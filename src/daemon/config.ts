import { readFileSync } from 'node:fs';
import { parse } from 'smol-toml';
import { InvalidArgumentError } from '../errdefs/errors';
import { isLogLevel, type LogLevel } from '../log/logger';
import { DEFAULT_CRI_TOML, validateCriConfig, type CriConfig } from '../cri/config';
import { DEFAULT_METRICS_TOML, type MetricsConfig } from '../metrics/config';

/** berthd's configuration. Every field has an embedded default (DEFAULT_CONFIG_TOML). */
export interface BerthConfig {
  version: number;
  root: string;
  state: string;
  grpc: {
    address: string;
    /** "host:port" of an extra plaintext (h2c) TCP listener, as containerd's; "" = none. */
    tcp_address: string;
    uid: number;
    gid: number;
    max_recv_message_size: number;
    max_send_message_size: number;
  };
  ttrpc: { address: string };
  /** Prometheus endpoint (containerd's [metrics]). */
  metrics: MetricsConfig;
  log: { level: LogLevel };
  /** Runtime name → shim binary, from the [runtimes."<name>"] tables. */
  runtimes: Record<string, RuntimeConfig>;
  /** Kubernetes CRI (containerd's [plugins."io.containerd.grpc.v1.cri"]). */
  cri: CriConfig;
}

/** One [runtimes."<name>"] table. */
export interface RuntimeConfig {
  /** The shim binary: an absolute path, or a bare name looked up on PATH. */
  shim: string;
}

/** Keys a [runtimes."<name>"] table may hold, with their types. */
const RUNTIME_KEYS: Readonly<Record<keyof RuntimeConfig, 'string'>> = { shim: 'string' };

/** The defaults, as `berthd config default` prints them. Parsed to build the defaults so
 * the printed file and the behaviour cannot drift apart. */
export const DEFAULT_CONFIG_TOML = `# berthd configuration. Every key is optional; these are the defaults.
version = 1

# Persistent data: metadata (LevelDB), content, snapshots.
root = "/var/lib/berth"
# Runtime state: task bundles, shim sockets. Usually on tmpfs.
state = "/run/berth"

[grpc]
# The containerd-compatible gRPC API. Clients: ctr -a <address>, dockerd --containerd <address>.
address = "/run/berth/berthd.sock"
# An extra TCP listener ("host:port", "[v6]:port"), as containerd's [grpc] tcp_address:
# plaintext HTTP/2 without authentication, so only for loopback or a trusted network.
tcp_address = ""
# Owner of the socket; its mode is 0660.
uid = 0
gid = 0
# Same limits as containerd (16 MiB).
max_recv_message_size = 16777216
max_send_message_size = 16777216

[ttrpc]
# Where shims forward events. Empty means "<grpc.address>.ttrpc", as in containerd.
address = ""

${DEFAULT_METRICS_TOML}
[log]
# debug, info, warn or error
level = "info"

${DEFAULT_CRI_TOML}
# Which shim binary runs a task of a given runtime name (containers' runtime.name, or
# Tasks.Create runtime_path). Without an entry, a name resolves as in containerd:
# io.containerd.<name>.<version> → containerd-shim-<name>-<version> on PATH, then next to
# berthd; an absolute path is used as is. io.containerd.runc.v2 (the default of ctr and
# dockerd) and io.containerd.berth.v1 run berth's own shim, containerd-shim-berth-v1.
# To run containerd's runc shim instead:
#   [runtimes."io.containerd.runc.v2"]
#   shim = "/usr/bin/containerd-shim-runc-v2"
[runtimes]
`;

type Table = Record<string, unknown>;

function isTable(v: unknown): v is Table {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
}

/** Overlay `over` onto `base`, checking that every key exists in base with the same type. */
function merge(base: Table, over: Table, path: string): Table {
  const out: Table = { ...base };
  for (const [k, v] of Object.entries(over)) {
    const where = path ? `${path}.${k}` : k;
    if (!(k in base)) throw new InvalidArgumentError(`unknown configuration key "${where}"`);
    const b = base[k];
    if (isTable(b)) {
      if (!isTable(v)) throw new InvalidArgumentError(`configuration key "${where}" must be a table`);
      out[k] = merge(b, v, where);
    } else {
      if (typeof v !== typeof b) {
        throw new InvalidArgumentError(`configuration key "${where}" must be a ${typeof b}, got ${typeof v}`);
      }
      out[k] = v;
    }
  }
  return out;
}

/** The [runtimes] table: any runtime name, each a table with the fixed RUNTIME_KEYS. */
function parseRuntimes(v: unknown): Record<string, RuntimeConfig> {
  if (!isTable(v)) throw new InvalidArgumentError('configuration key "runtimes" must be a table');
  const out: Record<string, RuntimeConfig> = {};
  for (const [name, entry] of Object.entries(v)) {
    const where = `runtimes.${JSON.stringify(name)}`;
    if (name === '') throw new InvalidArgumentError('configuration key "runtimes" has an empty runtime name');
    if (!isTable(entry)) throw new InvalidArgumentError(`configuration key "${where}" must be a table`);
    for (const [k, val] of Object.entries(entry)) {
      const type = (RUNTIME_KEYS as Record<string, string>)[k];
      if (type === undefined) throw new InvalidArgumentError(`unknown configuration key "${where}.${k}"`);
      if (typeof val !== type) throw new InvalidArgumentError(`configuration key "${where}.${k}" must be a ${type}, got ${typeof val}`);
    }
    const shim = entry.shim;
    if (typeof shim !== 'string' || shim === '') throw new InvalidArgumentError(`configuration key "${where}.shim" must be set`);
    if (shim.includes('/') && !shim.startsWith('/')) {
      throw new InvalidArgumentError(`configuration key "${where}.shim" must be an absolute path or a name on PATH, got "${shim}"`);
    }
    out[name] = { shim };
  }
  return out;
}

function parseToml(text: string, source: string): Table {
  try {
    return parse(text) as Table;
  } catch (err) {
    throw new InvalidArgumentError(`cannot parse ${source}: ${(err as Error).message.split('\n')[0]}`);
  }
}

export function defaultConfig(): BerthConfig {
  return parseToml(DEFAULT_CONFIG_TOML, 'default configuration') as unknown as BerthConfig;
}

/** Load a config file over the defaults; a missing optional file means defaults. */
export function loadConfig(file: string | undefined, required: boolean): BerthConfig {
  const base = parseToml(DEFAULT_CONFIG_TOML, 'default configuration');
  if (!file) return base as unknown as BerthConfig;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return base as unknown as BerthConfig;
    throw new InvalidArgumentError(`cannot read config ${file}: ${(err as Error).message}`);
  }
  const { runtimes, ...fixed } = parseToml(text, file);
  const cfg = merge(base, fixed, '') as unknown as BerthConfig;
  cfg.runtimes = runtimes === undefined ? {} : parseRuntimes(runtimes);
  if (cfg.version !== 1) throw new InvalidArgumentError(`unsupported config version ${cfg.version} in ${file}`);
  if (cfg.metrics.address !== '') parseTcpAddress(cfg.metrics.address, 'metrics.address');
  if (cfg.grpc.tcp_address !== '') parseTcpAddress(cfg.grpc.tcp_address);
  if (!isLogLevel(cfg.log.level)) throw new InvalidArgumentError(`log.level must be debug, info, warn or error`);
  validateCriConfig(cfg.cri);
  return cfg;
}

export function ttrpcAddress(cfg: BerthConfig): string {
  return cfg.ttrpc.address || `${cfg.grpc.address}.ttrpc`;
}

/** "host:port" or "[v6]:port" (Go's net.SplitHostPort form, as containerd reads it) → parts. */
export function parseTcpAddress(addr: string, key = 'grpc.tcp_address'): { host: string; port: number } {
  const m = /^(?:\[([^\]]*)\]|([^:[\]]*)):(\d{1,5})$/.exec(addr);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new InvalidArgumentError(`${key} must be "host:port", got "${addr}"`);
  }
  return { host: m[1] ?? m[2] ?? '', port };
}
