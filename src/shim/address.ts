// Where the shared shim of one daemon listens. Loaded by the `start` fast path: node
// built-ins only.
//
// One serving process per daemon (per -address, the daemon's gRPC socket), shared by all
// its namespaces and tasks. Its socket sits beside the daemon's socket, in an `s/`
// directory, named by a hash of that address:
//
//     <dirname(address)>/s/<hex sha256("berth-shim-v1:" + address)>
//
// so containerd at /run/containerd/containerd.sock gets /run/containerd/s/<hash> (where
// its own runc shims live), berthd at /run/berth/berthd.sock gets /run/berth/s/<hash>,
// and a test daemon in a temp dir keeps its shim in that temp dir. When that path would
// not fit in sun_path (107 bytes) or the address is not an absolute path, the socket goes
// to /run/berth/s/<hash>. Next to the socket: `<socket>.pid` ("<pid> <starttime>", written
// once the shim serves; bin/containerd-shim-berth-v1 uses it to answer `start` without
// starting Node) and `<socket>.log` (the serving process's stderr).
//
// bin/containerd-shim-berth-v1 computes the same path in sh; test/unit/shim-address.test.ts
// checks the two agree.
import { createHash } from 'node:crypto';

export const SHIM_SOCKET_FALLBACK_DIR = '/run/berth/s';
export const SHIM_HASH_PREFIX = 'berth-shim-v1:';
/** Longest unix socket path Linux accepts (sun_path is 108 bytes with the NUL). */
export const SUN_PATH_MAX = 107;

/** Strips containerd's `unix://` prefix. */
export function stripUnix(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}

/**
 * The shared shim's socket path for a daemon's gRPC address (see the file header). With
 * `task` (a task that runs in a shim process of its own, `-own-process`): that process's
 * socket, in the same directory, the hash also covering the task's namespace and id.
 */
export function shimSocketPath(grpcAddress: string, task?: { namespace: string; id: string }): string {
  const key = task ? `${grpcAddress}\n${task.namespace}/${task.id}` : grpcAddress;
  const hash = createHash('sha256').update(SHIM_HASH_PREFIX + key).digest('hex');
  const p = stripUnix(grpcAddress);
  if (p.startsWith('/')) {
    const candidate = `${p.slice(0, p.lastIndexOf('/'))}/s/${hash}`;
    if (Buffer.byteLength(candidate) <= SUN_PATH_MAX) return candidate;
  }
  return `${SHIM_SOCKET_FALLBACK_DIR}/${hash}`;
}

/** The address `start` prints and writes to `<bundle>/address`. */
export function shimAddress(grpcAddress: string): string {
  return `unix://${shimSocketPath(grpcAddress)}`;
}

/** The socket a `start` or `serve` with these arguments uses. */
export function shimSocketPathOf(args: { address: string; ownProcess: boolean; namespace: string; id: string }): string {
  return shimSocketPath(args.address, args.ownProcess ? { namespace: args.namespace, id: args.id } : undefined);
}

/**
 * runc --root when a task's options set none: BERTH_RUNC_ROOT, else `runc/` beside the
 * daemon's socket (containerd: /run/containerd/runc, as its runc shim; berthd:
 * /run/berth/runc; a test daemon: inside its temp dir), else /run/berth/runc. The
 * namespace is appended, as containerd does.
 */
export function defaultRuncRoot(grpcAddress: string, env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['BERTH_RUNC_ROOT'];
  if (fromEnv) return fromEnv;
  const p = stripUnix(grpcAddress);
  if (p.startsWith('/')) return `${p.slice(0, p.lastIndexOf('/'))}/runc`;
  return '/run/berth/runc';
}

export const pidFileOf = (socketPath: string): string => `${socketPath}.pid`;
export const logFileOf = (socketPath: string): string => `${socketPath}.log`;
