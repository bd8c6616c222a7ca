import { randomBytes } from 'node:crypto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../errdefs/errors';
import { parseListFilters } from '../filters/list';
import { adaptFields } from '../filters/adaptors';
import type { Mount, SnapshotInfo, Snapshotter, SnapshotterBackend, Usage } from '../snapshotter/snapshotter';
import type { MetadataDB, Stored, WriteTx } from './db';
import { dec, enc, objectPrefix } from './keys';
import { cleanLabels, setLabel, validateInfoLabels } from './labels';
import { labelsFrom, storeTime, timeFrom } from './codec';
import type { WallTime } from '../time/wall';
import { leaseResourceInTx } from './leases';
import type { Labels } from './records';

// The namespaced snapshotter: per-namespace snapshot keys, labels and times over a
// backend (overlayfs, native) whose snapshots have global keys "<ns>/<random>/<key>".
// Records: v1/<ns>/snapshots/<snapshotter>/<key> → {bkey, parent, labels, times};
// children: v1/<ns>/snapshotchildren/<snapshotter>/<parent>/<child>.

interface SnapshotRecord {
  bkey: string;
  parent: string;
  labels: Labels;
  createdAt: string;
  updatedAt: string;
}

export function snapshotPrefix(ns: string, snapshotter: string): string {
  return `${objectPrefix(ns, 'snapshots')}${enc(snapshotter)}/`;
}

function recordKey(ns: string, snapshotter: string, key: string): string {
  return snapshotPrefix(ns, snapshotter) + enc(key);
}

function childrenPrefix(ns: string, snapshotter: string, parent: string): string {
  return `${objectPrefix(ns, 'snapshotchildren')}${enc(snapshotter)}/${enc(parent)}/`;
}

function childKey(ns: string, snapshotter: string, parent: string, child: string): string {
  return childrenPrefix(ns, snapshotter, parent) + enc(child);
}

/** All snapshotters of the daemon, by name, namespaced. */
export class SnapshotterRegistry {
  private readonly views = new Map<string, NamespacedSnapshotter>();

  constructor(
    private readonly db: MetadataDB,
    readonly backends: ReadonlyMap<string, SnapshotterBackend>,
    private readonly onRemove: () => void = () => undefined,
  ) {}

  /** The named snapshotter, or InvalidArgument "snapshotter not loaded: x" as containerd says. */
  get(name: string): NamespacedSnapshotter {
    const backend = this.backends.get(name);
    if (!backend) throw new InvalidArgumentError(`snapshotter not loaded: ${name}`);
    let v = this.views.get(name);
    if (!v) {
      v = new NamespacedSnapshotter(this.db, backend, this.onRemove);
      this.views.set(name, v);
    }
    return v;
  }
}

export class NamespacedSnapshotter {
  constructor(
    private readonly db: MetadataDB,
    readonly backend: SnapshotterBackend,
    private readonly onRemove: () => void,
  ) {}

  get name(): string {
    return this.backend.name;
  }

  /** The snapshotter as one namespace sees it, creating under an optional lease. */
  view(ns: string, lease?: string): Snapshotter & { upperDir(key: string): Promise<string> } {
    return new NamespaceSnapshotView(this, ns, lease);
  }

  /** @internal */
  async record(ns: string, key: string, tx?: WriteTx): Promise<SnapshotRecord> {
    const k = recordKey(ns, this.name, key);
    const s = tx ? await tx.get(k) : await this.db.get(k);
    if (!s) throw new NotFoundError(`snapshot ${key} does not exist`);
    return s as unknown as SnapshotRecord;
  }

  /** @internal */
  get database(): MetadataDB {
    return this.db;
  }

  /** @internal */
  removed(): void {
    this.onRemove();
  }
}

class NamespaceSnapshotView implements Snapshotter {
  constructor(
    private readonly sn: NamespacedSnapshotter,
    private readonly ns: string,
    private readonly lease: string | undefined,
  ) {}

  private get db(): MetadataDB {
    return this.sn.database;
  }

