import { randomBytes } from 'node:crypto';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  UnavailableError,
} from '../errdefs/errors';
import { validateDigest } from '../content/digest';
import { parseListFilters } from '../filters/list';
import { adaptFields } from '../filters/adaptors';
import type {
  CommitOptions,
  ContentInfo,
  ContentReader,
  ContentStore,
  ContentWriter,
  IngestStatus,
  WriterOptions,
} from '../content/store';
import { fromJSON, type MetadataDB, type Stored, type WriteTx } from './db';
import { dec, objectKey, objectPrefix } from './keys';
import { cleanLabels, setLabel, validateInfoLabels } from './labels';
import { labelsFrom, storeTime, timeFrom } from './codec';
import { addWallMs, parseWall, type WallTime } from '../time/wall';
import { dropLeaseResourceInTx, leaseResourceInTx } from './leases';
import { RwLock } from './rwlock';
import type { Labels } from './records';

// The namespaced content store: blobs live once on disk (the local store) and each
// namespace records which of them it "has", with its own labels and times. In-flight
// writes (ingests) are namespaced too; on disk their ref is "<ns>/<random>/<ref>".

const CONTENT = 'content';
const INGESTS = 'ingests';
/** An ingest written without a lease is kept this long, then collected (containerd: 24 h). */
const UNLEASED_INGEST_TTL_MS = 24 * 3600 * 1000;

interface IngestRecord {
  /** The ref of the write in the local store. */
  bref: string;
  /** Set when the blob already existed on disk: nothing to write, commit just records it. */
  shared?: { digest: string; size: number };
  expireAt?: string;
  startedAt: string;
}

function infoFrom(digest: string, s: Stored): ContentInfo {
  return {
    digest,
    size: (s.size as number) ?? 0,
    labels: labelsFrom(s),
    createdAt: timeFrom(s, 'createdAt'),
    updatedAt: timeFrom(s, 'updatedAt'),
  };
}

export class NamespacedContentStore {
  /** Commits hold it shared; GC's disk sweep holds it exclusively. */
  readonly lock = new RwLock();
  /**
   * Content.Info and Content.Read parse the same few records over and over (`ctr run`
   * reads an image's index, manifest and config ten times each; ~15 µs of JSON and dates
   * apiece). Parsed records are kept by the stored bytes they came from: a record that
   * changes is new bytes, and one that goes takes its entry with it (WeakMap).
   */
  private readonly parsedInfo = new WeakMap<Buffer, ContentInfo>();

  constructor(
    readonly db: MetadataDB,
    readonly local: ContentStore,
    private readonly onDelete: () => void = () => undefined,
  ) {}

  /** The info a stored content record says (a copy: callers may change it). */
  infoOf(digest: string, raw: Buffer): ContentInfo {
    let info = this.parsedInfo.get(raw);
    if (!info) {
      info = infoFrom(digest, fromJSON(raw));
      this.parsedInfo.set(raw, info);
    }
    return { digest, size: info.size, labels: { ...info.labels }, createdAt: info.createdAt, updatedAt: info.updatedAt };
  }

  /** The content store as seen from a namespace, writing under an optional lease. */
  view(ns: string, lease?: string): ContentStore {
    return new NamespaceContentView(this, ns, lease, this.onDelete);
  }

  /** Digests recorded in a namespace. */
  async digests(ns: string): Promise<Array<{ digest: string; labels: Labels }>> {
    const prefix = objectPrefix(ns, CONTENT);
    const out: Array<{ digest: string; labels: Labels }> = [];
    for await (const [k, s] of this.db.scan(prefix)) out.push({ digest: dec(k.slice(prefix.length)), labels: labelsFrom(s) });
    return out;
  }

  async ingestRecords(ns: string): Promise<Array<{ ref: string; record: IngestRecord }>> {
    const prefix = objectPrefix(ns, INGESTS);
    const out: Array<{ ref: string; record: IngestRecord }> = [];
    for await (const [k, s] of this.db.scan(prefix)) {
      out.push({ ref: dec(k.slice(prefix.length)), record: s as unknown as IngestRecord });
    }
    return out;
  }
}

