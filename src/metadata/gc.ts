import type { ContentStore } from '../content/store';
import { NotFoundError } from '../errdefs/errors';
import type { NamespacedContentStore } from './content';
import type { MetadataDB, Stored, WriteTx } from './db';
import { dec, enc, leaseResourcePrefix, namespaceIndexPrefix, objectKey, objectPrefix } from './keys';
import { snapshotRecordFrom } from './snapshots';
import type { SnapshotterBackend } from '../snapshotter/snapshotter';
import { leaseExpiry } from './leases';
import { compareWall, parseWall, type WallTime } from '../time/wall';
import { decodeContainer } from './container-codec';
import type { Labels } from './records';

// Mark-and-sweep garbage collection over metadata references, containerd's model
// (reference §12.2). Roots per namespace: live leases and what they hold, images, containers,
// content labelled gc.root, ingests not yet expired. Edges: gc.ref.content labels. The
// sweep removes unreachable content records, ingests and expired leases in one
// transaction, then blobs and ingests on disk that no namespace records any more.

const GC_ROOT = 'containerd.io/gc.root';
const GC_FLAT = 'containerd.io/gc.flat';
const REF_CONTENT = 'containerd.io/gc.ref.content';

export interface GcResult {
  /** Expired leases removed. */
  leases: number;
  content: number;
  ingests: number;
  blobs: number;
  snapshots: number;
}

/** Digests a set of labels points to through gc.ref.content[.*]. */
export function contentRefs(labels: Labels): string[] {
  const out: string[] = [];
  for (const [k, v] of Object.entries(labels)) {
    if (k === REF_CONTENT || k.startsWith(`${REF_CONTENT}.`)) out.push(v);
  }
  return out;
}

async function scanKeys(tx: WriteTx, prefix: string): Promise<Array<[string, Stored]>> {
  return tx.scan(prefix);
}

const REF_SNAPSHOT = 'containerd.io/gc.ref.snapshot.';

/** Snapshots a set of labels points to: gc.ref.snapshot.<snapshotter>[/<suffix>] = key. */
export function snapshotRefs(labels: Labels): Array<{ snapshotter: string; key: string }> {
  const out: Array<{ snapshotter: string; key: string }> = [];
  for (const [k, v] of Object.entries(labels)) {
    if (!k.startsWith(REF_SNAPSHOT)) continue;
    const snapshotter = k.slice(REF_SNAPSHOT.length).split('/')[0] as string;
    if (snapshotter) out.push({ snapshotter, key: v });
  }
  return out;
}

/** A backend snapshot that lost its last metadata record, to remove after the transaction. */
export interface DoomedSnapshot {
  snapshotter: string;
  bkey: string;
  depth: number;
}