  private get backend(): SnapshotterBackend {
    return this.sn.backend;
  }

  private async info(key: string, rec: SnapshotRecord): Promise<SnapshotInfo> {
    const b = await this.backend.stat(rec.bkey);
    return {
      name: key,
      parent: rec.parent,
      kind: b.kind,
      labels: { ...rec.labels },
      createdAt: timeFrom(rec as unknown as Stored, 'createdAt'),
      updatedAt: timeFrom(rec as unknown as Stored, 'updatedAt'),
    };
  }

  async stat(key: string): Promise<SnapshotInfo> {
    return this.info(key, await this.sn.record(this.ns, key));
  }

  async update(info: Pick<SnapshotInfo, 'name' | 'labels'>, paths: readonly string[]): Promise<SnapshotInfo> {
    if (info.name === '') throw new InvalidArgumentError('snapshot name must not be empty');
    const rec = await this.db.update(async (tx) => {
      const current = await this.sn.record(this.ns, info.name, tx);
      let labels: Labels;
      if (paths.length === 0) {
        labels = cleanLabels(info.labels);
      } else {
        labels = { ...current.labels };
        for (const path of paths) {
          if (path.startsWith('labels.')) setLabel(labels, path.slice('labels.'.length), info.labels[path.slice('labels.'.length)]);
          else if (path === 'labels') labels = cleanLabels(info.labels);
          else throw new InvalidArgumentError(`cannot update "${path}" field on snapshot "${info.name}"`);
        }
      }
      validateInfoLabels(labels);
      const next: SnapshotRecord = { ...current, labels, updatedAt: storeTime(tx.now) };
      tx.put(recordKey(this.ns, this.sn.name, info.name), next as unknown as Stored);
      return next;
    });
    return this.info(info.name, rec);
  }

  async usage(key: string): Promise<Usage> {
    return this.backend.usage((await this.sn.record(this.ns, key)).bkey);
  }

  async mounts(key: string): Promise<Mount[]> {
    return this.backend.mounts((await this.sn.record(this.ns, key)).bkey);
  }

  async upperDir(key: string): Promise<string> {
    return this.backend.upperDir((await this.sn.record(this.ns, key)).bkey);
  }

  prepare(key: string, parent: string, labels?: Labels): Promise<Mount[]> {
    return this.create('active', key, parent, labels);
  }

  view(key: string, parent: string, labels?: Labels): Promise<Mount[]> {
    return this.create('view', key, parent, labels);
  }

  private async create(kind: 'active' | 'view', key: string, parent: string, labels: Labels | undefined): Promise<Mount[]> {
    if (key === '') throw new InvalidArgumentError('snapshot key must not be empty');
    const clean = cleanLabels(labels);
    validateInfoLabels(clean);
    const bkey = `${this.ns}/${randomBytes(6).toString('hex')}/${key}`;
    let parentBkey = '';
    // Reserve the key in metadata first (so a racing prepare of the same key loses), then
    // create the backend snapshot; undo the reservation if the backend refuses.
    await this.db.update(async (tx) => {
      await tx.ensureNamespace(this.ns);
      const rk = recordKey(this.ns, this.sn.name, key);
      if (await tx.has(rk)) throw new AlreadyExistsError(`snapshot "${key}"`);
      if (parent !== '') {
        const p = (await tx.get(recordKey(this.ns, this.sn.name, parent))) as unknown as SnapshotRecord | undefined;
        if (!p) throw new NotFoundError(`parent snapshot ${parent} does not exist`);
        parentBkey = p.bkey;
        tx.put(childKey(this.ns, this.sn.name, parent, key), {});
      }
      await leaseResourceInTx(tx, this.ns, this.lease, { type: `snapshots/${this.sn.name}`, id: key });
      const at = storeTime(tx.now);
      const rec: SnapshotRecord = { bkey, parent, labels: clean, createdAt: at, updatedAt: at };
      tx.put(rk, rec as unknown as Stored);
    });
    try {
      return kind === 'active' ? await this.backend.prepare(bkey, parentBkey) : await this.backend.view(bkey, parentBkey);
    } catch (err) {
      await this.db.update(async (tx) => {
        tx.del(recordKey(this.ns, this.sn.name, key));
        if (parent !== '') tx.del(childKey(this.ns, this.sn.name, parent, key));
      });
      throw err;
    }
  }

