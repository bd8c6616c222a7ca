// What the overlayfs and native backends share: records in SnapshotStorage, one
// directory per snapshot id under <root>/snapshots/, created as snapshots/new-XXXX and
// renamed to its id inside the creating transaction, removal and cleanup of directories
// no record owns. The backends supply the directory contents and the mounts.

import { mkdtempSync, promises as fsp, renameSync } from 'fs';
import { join } from 'path';
import { parseListFilters } from '../filters/list';
import { silentLogger, type Logger } from '../log/logger';
import type { Labels } from '../metadata/records';
import type { Mount, SnapshotInfo, SnapshotKind, SnapshotterBackend, Usage } from './snapshotter';
import { SnapshotStorage, wrapError, type ActiveSnapshot } from './storage';
import { diskUsage } from './usage';
import { removeTree } from '../native';
import { nodeFsError } from '../errdefs/fs';

export interface BackendOptions {
  logger?: Logger;
  /**
   * containerd's AsynchronousRemove: remove() only drops the record and directories are
   * deleted by the next cleanup(). Default false: remove() renames the snapshot's
   * directory out of the way right after the record is gone and deletes it in the
   * background (close() and cleanup() wait for that; cleanup() sweeps what a crash left).
   */
  asyncRemove?: boolean;
}

/** Where a snapshotter named `name` keeps its data below berthd's root. */
export function snapshotterRoot(berthRoot: string, name: string): string {
  return join(berthRoot, 'snapshots', name);
}

export abstract class DirSnapshotter implements SnapshotterBackend {
  abstract readonly name: string;
  /** containerd's wrapping of Mounts errors (overlay and native word it differently). */
  protected abstract readonly mountsErrorPrefix: string;

  protected readonly snapshotsDir: string;
  protected readonly log: Logger;
  private readonly asyncRemove: boolean;
  /** Directory names under snapshots/ that a create in flight owns (cleanup skips them). */
  private readonly inflight = new Set<string>();
  /** Background deletions of removed snapshots' directories (`rm-<id>`), by name. */
  private readonly deleting = new Map<string, Promise<void>>();
  private closed = false;

  protected constructor(
    readonly root: string,
    protected readonly store: SnapshotStorage,
    opts: BackendOptions,
  ) {
    this.snapshotsDir = join(root, 'snapshots');
    this.log = opts.logger ?? silentLogger;
    this.asyncRemove = opts.asyncRemove ?? false;
  }

