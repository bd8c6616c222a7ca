import type { Labels } from '../metadata/records';
import type { WallTime } from '../time/wall';

// The snapshotter interface (containerd's snapshots.Snapshotter). Implementations: the
// backends OverlaySnapshotter and NativeSnapshotter (own storage under
// <root>/snapshots/<name>/, global keys), and the NamespacedSnapshotter in src/metadata
// (per-namespace keys, labels, leases, GC). One conformance suite
// (test/unit/snapshotter-conformance.ts) runs against all of them.

export type SnapshotKind = 'view' | 'active' | 'committed';

export interface SnapshotInfo {
  /** The key (active/view) or the name (committed). */
  name: string;
  /** Name of the committed parent, '' for none. */
  parent: string;
  kind: SnapshotKind;
  labels: Labels;
  createdAt: WallTime;
  updatedAt: WallTime;
}

export interface Usage {
  /** Bytes used by this snapshot's own layer (not its parents). */
  size: number;
  inodes: number;
}

/** A mount as the API returns it (containerd.types.Mount). */
export interface Mount {
  type: string;
  source: string;
  target?: string;
  options: string[];
}

export interface Snapshotter {
  stat(key: string): Promise<SnapshotInfo>;
  /** Update labels: paths `labels` / `labels.<key>`; no paths replaces the labels. */
  update(info: Pick<SnapshotInfo, 'name' | 'labels'>, paths: readonly string[]): Promise<SnapshotInfo>;
  /** Active snapshots: computed now; committed: recorded at commit. */
  usage(key: string): Promise<Usage>;
  /** Mounts of an active or view snapshot (committed → FailedPrecondition). */
  mounts(key: string): Promise<Mount[]>;
  /** New writable snapshot on top of committed `parent` ('' for none). */
  prepare(key: string, parent: string, labels?: Labels): Promise<Mount[]>;
  /** New read-only view of committed `parent`. */
  view(key: string, parent: string, labels?: Labels): Promise<Mount[]>;
  /** Turn active `key` into committed `name`; `key` disappears. */
  commit(name: string, key: string, labels?: Labels): Promise<void>;
  /** Remove a snapshot without children (children → FailedPrecondition). */
  remove(key: string): Promise<void>;
  /** Snapshots matching containerd filters (kind, name, parent, labels.<k>). */
  list(filters: readonly string[]): AsyncIterable<SnapshotInfo>;
  /** Remove directories no snapshot record owns any more (after removals). */
  cleanup(): Promise<void>;
  close(): Promise<void>;
}

/** Backend-only extras the metadata layer and the differ need. */
export interface SnapshotterBackend extends Snapshotter {
  readonly name: string;
  /** Host directory holding a snapshot's own layer (upper dir), for apply and diff. */
  upperDir(key: string): Promise<string>;
}
