// Network namespaces for pods, created, pinned and removed by berthd as containerd's CRI
// does (its pkg/netns): a new netns bind-mounted onto <baseDir>/cni-<uuid> (containerd:
// /var/run/netns, or <state>/netns with netns_mounts_under_state_dir), the file being
// the netns's identity for CNI plugins (CNI_NETNS) and for runc (the pod's network path).
//
// How: the native addon's bindNewNetns, on a thread made for it alone, does unshare
// (CLONE_NEWNET) and bind-mounts that thread's /proc/self/task/<tid>/ns/net onto the file,
// then the thread exits (containerd's pkg/netns does the same on a locked goroutine). A
// network namespace belongs to a thread: doing it on berthd's JS thread would move every
// socket berthd opens afterwards into the pod's netns, and on a libuv pool thread it would
// leave a thread in the pod's netns to run unrelated work later. The thread made for it
// changes namespace and nothing else ever runs on it. ~0.6 ms per netns, where forking
// berthd to run util-linux `unshare --net=<file> true` took 5-8 ms on the pod-start path
// (and CPU that CNI and runc, running meanwhile, wanted). The mount is made in berthd's
// mount namespace, as `unshare --net=<file>` makes it, and works on a shared target
// directory.

import { randomUUID } from 'node:crypto';
import { closeSync, openSync, statfsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { UnknownError } from '../errdefs/errors';
import { bindNewNetns, isNativeError, umount2, MNT_DETACH } from '../native';
import { ensureSharedMountDir } from './shared-dir';

/** statfs(2) f_type of the kernel's namespace filesystem (linux/magic.h NSFS_MAGIC). */
const NSFS_MAGIC = 0x6e736673;

export interface CreateNetNSOptions {
  /** Pins a new network namespace onto an existing file (default: the native bindNewNetns;
   * tests put a failing one here). */
  bind?: (path: string) => Promise<void>;
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
    await (opts.bind ?? bindNewNetns)(path).catch((err: unknown) => {
      throw new NetNSError(`failed to create netns at ${path}: ${(err as Error).message}`);
    });
    if (!isNetNS(path)) throw new NetNSError(`failed to create netns at ${path}: not a network namespace after unshare`);
  } catch (err) {
    await removeNetNS(path).catch(() => undefined);
    throw err;
  }
  return new NetNS(path);
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