/** Mark and sweep one namespace inside tx. */
async function collectNamespace(
  tx: WriteTx,
  ns: string,
  now: WallTime,
  result: GcResult,
  abortRefs: string[],
  doomedSnapshots: DoomedSnapshot[],
): Promise<void> {
  const contentPrefix = objectPrefix(ns, 'content');
  const records = new Map<string, Labels>();
  for (const [k, s] of await scanKeys(tx, contentPrefix)) {
    records.set(dec(k.slice(contentPrefix.length)), (s.labels as Labels | undefined) ?? {});
  }
  // Snapshots by "<snapshotter>/<key>".
  const snapPrefix = objectPrefix(ns, 'snapshots');
  const snaps = new Map<string, { snapshotter: string; key: string; storeKey: string; rec: ReturnType<typeof snapshotRecordFrom> }>();
  for (const [k, s] of await scanKeys(tx, snapPrefix)) {
    const [snapshotter, key] = k.slice(snapPrefix.length).split('/').map(dec) as [string, string];
    snaps.set(`${snapshotter}/${key}`, { snapshotter, key, storeKey: k, rec: snapshotRecordFrom(s) });
  }

  const marked = new Set<string>();
  const markedSnaps = new Set<string>();
  const queue: Array<{ kind: 'content' | 'snapshot'; id: string }> = [];
  const mark = (digest: string, follow: boolean): void => {
    if (!records.has(digest) || marked.has(digest)) return;
    marked.add(digest);
    if (follow) queue.push({ kind: 'content', id: digest });
  };
  const markSnap = (snapshotter: string, key: string, follow: boolean): void => {
    const id = `${snapshotter}/${key}`;
    if (!snaps.has(id) || markedSnaps.has(id)) return;
    markedSnaps.add(id);
    // A snapshot always needs its parent, even when reached through a flat lease.
    const parent = snaps.get(id)?.rec.parent;
    if (parent) markSnap(snapshotter, parent, follow);
    if (follow) queue.push({ kind: 'snapshot', id });
  };
  const markLabels = (labels: Labels): void => {
    for (const d of contentRefs(labels)) mark(d, true);
    for (const r of snapshotRefs(labels)) markSnap(r.snapshotter, r.key, true);
  };
  const liveIngests = new Set<string>();

  // Leases: expired ones go; live ones are roots for what they hold.
  const leasePrefix = objectPrefix(ns, 'leases');
  for (const [k, s] of await scanKeys(tx, leasePrefix)) {
    const id = dec(k.slice(leasePrefix.length));
    const labels = (s.labels as Labels | undefined) ?? {};
    const expire = leaseExpiry(labels);
    const resPrefix = leaseResourcePrefix(ns, id);
    const resources = await tx.scanRaw(resPrefix);
    if (expire && compareWall(expire, now) <= 0) {
      tx.del(k);
      for (const [rk] of resources) tx.del(rk);
      result.leases++;
      continue;
    }
    const flat = Boolean(labels[GC_FLAT]);
    for (const [rk] of resources) {
      const [type, rid] = rk.slice(resPrefix.length).split('/').map(dec) as [string, string];
      if (type === 'content') mark(rid, !flat);
      else if (type === 'ingests') liveIngests.add(rid);
      else if (type.startsWith('snapshots/')) markSnap(type.slice('snapshots/'.length), rid, !flat);
    }
  }

  // Images: their target and what their labels reference.
  const imagePrefix = objectPrefix(ns, 'images');
  for (const [, s] of await scanKeys(tx, imagePrefix)) {
    const target = s.target as { digest?: string } | undefined;
    if (target?.digest) mark(target.digest, true);
    markLabels((s.labels as Labels | undefined) ?? {});
  }

  // Containers: their root filesystem snapshot and their labels' references.
  for (const [, bytes] of await tx.scanRaw(objectPrefix(ns, 'containers'))) {
    const c = decodeContainer(bytes);
    if (c.snapshotter && c.snapshotKey) markSnap(c.snapshotter, c.snapshotKey, true);
    markLabels(c.labels);
  }

  // Content and snapshots labelled as roots.
  for (const [digest, labels] of records) if (labels[GC_ROOT]) mark(digest, true);
  for (const [, sn] of snaps) if (sn.rec.labels[GC_ROOT]) markSnap(sn.snapshotter, sn.key, true);

  // Follow label edges from everything marked.
  while (queue.length > 0) {
    const n = queue.pop() as { kind: 'content' | 'snapshot'; id: string };
    markLabels(n.kind === 'content' ? (records.get(n.id) ?? {}) : (snaps.get(n.id)?.rec.labels ?? {}));
  }

  for (const digest of records.keys()) {
    if (!marked.has(digest)) {
      tx.del(objectKey(ns, 'content', digest));
      result.content++;
    }
  }

  const depth = (id: string): number => {
    let d = 0;
    for (let cur = snaps.get(id); cur && cur.rec.parent; cur = snaps.get(`${cur.snapshotter}/${cur.rec.parent}`)) d++;
    return d;
  };
  for (const [id, sn] of snaps) {
    if (markedSnaps.has(id)) continue;
    tx.del(sn.storeKey);
    if (sn.rec.parent) tx.del(`${objectPrefix(ns, 'snapshotchildren')}${enc(sn.snapshotter)}/${enc(sn.rec.parent)}/${enc(sn.key)}`);
    doomedSnapshots.push({ snapshotter: sn.snapshotter, bkey: sn.rec.bkey, depth: depth(id) });
    result.snapshots++;
  }

  // Ingests: kept while a live lease holds them or until their own expiry.
  const ingestPrefix = objectPrefix(ns, 'ingests');
  for (const [k, s] of await scanKeys(tx, ingestPrefix)) {
    const ref = dec(k.slice(ingestPrefix.length));
    const expireAt = typeof s.expireAt === 'string' ? parseWall(s.expireAt) : undefined;
    const alive = liveIngests.has(ref) || (expireAt !== undefined && compareWall(expireAt, now) > 0);
    if (!alive) {
      tx.del(k);
      if (!s.shared) abortRefs.push(s.bref as string);
      result.ingests++;
    }
  }
}

/** Deleted keys after which blobs or ingests on disk may have no owner: a content
 * record, or a namespace (its ingest records went with it). Commits and aborts delete
 * ingest records too, but leave nothing behind on disk. */
function ownerGone(key: string): boolean {
  return /^v1\/[^/]+\/content\//.test(key) || key.startsWith(namespaceIndexPrefix);
}

export class GarbageCollector {
  /**
   * Whether the next pass must look past the metadata, as containerd's dirty flags: at
   * the disk (blobs and ingests lose their owner only when a content record or a
   * namespace goes) and at the backend snapshotters (a snapshot loses its record without being
   * removed only when its removal failed). The first pass does both: a crash can leave
   * either behind. A pass that needs neither is one metadata transaction.
   */
  private contentDirty = true;
  private snapshotsDirty = true;

  constructor(
    private readonly db: MetadataDB,
    private readonly content: NamespacedContentStore,
    private readonly local: ContentStore,
    private readonly snapshotters: ReadonlyMap<string, SnapshotterBackend> = new Map(),
  ) {
    db.onCommit((info) => {
      if (!this.contentDirty && info.deleted.some(ownerGone)) this.contentDirty = true;
    });
  }