class NamespaceContentView implements ContentStore {
  constructor(
    private readonly parent: NamespacedContentStore,
    private readonly ns: string,
    private readonly lease: string | undefined,
    private readonly onDelete: () => void,
  ) {}

  private get db(): MetadataDB {
    return this.parent.db;
  }

  private get local(): ContentStore {
    return this.parent.local;
  }

  async info(digest: string): Promise<ContentInfo> {
    validateDigest(digest);
    const raw = await this.db.getRaw(objectKey(this.ns, CONTENT, digest));
    if (!raw) throw new NotFoundError(`content digest ${digest}`);
    return this.parent.infoOf(digest, raw);
  }

  async update(info: Pick<ContentInfo, 'digest' | 'labels'>, paths: readonly string[]): Promise<ContentInfo> {
    validateDigest(info.digest);
    return this.db.update(async (tx) => {
      const key = objectKey(this.ns, CONTENT, info.digest);
      const s = await tx.get(key);
      if (!s) throw new NotFoundError(`content digest ${info.digest}`);
      const current = infoFrom(info.digest, s);
      let labels: Labels;
      if (paths.length === 0) {
        labels = cleanLabels(info.labels);
      } else {
        labels = { ...current.labels };
        for (const path of paths) {
          if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            setLabel(labels, k, info.labels[k]);
          } else if (path === 'labels') {
            labels = cleanLabels(info.labels);
          } else {
            throw new InvalidArgumentError(`cannot update "${path}" field on content info "${info.digest}"`);
          }
        }
      }
      validateInfoLabels(labels);
      const next = { ...s, labels, updatedAt: storeTime(tx.now) };
      tx.put(key, next);
      return infoFrom(info.digest, next);
    });
  }

  async *list(filters: readonly string[]): AsyncIterable<ContentInfo> {
    const filter = parseListFilters(filters);
    const prefix = objectPrefix(this.ns, CONTENT);
    for await (const [k, s] of this.db.scan(prefix)) {
      const info = infoFrom(dec(k.slice(prefix.length)), s);
      if (filter.match(adaptFields({ digest: info.digest }, { labels: info.labels }))) yield info;
    }
  }

  async delete(digest: string): Promise<void> {
    validateDigest(digest);
    await this.db.update(async (tx) => {
      const key = objectKey(this.ns, CONTENT, digest);
      if (!(await tx.has(key))) throw new NotFoundError(`content digest ${digest}`);
      tx.del(key);
    });
    // The file goes when no namespace records it any more: garbage collection decides.
    this.onDelete();
  }

  async reader(digest: string): Promise<ContentReader> {
    await this.info(digest);
    return this.local.reader(digest);
  }

  async read(digest: string, offset: number, length: number): Promise<Buffer> {
    await this.info(digest);
    return this.local.read(digest, offset, length);
  }

  async writer(opts: WriterOptions): Promise<ContentWriter> {
    if (!opts.ref) throw new InvalidArgumentError('ref must not be empty');
    const expected = opts.expected ?? '';
    let total = opts.total ?? 0;
    return this.parent.lock.read(async () => {
      let shared: { digest: string; size: number } | undefined;
      if (expected !== '') {
        try {
          const st = await this.local.info(expected);
          if (total === 0 || total === st.size) {
            shared = { digest: expected, size: st.size };
            total = st.size;
          }
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
      }
      const outcome = await this.db.update(async (tx) => {
        if (expected !== '' && (await tx.has(objectKey(this.ns, CONTENT, expected)))) {
          // Already here: hold it under the caller's lease, then report AlreadyExists.
          await leaseResourceInTx(tx, this.ns, this.lease, { type: 'content', id: expected });
          return { exists: true as const };
        }
        await tx.ensureNamespace(this.ns);
        const key = objectKey(this.ns, INGESTS, opts.ref);
        const existing = (await tx.get(key)) as IngestRecord | undefined;
        const record: IngestRecord = existing ?? {
          bref: `${this.ns}/${randomBytes(6).toString('hex')}/${opts.ref}`,
          startedAt: storeTime(tx.now),
        };
        if (this.lease) {
          await leaseResourceInTx(tx, this.ns, this.lease, { type: 'ingests', id: opts.ref });
          delete record.expireAt;
        } else {
          record.expireAt = storeTime(addWallMs(tx.now, UNLEASED_INGEST_TTL_MS));
        }
        if (shared) record.shared = shared;
        else delete record.shared;
        tx.put(key, record as unknown as Stored);
        return { exists: false as const, record };
      });
      if (outcome.exists) throw new AlreadyExistsError(`content ${expected}`);
      const { record } = outcome;
      let inner: ContentWriter | undefined;
      try {
        inner = record.shared ? undefined : await this.local.writer({ ref: record.bref, total });
      } catch (err) {
        // Name the client's ref, not the on-disk one, in "ref … locked".
        if (err instanceof UnavailableError) throw new UnavailableError(err.context.replace(record.bref, opts.ref));
        throw err;
      }
      return new NamespacedWriter(this.parent, this.ns, this.lease, opts.ref, record, inner);
    });
  }

  async status(ref: string): Promise<IngestStatus> {
    const record = (await this.db.get(objectKey(this.ns, INGESTS, ref))) as IngestRecord | undefined;
    if (!record) throw new NotFoundError(`reference ${ref}`);
    return ingestStatus(this.local, ref, record);
  }

  async listStatuses(filters: readonly string[]): Promise<IngestStatus[]> {
    const filter = parseListFilters(filters);
    const out: IngestStatus[] = [];
    for (const { ref, record } of await this.parent.ingestRecords(this.ns)) {
      if (!filter.match(adaptFields({ ref }))) continue;
      try {
        out.push(await ingestStatus(this.local, ref, record));
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    return out;
  }

  async abort(ref: string): Promise<void> {
    const key = objectKey(this.ns, INGESTS, ref);
    const record = (await this.db.get(key)) as IngestRecord | undefined;
    if (!record) throw new NotFoundError(`reference ${ref}`);
    if (!record.shared) {
      try {
        await this.local.abort(record.bref);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
    }
    await this.db.update(async (tx) => {
      tx.del(key);
    });
  }
}

async function ingestStatus(local: ContentStore, ref: string, record: IngestRecord): Promise<IngestStatus> {
  if (record.shared) {
    const at: WallTime = parseWall(record.startedAt) ?? { seconds: 0, nanos: 0 };
    return { ref, offset: record.shared.size, total: record.shared.size, expected: record.shared.digest, startedAt: at, updatedAt: at };
  }
  const st = await local.status(record.bref);
  return { ...st, ref };
}

/** A write in a namespace: data goes to the local store, the commit is recorded in metadata. */
class NamespacedWriter implements ContentWriter {
  constructor(
    private readonly parent: NamespacedContentStore,
    private readonly ns: string,
    private readonly lease: string | undefined,
    readonly ref: string,
    private readonly record: IngestRecord,
    private inner: ContentWriter | undefined,
  ) {}

  private done = false;

  /**
   * A shared ingest (the blob already on disk) turns into a real one when the client writes
   * anyway: copy the first `keep` bytes of the existing blob into a fresh local ingest,
   * as containerd's createAndCopy does.
   */
  private async unshare(keep: number): Promise<ContentWriter> {
    const shared = this.record.shared as { digest: string; size: number };
    const w = await this.parent.local.writer({ ref: this.record.bref, total: shared.size });
    try {
      if ((await w.status()).offset > 0) await w.write(new Uint8Array(0), 0);
      if (keep > 0) {
        const r = await this.parent.local.reader(shared.digest);
        try {
          for (let at = 0; at < keep; ) {
            const chunk = await r.readAt(at, Math.min(1 << 20, keep - at));
            if (chunk.length === 0) break;
            at += await w.write(chunk, at);
          }
        } finally {
          await r.close();
        }
      }
    } catch (err) {
      await w.close();
      throw err;
    }
    delete this.record.shared;
    const key = objectKey(this.ns, INGESTS, this.ref);
    await this.parent.db.update(async (tx) => {
      if (await tx.has(key)) tx.put(key, this.record as unknown as Stored);
    });
    this.inner = w;
    return w;
  }

  async status(): Promise<IngestStatus> {
    if (this.inner) return { ...(await this.inner.status()), ref: this.ref };
    return ingestStatus(this.parent.local, this.ref, this.record);
  }

  digest(): string {
    return this.inner ? this.inner.digest() : (this.record.shared as { digest: string }).digest;
  }

  async write(data: Uint8Array, offset: number): Promise<number> {
    if (this.done) throw new FailedPreconditionError('cannot write on closed writer');
    if (this.inner) return this.inner.write(data, offset);
    if (data.length === 0 && offset !== 0) return 0;
    const shared = this.record.shared as { size: number };
    const w = await this.unshare(Math.min(offset, shared.size));
    return data.length > 0 ? w.write(data, offset) : 0;
  }

  async writev(parts: readonly Uint8Array[], offset: number): Promise<number> {
    if (this.done) throw new FailedPreconditionError('cannot write on closed writer');
    const w = this.inner ?? (await this.unshare(Math.min(offset, (this.record.shared as { size: number }).size)));
    return w.writev(parts, offset);
  }

  setExpectation(total: number, expected: string): void {
    this.inner?.setExpectation(total, expected);
  }

  /** Any commit, failed or not, ends the writer (as containerd's does) and frees the ref. */
  async commit(opts: CommitOptions): Promise<ContentInfo> {
    if (this.done) throw new FailedPreconditionError('cannot commit on closed writer');
    this.done = true;
    try {
      return await this.commitOnce(opts);
    } finally {
      await this.inner?.close().catch(() => undefined);
    }
  }

  private async commitOnce(opts: CommitOptions): Promise<ContentInfo> {
    const labels = cleanLabels(opts.labels);
    validateInfoLabels(labels);
    const size = opts.size ?? 0;
    const expected = opts.expected ?? '';
    return this.parent.lock.read(async () => {
      let actual: string;
      let committedSize: number;
      if (!this.inner) {
        const shared = this.record.shared as { digest: string; size: number };
        if (size !== 0 && size !== shared.size) {
          throw new FailedPreconditionError(`"${this.ref}" failed size validation: ${shared.size} != ${size}`);
        }
        if (expected !== '' && expected !== shared.digest) throw new FailedPreconditionError(`"${this.ref}" unexpected digest`);
        actual = shared.digest;
        committedSize = shared.size;
      } else {
        const st = await this.inner.status();
        if (size !== 0 && size !== st.offset) {
          throw new FailedPreconditionError(`"${this.ref}" failed size validation: ${st.offset} != ${size}`);
        }
        committedSize = st.offset;
        try {
          await this.inner.commit({ size: committedSize, expected });
        } catch (err) {
          if (!(err instanceof AlreadyExistsError)) throw err;
        }
        actual = this.inner.digest();
      }
      let alreadyHere = false;
      const info = await this.parent.db.update(async (tx: WriteTx) => {
        const key = objectKey(this.ns, CONTENT, actual);
        const existing = await tx.get(key);
        let rec: Stored;
        if (existing) {
          alreadyHere = true;
          rec = existing;
        } else {
          await tx.ensureNamespace(this.ns);
          const at = storeTime(tx.now);
          rec = { size: committedSize, labels, createdAt: at, updatedAt: at };
          tx.put(key, rec);
        }
        tx.del(objectKey(this.ns, INGESTS, this.ref));
        dropLeaseResourceInTx(tx, this.ns, this.lease, { type: 'ingests', id: this.ref });
        await leaseResourceInTx(tx, this.ns, this.lease, { type: 'content', id: actual });
        return infoFrom(actual, rec);
      });
      if (alreadyHere) throw new AlreadyExistsError(`content ${actual}`);
      return info;
    });
  }

  async close(): Promise<void> {
    this.done = true;
    await this.inner?.close();
  }
}
