// The native snapshotter (containerd's snapshots/native), plugin id "native": every
// active snapshot is a full copy of its parent's tree, so it works on any file system.
//
// Layout under its root (berthd: <root>/snapshots/native):
//   metadata/                  LevelDB of the records (storage.ts)
//   snapshots/<id>/            the snapshot's whole tree (0755 unless copied from a parent)
//
// As in containerd, a view of a committed parent gets no directory of its own: its
// mount is a read-only bind of the parent's tree. Mounts: [{bind, <dir>, ["rbind", "rw"|"ro"]}].

import { promises as fsp } from 'fs';
import { DirSnapshotter, type BackendOptions } from './base';
import { copyTree } from './copy';
import type { Mount } from './snapshotter';
import type { ActiveSnapshot, SnapshotStorage } from './storage';

export type NativeOptions = BackendOptions;

export class NativeSnapshotter extends DirSnapshotter {
  readonly name = 'native';
  protected readonly mountsErrorPrefix = 'failed to get snapshot mount';

  private constructor(root: string, store: SnapshotStorage, opts: BackendOptions) {
    super(root, store, opts);
  }

  static async open(root: string, opts: NativeOptions = {}): Promise<NativeSnapshotter> {
    return new NativeSnapshotter(root, await DirSnapshotter.openStore(root), opts);
  }

  protected override needsDir(kind: 'active' | 'view', parent: string): boolean {
    return kind === 'active' || parent === '';
  }

  protected async populate(td: string, _kind: 'active' | 'view', parentIds: readonly number[]): Promise<void> {
    await fsp.chmod(td, 0o755);
    const parent = parentIds[0];
    if (parent === undefined) return;
    try {
      await copyTree(this.snapshotDir(parent), td, {
        onXattrSkipped: (path, name, err) =>
          this.log.debug('failed to copy xattr', { path: path.toString(), xattr: name, error: err as Error }),
      });
    } catch (err) {
      throw new Error(`copying of parent failed: ${(err as Error).message}`);
    }
  }

  protected mountsOf(s: ActiveSnapshot): Mount[] {
    const parent = s.parentIds[0];
    const source = parent === undefined || s.kind === 'active' ? this.snapshotDir(s.id) : this.snapshotDir(parent);
    return [{ type: 'bind', source, options: ['rbind', s.kind === 'view' ? 'ro' : 'rw'] }];
  }

  protected usagePath(id: number): string {
    return this.snapshotDir(id);
  }

  /** The snapshot's tree; for a view of a parent, the parent's tree (what it mounts). */
  async upperDir(key: string): Promise<string> {
    const { id, kind, parent } = await this.lookup(key);
    if (kind === 'view' && parent !== '') {
      const s = await this.store.getSnapshot(key);
      return this.snapshotDir(s.parentIds[0] as number);
    }
    return this.snapshotDir(id);
  }
}