  async commit(name: string, key: string, labels?: Labels): Promise<void> {
    const clean = cleanLabels(labels);
    validateInfoLabels(clean);
    const nameBkey = `${this.ns}/${randomBytes(6).toString('hex')}/${name}`;
    const nk = recordKey(this.ns, this.sn.name, name);
    // Record the name (under the caller's lease) before the backend creates it, so the
    // collector never meets a backend snapshot without a record.
    const rec = await this.db.update(async (tx) => {
      const current = await this.sn.record(this.ns, key, tx);
      if (await tx.has(nk)) throw new AlreadyExistsError(`snapshot "${name}"`);
      const at = storeTime(tx.now);
      const next: SnapshotRecord = { bkey: nameBkey, parent: current.parent, labels: clean, createdAt: at, updatedAt: at };
      tx.put(nk, next as unknown as Stored);
      await leaseResourceInTx(tx, this.ns, this.lease, { type: `snapshots/${this.sn.name}`, id: name });
      return current;
    });
    try {
      await this.backend.commit(nameBkey, rec.bkey);
    } catch (err) {
      await this.db.update(async (tx) => {
        tx.del(nk);
      });
      throw err;
    }
    await this.db.update(async (tx) => {
      tx.del(recordKey(this.ns, this.sn.name, key));
      if (rec.parent !== '') {
        tx.del(childKey(this.ns, this.sn.name, rec.parent, key));
        tx.put(childKey(this.ns, this.sn.name, rec.parent, name), {});
      }
    });
  }

  async remove(key: string): Promise<void> {
    const rec = await this.db.update(async (tx) => {
      const current = await this.sn.record(this.ns, key, tx);
      if ((await tx.scanRaw(childrenPrefix(this.ns, this.sn.name, key), 1)).length > 0) {
        throw new FailedPreconditionError('cannot remove snapshot with child');
      }
      tx.del(recordKey(this.ns, this.sn.name, key));
      if (current.parent !== '') tx.del(childKey(this.ns, this.sn.name, current.parent, key));
      return current;
    });
    // The metadata record is gone, and with it the snapshot as clients see it. The backend
    // snapshot goes now, without holding up the answer (its own synced write is ~0.5 ms of
    // every `ctr run --rm`; containerd leaves it to the next collection), or at the next
    // collection if the backend refuses (for instance while something still has it
    // mounted). Backend keys are never reused, and a crash before it is gone leaves an
    // orphan that the first collection after start-up sweeps.
    void this.backend.remove(rec.bkey).catch(() => this.sn.removed());
  }

  async *list(filters: readonly string[]): AsyncIterable<SnapshotInfo> {
    const filter = parseListFilters(filters);
    const prefix = snapshotPrefix(this.ns, this.sn.name);
    for await (const [k, s] of this.db.scan(prefix)) {
      const key = dec(k.slice(prefix.length));
      let info: SnapshotInfo;
      try {
        info = await this.info(key, s as unknown as SnapshotRecord);
      } catch (err) {
        if (err instanceof NotFoundError) continue;
        throw err;
      }
      if (filter.match(adaptFields({ kind: info.kind, name: info.name, parent: info.parent }, { labels: info.labels }))) yield info;
    }
  }

  async cleanup(): Promise<void> {
    await this.backend.cleanup();
  }

  async close(): Promise<void> {
    // The backend is shared by every namespace; the daemon closes it.
  }
}

/** Labels and times of records, for GC. */
export function snapshotRecordFrom(s: Stored): { bkey: string; parent: string; labels: Labels; createdAt: WallTime } {
  return { bkey: s.bkey as string, parent: (s.parent as string) ?? '', labels: labelsFrom(s), createdAt: timeFrom(s, 'createdAt') };
}
