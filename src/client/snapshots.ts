import type { Mount, SnapshotInfo } from './records';
import type { CallOptions } from './call-options';
import { Services, type Rpc } from './rpc';

export type { Mount, SnapshotInfo };

export interface SnapshotUsage {
  size: number;
  inodes: number;
}

/** One snapshotter of the Snapshots service (overlayfs, native, …). */
export class Snapshotter {
  constructor(
    private readonly rpc: Rpc,
    readonly name: string,
  ) {}

  async prepare(key: string, parent = '', labels: Record<string, string> = {}, opts?: CallOptions): Promise<Mount[]> {
    const r = await this.rpc.unary<{ mounts: Mount[] }>(Services.snapshots, 'Prepare', { snapshotter: this.name, key, parent, labels }, opts);
    return r.mounts;
  }

  async view(key: string, parent: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<Mount[]> {
    const r = await this.rpc.unary<{ mounts: Mount[] }>(Services.snapshots, 'View', { snapshotter: this.name, key, parent, labels }, opts);
    return r.mounts;
  }

  async mounts(key: string, opts?: CallOptions): Promise<Mount[]> {
    const r = await this.rpc.unary<{ mounts: Mount[] }>(Services.snapshots, 'Mounts', { snapshotter: this.name, key }, opts);
    return r.mounts;
  }

  async commit(name: string, key: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.snapshots, 'Commit', { snapshotter: this.name, name, key, labels }, opts);
  }

  async remove(key: string, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.snapshots, 'Remove', { snapshotter: this.name, key }, opts);
  }

  async stat(key: string, opts?: CallOptions): Promise<SnapshotInfo> {
    const r = await this.rpc.unary<{ info: SnapshotInfo }>(Services.snapshots, 'Stat', { snapshotter: this.name, key }, opts);
    return r.info;
  }

  async setLabels(key: string, labels: Record<string, string>, paths?: string[], opts?: CallOptions): Promise<SnapshotInfo> {
    const r = await this.rpc.unary<{ info: SnapshotInfo }>(
      Services.snapshots,
      'Update',
      { snapshotter: this.name, info: { name: key, labels }, update_mask: { paths: paths ?? ['labels'] } },
      opts,
    );
    return r.info;
  }

  async usage(key: string, opts?: CallOptions): Promise<SnapshotUsage> {
    return this.rpc.unary<SnapshotUsage>(Services.snapshots, 'Usage', { snapshotter: this.name, key }, opts);
  }

  async *list(filters: string[] = [], opts?: CallOptions): AsyncGenerator<SnapshotInfo> {
    for await (const m of this.rpc.stream<{ info: SnapshotInfo[] }>(Services.snapshots, 'List', { snapshotter: this.name, filters }, opts)) yield* m.info;
  }

  async cleanup(opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.snapshots, 'Cleanup', { snapshotter: this.name }, opts);
  }
}
