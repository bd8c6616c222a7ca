// Backend snapshot records (containerd's snapshots/storage: bolt.go + metastore.go),
// kept in a LevelDB under the snapshotter's root through MetadataDB (serialized write
// transactions, one atomic batch each, group commit).
//
// Key layout (everything after the prefix is the raw snapshot key, so keys sort by
// bytes as bolt's buckets do):
//
//   v1/snapshots/<key>              record {id, kind, parent, labels, createdAt, updatedAt, size, inodes}
//   v1/parents/<pid>/<cid>          child index: value {key} of the child (ids zero-padded)
//   v1/seq                          {next}: the global id sequence (ids are never reused)
//
// Error texts are containerd's storage texts; the snapshotters add containerd's
// wrapping ("failed to create snapshot: …") on top.

import {
  AlreadyExistsError,
  BerthError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../errdefs/errors';
import type { Filter } from '../filters/filter';
import type { FieldValue } from '../filters/filter';
import { adaptorFunc } from '../filters/adaptors';
import { MetadataDB, type Stored, type WriteTx } from '../metadata/db';
import { cleanLabels, setLabel } from '../metadata/labels';
import type { Labels } from '../metadata/records';
import { storeTime, timeFrom } from '../metadata/codec';
import type { WallTime } from '../time/wall';
import type { SnapshotInfo, SnapshotKind, Usage } from './snapshotter';

const SNAP_PREFIX = 'v1/snapshots/';
const PARENT_PREFIX = 'v1/parents/';
const SEQ_KEY = 'v1/seq';

/** A stored snapshot, as the backend sees it. */
export interface SnapshotRecord {
  /** Global sequence number: names the snapshot's directory. */
  id: number;
  kind: SnapshotKind;
  /** Key of the committed parent, '' for none. */
  parent: string;
  labels: Labels;
  createdAt: WallTime;
  updatedAt: WallTime;
  /** Usage recorded at commit (0 for active and view snapshots). */
  size: number;
  inodes: number;
}

/** An active or view snapshot with its parent chain (containerd's storage.Snapshot). */
export interface ActiveSnapshot {
  id: number;
  kind: 'active' | 'view';
  /** Ids of the committed parents, nearest first (the base layer last). */
  parentIds: number[];
}

/** containerd's %q for the strings that appear in its messages. */
export function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** Re-throw a berth error with containerd's "<prefix>: " wrapping (same class). */
export function wrapError(err: unknown, prefix: string): unknown {
  if (!(err instanceof BerthError)) return err;
  const ctx = `${prefix}: ${err.context}`;
  switch (err.errorClass) {
    case 'not found':
      return new NotFoundError(ctx);
    case 'already exists':
      return new AlreadyExistsError(ctx);
    case 'failed precondition':
      return new FailedPreconditionError(ctx);
    case 'invalid argument':
      return new InvalidArgumentError(ctx);
    default:
      return err;
  }
}

function snapKey(key: string): string {
  return SNAP_PREFIX + key;
}

function pad(id: number): string {
  return String(id).padStart(16, '0');
}

function parentLinkKey(parent: number, child: number): string {
  return `${PARENT_PREFIX}${pad(parent)}/${pad(child)}`;
}

function isKind(s: unknown): s is SnapshotKind {
  return s === 'active' || s === 'view' || s === 'committed';
}

function decode(v: Stored): SnapshotRecord {
  const labels: Labels = {};
  if (v['labels'] && typeof v['labels'] === 'object') {
    for (const [k, val] of Object.entries(v['labels'] as Record<string, unknown>)) {
      if (typeof val === 'string') labels[k] = val;
    }
  }
  return {
    id: Number(v['id']),
    kind: isKind(v['kind']) ? v['kind'] : 'active',
    parent: typeof v['parent'] === 'string' ? v['parent'] : '',
    labels,
    createdAt: timeFrom(v, 'createdAt'),
    updatedAt: timeFrom(v, 'updatedAt'),
    size: Number(v['size'] ?? 0),
    inodes: Number(v['inodes'] ?? 0),
  };
}

function encode(r: SnapshotRecord): Stored {
  return {
    id: r.id,
    kind: r.kind,
    parent: r.parent,
    labels: r.labels,
    createdAt: storeTime(r.createdAt),
    updatedAt: storeTime(r.updatedAt),
    size: r.size,
    inodes: r.inodes,
  };
}

export function toInfo(name: string, r: SnapshotRecord): SnapshotInfo {
  return {
    name,
    parent: r.parent,
    kind: r.kind,
    labels: { ...r.labels },
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
  };
}

/** containerd's adaptSnapshot: kind/name/parent are always present (even when empty);
 * `labels.<k>` looks the key up (absent when there are no labels). */
export function adaptSnapshot(info: SnapshotInfo) {
  return adaptorFunc((path: string[]): FieldValue => {
    if (path.length === 0) return { value: '', present: false };
    switch (path[0]) {
      case 'kind':
        return { value: info.kind, present: true };
      case 'name':
        return { value: info.name, present: true };
      case 'parent':
        return { value: info.parent, present: true };
      case 'labels': {
        const key = path.slice(1).join('.');
        if (Object.prototype.hasOwnProperty.call(info.labels, key)) {
          return { value: info.labels[key] as string, present: true };
        }
        return { value: '', present: false };
      }
      default:
        return { value: '', present: false };
    }
  });
}

export interface CreateOptions {
  labels?: Labels;
  /** Runs inside the transaction after every check passed and the id is known; its
   * failure aborts the transaction. Used to rename the prepared directory into place. */
  beforeCommit?: (s: ActiveSnapshot) => Promise<void>;
}

/** The backend's snapshot records. */
export class SnapshotStorage {
  private closed = false;

  private constructor(private readonly db: MetadataDB) {}

  static async open(dir: string): Promise<SnapshotStorage> {
    return new SnapshotStorage(await MetadataDB.open(dir));
  }

  /** A record, or undefined. Reads committed state. */
  async get(key: string): Promise<SnapshotRecord | undefined> {
    if (key === '') return undefined;
    const v = await this.db.get(snapKey(key));
    return v === undefined ? undefined : decode(v);
  }

  /** containerd's GetInfo: id, info and stored usage. */
  async getInfo(key: string): Promise<{ id: number; record: SnapshotRecord; info: SnapshotInfo; usage: Usage }> {
    const r = await this.get(key);
    if (!r) throw new NotFoundError('snapshot does not exist');
    return { id: r.id, record: r, info: toInfo(key, r), usage: { size: r.size, inodes: r.inodes } };
  }

  /** containerd's GetSnapshot: an active or view snapshot with its parent chain. */
  async getSnapshot(key: string): Promise<ActiveSnapshot> {
    const r = await this.get(key);
    if (!r) throw new NotFoundError('snapshot does not exist');
    if (r.kind !== 'active' && r.kind !== 'view') {
      throw new FailedPreconditionError(`requested snapshot ${key} not active or view`);
    }
    const parentIds: number[] = [];
    let p = r.parent;
    while (p !== '') {
      const pr = await this.get(p);
      if (!pr) throw new NotFoundError(parentIds.length === 0 ? 'parent does not exist' : 'failed to get parent chain: missing parent');
      parentIds.push(pr.id);
      p = pr.parent;
    }
    return { id: r.id, kind: r.kind, parentIds };
  }

  private async chain(tx: WriteTx, parent: SnapshotRecord): Promise<number[]> {
    const ids = [parent.id];
    let p = parent.parent;
    while (p !== '') {
      const v = await tx.get(snapKey(p));
      if (!v) throw new NotFoundError('missing parent');
      const pr = decode(v);
      ids.push(pr.id);
      p = pr.parent;
    }
    return ids;
  }

  /** containerd's CreateSnapshot. Checks in containerd's order: parent exists, parent
   * committed, key free. */
  create(kind: 'active' | 'view', key: string, parent: string, opts: CreateOptions = {}): Promise<ActiveSnapshot> {
    return this.db.update(async (tx) => {
      if (key === '') throw new InvalidArgumentError('snapshot key must not be empty');
      let parentRec: SnapshotRecord | undefined;
      if (parent !== '') {
        const pv = await tx.get(snapKey(parent));
        if (!pv) throw new NotFoundError(`missing parent ${goQuote(parent)} bucket`);
        parentRec = decode(pv);
        if (parentRec.kind !== 'committed') {
          throw new InvalidArgumentError(`parent ${goQuote(parent)} is not committed snapshot`);
        }
      }
      if (await tx.has(snapKey(key))) throw new AlreadyExistsError(`snapshot ${key}`);

      const seq = await tx.get(SEQ_KEY);
      const id = Number(seq?.['next'] ?? 1);
      tx.put(SEQ_KEY, { next: id + 1 });

      const now = tx.now;
      tx.put(
        snapKey(key),
        encode({ id, kind, parent, labels: cleanLabels(opts.labels), createdAt: now, updatedAt: now, size: 0, inodes: 0 }),
      );
      let parentIds: number[] = [];
      if (parentRec) {
        tx.put(parentLinkKey(parentRec.id, id), { key });
        parentIds = await this.chain(tx, parentRec);
      }
      const s: ActiveSnapshot = { id, kind, parentIds };
      if (opts.beforeCommit) await opts.beforeCommit(s);
      return s;
    });
  }

  /** containerd's CommitActive: active `key` becomes committed `name` with the same id.
   * Labels are replaced (not inherited); created/updated are reset. */
  commitActive(key: string, name: string, usage: Usage, labels?: Labels, expectId?: number): Promise<number> {
    return this.db.update(async (tx) => {
      if (name === '') throw new InvalidArgumentError('committed snapshot name must not be empty');
      if (await tx.has(snapKey(name))) throw new AlreadyExistsError(`committed snapshot ${name}`);
      const v = await tx.get(snapKey(key));
      if (!v) throw new NotFoundError(`failed to get active snapshot ${goQuote(key)}`);
      const r = decode(v);
      if (expectId !== undefined && r.id !== expectId) {
        throw new NotFoundError(`failed to get active snapshot ${goQuote(key)}`);
      }
      if (r.kind !== 'active') throw new FailedPreconditionError(`snapshot ${goQuote(key)} is not active`);
      const now = tx.now;
      tx.put(
        snapKey(name),
        encode({
          id: r.id,
          kind: 'committed',
          parent: r.parent,
          labels: cleanLabels(labels),
          createdAt: now,
          updatedAt: now,
          size: usage.size,
          inodes: usage.inodes,
        }),
      );
      tx.del(snapKey(key));
      if (r.parent !== '') {
        const pv = await tx.get(snapKey(r.parent));
        if (!pv) throw new NotFoundError(`missing parent ${goQuote(r.parent)} of snapshot ${goQuote(key)}`);
        tx.put(parentLinkKey(decode(pv).id, r.id), { key: name });
      }
      return r.id;
    });
  }

  /** containerd's Remove: the id and kind of the removed snapshot. */
  remove(key: string): Promise<{ id: number; kind: SnapshotKind }> {
    return this.db.update(async (tx) => {
      const v = key === '' ? undefined : await tx.get(snapKey(key));
      if (!v) throw new NotFoundError(`snapshot ${key}`);
      const r = decode(v);
      const children = await tx.scanRaw(`${PARENT_PREFIX}${pad(r.id)}/`, 1);
      if (children.length > 0) throw new FailedPreconditionError('cannot remove snapshot with child');
      if (r.parent !== '') {
        const pv = await tx.get(snapKey(r.parent));
        if (!pv) throw new NotFoundError(`snapshot ${key}`);
        tx.del(parentLinkKey(decode(pv).id, r.id));
      }
      tx.del(snapKey(key));
      return { id: r.id, kind: r.kind };
    });
  }

  /** containerd's UpdateInfo: paths `labels` / `labels.<k>`; none replaces the labels. */
  update(info: Pick<SnapshotInfo, 'name' | 'labels'>, paths: readonly string[]): Promise<SnapshotInfo> {
    return this.db.update(async (tx) => {
      const v = info.name === '' ? undefined : await tx.get(snapKey(info.name));
      if (!v) throw new NotFoundError('snapshot does not exist');
      const r = decode(v);
      const given = info.labels ?? {};
      let labels: Labels = { ...r.labels };
      if (paths.length > 0) {
        for (const path of paths) {
          if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            setLabel(labels, k, Object.prototype.hasOwnProperty.call(given, k) ? given[k] : undefined);
            continue;
          }
          if (path === 'labels') {
            labels = { ...given };
            continue;
          }
          throw new InvalidArgumentError(`cannot update ${goQuote(path)} field on snapshot ${goQuote(info.name)}`);
        }
      } else {
        labels = { ...given };
      }
      r.labels = cleanLabels(labels);
      r.updatedAt = tx.now;
      tx.put(snapKey(info.name), encode(r));
      return toInfo(info.name, r);
    });
  }

  /** Every snapshot matching `filter`, in key order (containerd's WalkInfo). */
  async *walk(filter: Filter): AsyncGenerator<SnapshotInfo> {
    for await (const [k, v] of this.db.scan(SNAP_PREFIX)) {
      const info = toInfo(k.slice(SNAP_PREFIX.length), decode(v));
      if (filter.match(adaptSnapshot(info))) yield info;
    }
  }

  /**
   * Run fn while holding the write lock, with the set of ids that have a record
   * (including writes not yet flushed). Cleanup scans directories under it, so no
   * snapshot is being created or committed meanwhile (containerd's IDMap in a write tx).
   */
  withIds<T>(fn: (ids: ReadonlySet<number>) => Promise<T>): Promise<T> {
    return this.db.update(async (tx) => {
      const ids = new Set<number>();
      for (const [, v] of await tx.scan(SNAP_PREFIX)) ids.add(decode(v).id);
      return fn(ids);
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.db.close();
  }
}