  /** A backend snapshot lost its record but could not be removed: the next pass sweeps
   * the backends. */
  snapshotOrphaned(): void {
    this.snapshotsDirty = true;
  }

  async collect(): Promise<GcResult> {
    const result: GcResult = { leases: 0, content: 0, ingests: 0, blobs: 0, snapshots: 0 };
    const abortRefs: string[] = [];
    const doomed: DoomedSnapshot[] = [];
    await this.db.update(async (tx) => {
      const now = tx.now;
      for (const [k] of await tx.scanRaw(namespaceIndexPrefix)) {
        await collectNamespace(tx, dec(k.slice(namespaceIndexPrefix.length)), now, result, abortRefs, doomed);
      }
    });
    // The transaction is on disk and its own deletions have marked the flags; what is
    // deleted from here on marks them for the next pass.
    const sweepSnapshots = this.snapshotsDirty || doomed.length > 0;
    const sweepContent = this.contentDirty;
    this.snapshotsDirty = false;
    this.contentDirty = false;
    try {
      if (sweepSnapshots) await this.removeSnapshots(doomed);
      for (const ref of abortRefs) {
        try {
          await this.local.abort(ref);
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      if (sweepContent) result.blobs = await this.sweepDisk();
    } catch (err) {
      if (sweepSnapshots) this.snapshotsDirty = true;
      if (sweepContent) this.contentDirty = true;
      throw err;
    }
    return result;
  }

  /** Remove backend snapshots whose records are gone, children before parents, then any
   * backend snapshot no record points at (left by a crash or a namespace removal). A
   * removal that fails (still mounted, say) is retried by a later pass. */
  private async removeSnapshots(doomed: DoomedSnapshot[]): Promise<void> {
    const failed = (): undefined => {
      this.snapshotsDirty = true;
      return undefined;
    };
    for (const d of doomed.sort((a, b) => b.depth - a.depth)) {
      await this.snapshotters.get(d.snapshotter)?.remove(d.bkey).catch(failed);
    }
    if (this.snapshotters.size === 0) return;
    // The backends are listed BEFORE the records are read: a snapshot is recorded before
    // its backend snapshot is created (prepare, commit), so every backend snapshot in a
    // list taken first has its record visible to the scan that follows, while a snapshot
    // being created meanwhile is simply not in the list. (The other order removed a
    // snapshot prepared between the two reads: 50 concurrent `ctr run -d` lost one.)
    const listed = new Map<string, Map<string, string>>();
    for (const [name, backend] of this.snapshotters) {
      const all = new Map<string, string>();
      for await (const info of backend.list([])) all.set(info.name, info.parent);
      listed.set(name, all);
    }
    const referenced = new Set<string>();
    for await (const [nk] of this.db.scanRaw(namespaceIndexPrefix)) {
      const ns = dec(nk.slice(namespaceIndexPrefix.length));
      for await (const [, s] of this.db.scan(objectPrefix(ns, 'snapshots'))) referenced.add(snapshotRecordFrom(s).bkey);
    }
    for (const [name, backend] of this.snapshotters) {
      const orphans: Array<{ name: string; depth: number }> = [];
      const all = listed.get(name) as Map<string, string>;
      const depthOf = (n: string): number => {
        let d = 0;
        for (let p = all.get(n); p; p = all.get(p)) d++;
        return d;
      };
      for (const n of all.keys()) if (!referenced.has(n)) orphans.push({ name: n, depth: depthOf(n) });
      for (const o of orphans.sort((a, b) => b.depth - a.depth)) await backend.remove(o.name).catch(failed);
      await backend.cleanup().catch(failed);
    }
  }

  /** Remove blobs no namespace records. Exclusive with commits, which put a blob on disk
   * before recording it. */
  private sweepDisk(): Promise<number> {
    return this.content.lock.write(async () => {
      const referenced = new Set<string>();
      const namespaces: string[] = [];
      for await (const [k] of this.db.scanRaw(namespaceIndexPrefix)) namespaces.push(dec(k.slice(namespaceIndexPrefix.length)));
      for (const ns of namespaces) for (const { digest } of await this.content.digests(ns)) referenced.add(digest);
      let removed = 0;
      const doomed: string[] = [];
      for await (const info of this.local.list([])) if (!referenced.has(info.digest)) doomed.push(info.digest);
      for (const digest of doomed) {
        try {
          await this.local.delete(digest);
          removed++;
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      // Ingests on disk that no namespace records (their namespace or record is gone).
      const live = new Set<string>();
      for (const ns of namespaces) for (const { record } of await this.content.ingestRecords(ns)) live.add(record.bref);
      for (const st of await this.local.listStatuses([])) {
        if (live.has(st.ref)) continue;
        try {
          await this.local.abort(st.ref);
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      return removed;
    });
  }
}
