import type { ContentStore } from '../content/store';
import { NotFoundError } from '../errdefs/errors';
import type { NamespacedContentStore } from './content';
import type { MetadataDB, Stored, WriteTx } from './db';
import { dec, leaseResourcePrefix, namespaceIndexPrefix, objectKey, objectPrefix } from './keys';
import { EXPIRE_LABEL } from './leases';
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

/** Mark and sweep one namespace inside tx; returns what it removed and the local ingest refs to abort. */
async function collectNamespace(tx: WriteTx, ns: string, now: Date, result: GcResult, abortRefs: string[]): Promise<void> {
  const contentPrefix = objectPrefix(ns, 'content');
  const records = new Map<string, Labels>();
  for (const [k, s] of await scanKeys(tx, contentPrefix)) {
    records.set(dec(k.slice(contentPrefix.length)), (s.labels as Labels | undefined) ?? {});
  }
  const marked = new Set<string>();
  const queue: string[] = [];
  const mark = (digest: string, follow: boolean): void => {
    if (!records.has(digest)) return;
    if (follow) {
      if (marked.has(digest)) return;
      marked.add(digest);
      queue.push(digest);
    } else {
      marked.add(digest);
    }
  };
  const liveIngests = new Set<string>();

  // Leases: expired ones go; live ones are roots for what they hold.
  const leasePrefix = objectPrefix(ns, 'leases');
  for (const [k, s] of await scanKeys(tx, leasePrefix)) {
    const id = dec(k.slice(leasePrefix.length));
    const labels = (s.labels as Labels | undefined) ?? {};
    const expire = labels[EXPIRE_LABEL] ? new Date(labels[EXPIRE_LABEL]) : undefined;
    const resPrefix = leaseResourcePrefix(ns, id);
    const resources = await tx.scanRaw(resPrefix);
    if (expire && !Number.isNaN(expire.getTime()) && expire.getTime() <= now.getTime()) {
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
    }
  }

  // Images: their target and what their labels reference.
  const imagePrefix = objectPrefix(ns, 'images');
  for (const [, s] of await scanKeys(tx, imagePrefix)) {
    const target = s.target as { digest?: string } | undefined;
    if (target?.digest) mark(target.digest, true);
    for (const d of contentRefs((s.labels as Labels | undefined) ?? {})) mark(d, true);
  }

  // Containers: their labels' references.
  for (const [, bytes] of await tx.scanRaw(objectPrefix(ns, 'containers'))) {
    for (const d of contentRefs(decodeContainer(bytes).labels)) mark(d, true);
  }

  // Content labelled as a root.
  for (const [digest, labels] of records) if (labels[GC_ROOT]) mark(digest, true);

  // Follow gc.ref.content edges.
  while (queue.length > 0) {
    const digest = queue.pop() as string;
    for (const d of contentRefs(records.get(digest) ?? {})) mark(d, true);
  }

  for (const digest of records.keys()) {
    if (!marked.has(digest)) {
      tx.del(objectKey(ns, 'content', digest));
      result.content++;
    }
  }

  // Ingests: kept while a live lease holds them or until their own expiry.
  const ingestPrefix = objectPrefix(ns, 'ingests');
  for (const [k, s] of await scanKeys(tx, ingestPrefix)) {
    const ref = dec(k.slice(ingestPrefix.length));
    const expireAt = typeof s.expireAt === 'string' ? new Date(s.expireAt) : undefined;
    const alive = liveIngests.has(ref) || (expireAt !== undefined && expireAt.getTime() > now.getTime());
    if (!alive) {
      tx.del(k);
      if (!s.shared) abortRefs.push(s.bref as string);
      result.ingests++;
    }
  }
}

export class GarbageCollector {
  constructor(
    private readonly db: MetadataDB,
    private readonly content: NamespacedContentStore,
    private readonly local: ContentStore,
  ) {}

  async collect(): Promise<GcResult> {
    const result: GcResult = { leases: 0, content: 0, ingests: 0, blobs: 0 };
    const abortRefs: string[] = [];
    await this.db.update(async (tx) => {
      const now = new Date();
      for (const [k] of await tx.scanRaw(namespaceIndexPrefix)) {
        await collectNamespace(tx, dec(k.slice(namespaceIndexPrefix.length)), now, result, abortRefs);
      }
    });
    for (const ref of abortRefs) {
      try {
        await this.local.abort(ref);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    result.blobs = await this.sweepDisk();
    return result;
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
