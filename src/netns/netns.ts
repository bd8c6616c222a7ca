// Network namespaces for pods, created, pinned and removed by berthd as containerd's CRI
// does (its pkg/netns): a new netns bind-mounted onto <baseDir>/cni-<uuid> (containerd:
// /var/run/netns, or <state>/netns with netns_mounts_under_state_dir), the file being
// the netns's identity for CNI plugins (CNI_NETNS) and for runc (the pod's network path).
//
// Why a helper process (util-linux `unshare --net=<file> true`) and not the native addon:
// a network namespace belongs to a thread. unshare(CLONE_NEWNET) on berthd's JS thread
// would move every socket berthd opens afterwards into the pod's netns; on a libuv pool
// thread it would leave a thread in the pod's netns to run unrelated work later, and Node
// cannot retire a pool thread. A short-lived process does the unshare and bind-mounts its
// own /proc/<pid>/ns/net onto the file, then exits: nothing in berthd ever changes
// namespace, and util-linux is already a runtime dependency (about 3 ms per netns here).
// `unshare --net=<file>` binds in berthd's mount namespace and works on a shared target
// directory (only --mount=<file> refuses a shared parent, to avoid a propagation loop).

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, statfsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UnknownError } from '../errdefs/errors';
import { isNativeError, umount2, MNT_DETACH } from '../native';
import { ensureSharedMountDir } from './shared-dir';

/** statfs(2) f_type of the kernel's namespace filesystem (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

/** How long the unshare helper may take before it is killed. */
const HELPER_TIMEOUT_MS = 10_000;

export interface CreateNetNSOptions {
  /** util-linux unshare (default: `unshare` from PATH). */
  unshareBinary?: string;
}

/** A failure to create or remove a network namespace (gRPC Unknown, as containerd's). */
export class NetNSError extends UnknownError {}

/**
 * True when path is a pinned network namespace: it exists and is a mount of nsfs.
 * An empty file (the netns was unmounted, e.g. by a reboot of /run) or a missing file is
 * not — containerd's NetNS.Closed() treats both as closed.
 */
export function isNetNS(path: string): boolean {
  try {
    return statfsSync(path).type === NSFS_MAGIC;
  } catch (err) {
    if (isNativeError(err, 'ENOENT') || isNativeError(err, 'ENOTDIR')) return false;
    throw err;
  }
}

/** A pod's network namespace, pinned at `path`. */
export class NetNS {
  constructor(readonly path: string) {}

  /** The netns is gone (file removed or no longer a netns mount). */
  closed(): boolean {
    return !isNetNS(this.path);
  }

  /** Unmount and unlink; a netns already gone is not an error. */
  remove(): Promise<void> {
    return removeNetNS(this.path);
  }
}

/**
 * Creates a new network namespace pinned at `<baseDir>/cni-<uuid>`. baseDir is created if
 * needed and made a shared mount point. On failure nothing is left behind.
 */
export async function createNetNS(baseDir: string, opts: CreateNetNSOptions = {}): Promise<NetNS> {
  ensureSharedMountDir(baseDir);
  const path = join(baseDir, `cni-${randomUUID()}`);
  // The bind mount needs an existing file; 'wx' makes sure it is ours alone.
  closeSync(openSync(path, 'wx', 0o666));
  try {
    await runUnshare(opts.unshareBinary ?? 'unshare', path);
    if (!isNetNS(path)) throw new NetNSError(`failed to create netns at ${path}: not a network namespace after unshare`);
  } catch (err) {
    await removeNetNS(path).catch(() => undefined);
    throw err;
  }
  return new NetNS(path);
}

function runUnshare(binary: string, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(
      binary,
      [`--net=${path}`, '--', 'true'],
      { timeout: HELPER_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 64 * 1024, env: process.env },
      (err, _stdout, stderr) => {
        if (!err) return resolve();
        const detail = String(stderr).trim() || err.message;
        reject(new NetNSError(`failed to create netns at ${path}: ${detail}`));
      },
    );
  });
}

/** How many stacked mounts at one path remove will take off before giving up. */
const MAX_STACKED_MOUNTS = 16;

/**
 * Unmounts the netns at path (lazily: a process still inside keeps the namespace alive,
 * the path is freed at once) and unlinks the file. Idempotent: a path that is gone, or a
 * file that is no longer mounted, is not an error.
 */
export async function removeNetNS(path: string): Promise<void> {
  for (let i = 0; i < MAX_STACKED_MOUNTS; i++) {
    try {
      umount2(path, MNT_DETACH);
    } catch (err) {
      // EINVAL: not a mount point (any more); ENOENT: already removed.
      if (isNativeError(err, 'EINVAL') || isNativeError(err, 'ENOENT')) break;
      throw new NetNSError(`failed to unmount netns at ${path}: ${(err as Error).message}`);
    }
  }
  try {
    unlinkSync(path);
  } catch (err) {
    if (isNativeError(err, 'ENOENT')) return;
    throw new NetNSError(`failed to remove netns file ${path}: ${(err as Error).message}`);
  }
}
