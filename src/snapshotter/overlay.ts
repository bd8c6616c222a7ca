// The overlayfs snapshotter (containerd's snapshots/overlay), plugin id "overlayfs".
//
// Layout under its root (berthd: <root>/snapshots/overlayfs):
//   metadata/                  LevelDB of the records (storage.ts)
//   snapshots/<id>/fs          the snapshot's own layer (upper dir), 0755, owner of the parent's fs
//   snapshots/<id>/work        overlay work dir, active snapshots only (0711)
//   snapshots/new-XXXXXX       a snapshot being created (renamed to <id> in its transaction)
//   snapshots/rm-<id>          a snapshot being removed
//
// Mounts are exactly containerd's (reference §11.2): a bind mount of the own fs dir
// for no parents, a read-only bind of the parent's fs for a view of one parent, and
// overlay otherwise (index=off when the kernel has the parameter, lowerdir nearest
// parent first, a view without upperdir/workdir).

import { chmodSync, existsSync, lchownSync, mkdirSync, promises as fsp, readFileSync, statSync } from 'fs';
import { release } from 'os';
import { join } from 'path';
import { mountOne, unmountAll } from '../native';
import { DirSnapshotter, type BackendOptions } from './base';
import type { Mount } from './snapshotter';
import type { ActiveSnapshot, SnapshotStorage } from './storage';

/** The kernel or the file system under the root cannot run this snapshotter. The
 * daemon reports it as the plugin's init error and falls back to native. */
export class OverlayNotSupportedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'OverlayNotSupportedError';
  }
}

export interface OverlayOptions extends BackendOptions {
  /** Skip the test mount at open (it costs a mount and an unmount). */
  skipSupportCheck?: boolean;
}

const INDEX_PARAM = '/sys/module/overlay/parameters/index';
const TMPFS_MAGIC = 0x01021994;

/** containerd's supportsIndex: "index=off" is added when the kernel knows the option. */
export function overlaySupportsIndex(): boolean {
  return existsSync(INDEX_PARAM);
}

function runningInUserNS(): boolean {
  try {
    const line = readFileSync('/proc/self/uid_map', 'utf8').trim().split('\n')[0] ?? '';
    const [a, b, c] = line.trim().split(/\s+/);
    return !(a === '0' && b === '0' && c === '4294967295');
  } catch {
    return false;
  }
}

function kernelAtLeast(major: number, minor: number): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release());
  if (!m) return false;
  const [ma, mi] = [Number(m[1]), Number(m[2])];
  return ma > major || (ma === major && mi >= minor);
}

/** containerd's NeedsUserXAttr, fast path only: in a user namespace, not on tmpfs,
 * kernel ≥ 5.11. The host (initial user namespace) never needs it. */
async function needsUserXattr(root: string): Promise<boolean> {
  if (!runningInUserNS()) return false;
  try {
    if ((await fsp.statfs(root)).type === TMPFS_MAGIC) return false;
  } catch {
    return false;
  }
  return kernelAtLeast(5, 11);
}

/**
 * containerd's SupportsMultipleLowerDir: mount a two-lowerdir overlay in a temp dir
 * under `root` and unmount it. Throws OverlayNotSupportedError if that fails.
 */
export async function checkOverlaySupport(root: string): Promise<void> {
  await fsp.mkdir(root, { recursive: true, mode: 0o700 });
  const td = await fsp.mkdtemp(join(root, 'multiple-lowerdir-check'));
  const merged = join(td, 'merged');
  let mounted = false;
  try {
    for (const d of ['lower1', 'lower2', 'upper', 'work', 'merged']) await fsp.mkdir(join(td, d), 0o755);
    const opts = `lowerdir=${join(td, 'lower2')}:${join(td, 'lower1')},upperdir=${join(td, 'upper')},workdir=${join(td, 'work')}`;
    try {
      mountOne({ type: 'overlay', source: 'overlay', options: [opts] }, merged);
      mounted = true;
    } catch (err) {
      throw new OverlayNotSupportedError(
        `overlayfs snapshotter cannot run on ${root}: failed to mount overlay: ${(err as Error).message}`,
      );
    }
  } finally {
    if (mounted) await unmountAll(merged).catch(() => undefined);
    await fsp.rm(td, { recursive: true, force: true }).catch(() => undefined);
  }
}

export class OverlaySnapshotter extends DirSnapshotter {
  readonly name = 'overlayfs';
  protected readonly mountsErrorPrefix = 'failed to get active mount';

  private constructor(
    root: string,
    store: SnapshotStorage,
    opts: BackendOptions,
    private readonly indexOff: boolean,
    private readonly userxattr: boolean,
  ) {
    super(root, store, opts);
  }

  /** Open (or create) the snapshotter at `root`. Throws OverlayNotSupportedError when
   * overlayfs cannot be mounted there. */
  static async open(root: string, opts: OverlayOptions = {}): Promise<OverlaySnapshotter> {
    if (!opts.skipSupportCheck) await checkOverlaySupport(root);
    const store = await DirSnapshotter.openStore(root);
    return new OverlaySnapshotter(root, store, opts, overlaySupportsIndex(), await needsUserXattr(root));
  }

  private upperPath(id: number): string {
    return join(this.snapshotDir(id), 'fs');
  }

  private workPath(id: number): string {
    return join(this.snapshotDir(id), 'work');
  }

  // Synchronous: a few metadata syscalls of microseconds each, where each awaited fs call
  // is a thread-pool round trip of ~0.1 ms on the path of every Snapshots.Prepare.
  protected async populate(td: string, kind: 'active' | 'view', parentIds: readonly number[]): Promise<void> {
    const fsDir = join(td, 'fs');
    mkdirSync(fsDir);
    chmodSync(fsDir, 0o755); // exact, whatever the umask
    if (kind === 'active') {
      const work = join(td, 'work');
      mkdirSync(work);
      chmodSync(work, 0o711);
    }
    const parent = parentIds[0];
    if (parent !== undefined) {
      const st = statSync(this.upperPath(parent));
      lchownSync(fsDir, st.uid, st.gid);
    }
  }

  protected mountsOf(s: ActiveSnapshot): Mount[] {
    if (s.parentIds.length === 0) {
      // one layer: overlay would not work; bind the own fs dir
      return [{ type: 'bind', source: this.upperPath(s.id), options: [s.kind === 'view' ? 'ro' : 'rw', 'rbind'] }];
    }
    const options: string[] = [];
    if (this.indexOff) options.push('index=off');
    if (this.userxattr) options.push('userxattr');
    if (s.kind === 'active') {
      options.push(`workdir=${this.workPath(s.id)}`, `upperdir=${this.upperPath(s.id)}`);
    } else if (s.parentIds.length === 1) {
      return [{ type: 'bind', source: this.upperPath(s.parentIds[0] as number), options: ['ro', 'rbind'] }];
    }
    options.push(`lowerdir=${s.parentIds.map((id) => this.upperPath(id)).join(':')}`);
    return [{ type: 'overlay', source: 'overlay', options }];
  }

  protected usagePath(id: number): string {
    return this.upperPath(id);
  }

  /** `snapshots/<id>/fs` of any snapshot (active, view or committed). */
  async upperDir(key: string): Promise<string> {
    const { id } = await this.lookup(key);
    return this.upperPath(id);
  }
}