  /** Open the records (LevelDB in <root>/metadata) and make <root>/snapshots. */
  protected static async openStore(root: string): Promise<SnapshotStorage> {
    await fsp.mkdir(root, { recursive: true, mode: 0o700 });
    await fsp.mkdir(join(root, 'snapshots'), { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    return SnapshotStorage.open(join(root, 'metadata'));
  }

  /** The directory of snapshot `id`. */
  protected snapshotDir(id: number): string {
    return join(this.snapshotsDir, String(id));
  }

  /** Whether a snapshot of this kind and parent gets a directory of its own. */
  protected needsDir(_kind: 'active' | 'view', _parent: string): boolean {
    return true;
  }

  /** Fill the new directory `td` (parentIds nearest first; empty for none). */
  protected abstract populate(td: string, kind: 'active' | 'view', parentIds: readonly number[]): Promise<void>;

  /** The mounts of an active or view snapshot. */
  protected abstract mountsOf(s: ActiveSnapshot): Mount[];

  /** The tree whose usage an active snapshot reports. */
  protected abstract usagePath(id: number): string;

  /** Host directory of the snapshot's own layer (see SnapshotterBackend.upperDir). */
  abstract upperDir(key: string): Promise<string>;

  async stat(key: string): Promise<SnapshotInfo> {
    return (await this.store.getInfo(key)).info;
  }

  update(info: Pick<SnapshotInfo, 'name' | 'labels'>, paths: readonly string[]): Promise<SnapshotInfo> {
    return this.store.update(info, paths);
  }

  async usage(key: string): Promise<Usage> {
    const { id, info, usage } = await this.store.getInfo(key);
    if (info.kind === 'active') return diskUsage(this.usagePath(id));
    return usage;
  }

  async mounts(key: string): Promise<Mount[]> {
    let s: ActiveSnapshot;
    try {
      s = await this.store.getSnapshot(key);
    } catch (err) {
      throw wrapError(err, this.mountsErrorPrefix);
    }
    return this.mountsOf(s);
  }

  prepare(key: string, parent: string, labels?: Labels): Promise<Mount[]> {
    return this.createSnapshot('active', key, parent, labels);
  }

  view(key: string, parent: string, labels?: Labels): Promise<Mount[]> {
    return this.createSnapshot('view', key, parent, labels);
  }

  private async createSnapshot(kind: 'active' | 'view', key: string, parent: string, labels?: Labels): Promise<Mount[]> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await this.createOnce(kind, key, parent, labels);
      } catch (err) {
        // The state changed between the checks outside the transaction and the
        // transaction itself (e.g. the parent was replaced while its tree was copied).
        if (err instanceof Retry && attempt < 5) continue;
        throw wrapError(err instanceof Retry ? new Error('snapshot state kept changing') : err, 'failed to create snapshot');
      }
    }
  }

  private async createOnce(kind: 'active' | 'view', key: string, parent: string, labels?: Labels): Promise<Mount[]> {
    // Checks outside the transaction, so no directory work is done for a call that must
    // fail; the transaction checks again and produces containerd's error.
    const parentIds = parent === '' ? [] : await this.committedChain(parent);
    if (parentIds === null || key === '' || (await this.store.get(key)) !== undefined) {
      await this.store.create(kind, key, parent, {
        labels,
        beforeCommit: async () => {
          throw new Retry(); // it would succeed now: start over
        },
      });
      throw new Retry();
    }

    const names: string[] = [];
    let td = '';
    let final = '';
    try {
      if (this.needsDir(kind, parent)) {
        // Synchronous (mkdtemp, and rename below): microseconds each, where an awaited fs
        // call is a thread-pool round trip of ~0.1 ms on every Snapshots.Prepare.
        td = mkdtempSync(join(this.snapshotsDir, 'new-'));
        names.push(basename(td));
        this.inflight.add(basename(td));
        try {
          await this.populate(td, kind, parentIds);
        } catch (err) {
          // The parent went away while its tree was read: start over, which reports
          // containerd's "missing parent" instead of a file system error.
          const now = parent === '' ? [] : await this.committedChain(parent);
          if (now === null || now[0] !== parentIds[0]) throw new Retry();
          throw err;
        }
      }
      const s = await this.store.create(kind, key, parent, {
        labels,
        beforeCommit: async (created) => {
          if (created.parentIds[0] !== parentIds[0]) throw new Retry();
          if (!td) return;
          final = this.snapshotDir(created.id);
          names.push(basename(final));
          this.inflight.add(basename(final));
          renameSync(td, final);
          td = '';
        },
      });
      return this.mountsOf(s);
    } catch (err) {
      // td still set: never renamed; else final set: renamed, but the record did not
      // reach the disk.
      const dir = td || final;
      if (dir) await fsp.rm(dir, { recursive: true, force: true }).catch(() => undefined);
      // A full disk reads as containerd's "mkdir <dir>: no space left on device".
      throw nodeFsError(err, 'mkdir', dir || this.snapshotsDir);
    } finally {
      for (const n of names) this.inflight.delete(n);
    }
  }

  /** Ids of committed `parent` and its ancestors, nearest first; null if `parent` is
   * missing or not committed. */
  private async committedChain(parent: string): Promise<number[] | null> {
    const first = await this.store.get(parent);
    if (!first || first.kind !== 'committed') return null;
    const ids = [first.id];
    let p = first.parent;
    while (p !== '') {
      const r = await this.store.get(p);
      if (!r) return null;
      ids.push(r.id);
      p = r.parent;
    }
    return ids;
  }

  async commit(name: string, key: string, labels?: Labels): Promise<void> {
    const { id, info } = await this.store.getInfo(key);
    // Only an active snapshot has a tree to measure; others fail in commitActive with
    // containerd's error.
    const usage = info.kind === 'active' ? await diskUsage(this.usagePath(id)) : { size: 0, inodes: 0 };
    try {
      await this.store.commitActive(key, name, usage, labels, id);
    } catch (err) {
      throw wrapError(err, 'failed to commit snapshot');
    }
  }

  async remove(key: string): Promise<void> {
    let id: number;
    try {
      ({ id } = await this.store.remove(key));
    } catch (err) {
      throw wrapError(err, 'failed to remove');
    }
    if (this.asyncRemove) return;
    // The record is gone for good; a failure here only leaves a directory for cleanup().
    const dir = this.snapshotDir(id);
    const renamed = join(this.snapshotsDir, `rm-${id}`);
    try {
      renameSync(dir, renamed);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      this.log.warn('failed to rename removed snapshot directory', { path: dir, error: err as Error });
      return;
    }
    // The key's directory is gone from its place, and the answer need not wait for the
    // tree (a thread-pool round trip per entry): delete it in the background. A crash
    // meanwhile leaves rm-<id>, which owns no record, for the next cleanup().
    this.deleteInBackground(renamed);
  }

  private deleteInBackground(path: string): void {
    const name = basename(path);
    // One thread-pool job for the whole tree (fs.rm takes a round trip per entry).
    const done = removeTree(path)
      .catch((err: Error) => {
        this.log.warn('failed to remove snapshot directory', { path, error: err });
      })
      .finally(() => this.deleting.delete(name));
    this.deleting.set(name, done);
  }

  /** Resolves once the directories of snapshots removed so far are deleted. */
  async drained(): Promise<void> {
    while (this.deleting.size > 0) await Promise.all(this.deleting.values());
  }

  async *list(filters: readonly string[]): AsyncIterable<SnapshotInfo> {
    const filter = parseListFilters(filters);
    yield* this.store.walk(filter);
  }

  /** Remove every directory under snapshots/ that no record owns (removed snapshots,
   * interrupted creates and removals). */
  async cleanup(): Promise<void> {
    const dirs = await this.store.withIds(async (ids) => {
      const out: string[] = [];
      for (const name of await fsp.readdir(this.snapshotsDir)) {
        if (this.inflight.has(name)) continue;
        if (/^[0-9]+$/.test(name) && ids.has(Number(name))) continue;
        out.push(join(this.snapshotsDir, name));
      }
      return out;
    });
    for (const dir of dirs) {
      // Being deleted in the background already: wait for that instead of racing it.
      const deleting = this.deleting.get(basename(dir));
      if (deleting) {
        await deleting;
        continue;
      }
      await fsp.rm(dir, { recursive: true, force: true }).catch((err: Error) => {
        this.log.warn('failed to remove directory', { path: dir, error: err });
      });
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.drained();
    await this.store.close();
  }

  /** A snapshot's kind, for subclasses' upperDir. */
  protected async lookup(key: string): Promise<{ id: number; kind: SnapshotKind; parent: string }> {
    const { id, info } = await this.store.getInfo(key);
    return { id, kind: info.kind, parent: info.parent };
  }
}

/** Internal: the checks made outside the transaction no longer hold; start over. */
class Retry extends Error {
  constructor() {
    super('retry');
  }
}

function basename(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}
