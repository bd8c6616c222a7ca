import { ClassicLevel } from 'classic-level';
import { FailedPreconditionError } from '../errdefs/errors';
import { levelError } from '../errdefs/fs';
import { namespaceKey, prefixEnd, SCHEMA_KEY, SCHEMA_VERSION } from './keys';
import { MIGRATIONS } from './migrations';
import { wallNow, type WallTime } from '../time/wall';
import { storeTime } from './codec';

/** A JSON value as stored under a key. */
export type Stored = Record<string, unknown>;

type Level = ClassicLevel<string, Buffer>;

/** Keys fetched per native call when scanning: one crossing per batch, not per key. */
const SCAN_BATCH = 1000;

/** A stored value, parsed (what get() returns for raw bytes from getRaw()). */
export function fromJSON(raw: Buffer): Stored {
  return JSON.parse(raw.toString('utf8')) as Stored;
}

function toJSON(value: Stored): Buffer {
  return Buffer.from(JSON.stringify(value), 'utf8');
}

async function* scanLevel(level: Level, prefix: string): AsyncGenerator<[string, Buffer]> {
  const it = level.iterator({ gte: prefix, lt: prefixEnd(prefix) });
  try {
    for (;;) {
      const batch = await it.nextv(SCAN_BATCH);
      if (batch.length === 0) return;
      for (const entry of batch) yield entry as [string, Buffer];
    }
  } finally {
    await it.close();
  }
}

/**
 * Everything LevelDB holds, in memory: the values by key, and the keys in order. Reads and
 * scans are answered from here without a trip through libuv's thread pool (a LevelDB
 * iterator costs one per batch, ~0.1-0.3 ms on a small machine, on every lease delete,
 * snapshot prepare and GC pass). The metadata is small (a container record is a few kB);
 * LevelDB stays the durable copy: the view changes only once a batch is on disk.
 */
export class CommittedView {
  private readonly values = new Map<string, Buffer>();
  /** Sorted (JavaScript string order; keys are ASCII, so LevelDB's order too). */
  private readonly keys: string[] = [];

  get size(): number {
    return this.keys.length;
  }

  get(key: string): Buffer | undefined {
    return this.values.get(key);
  }

  /** First index whose key is >= key. */
  private lowerBound(key: string): number {
    let lo = 0;
    let hi = this.keys.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.keys[mid] as string) < key) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  set(key: string, value: Buffer): void {
    if (!this.values.has(key)) {
      const n = this.keys.length;
      // Loading in LevelDB order appends; anything else is inserted in place.
      if (n === 0 || (this.keys[n - 1] as string) < key) this.keys.push(key);
      else this.keys.splice(this.lowerBound(key), 0, key);
    }
    this.values.set(key, value);
  }

  delete(key: string): void {
    if (!this.values.delete(key)) return;
    const i = this.lowerBound(key);
    if (this.keys[i] === key) this.keys.splice(i, 1);
  }

  /** A copy of the entries under prefix, in key order (a snapshot: later writes do not show). */
  range(prefix: string, limit = Infinity): Array<[string, Buffer]> {
    const out: Array<[string, Buffer]> = [];
    for (let i = this.lowerBound(prefix); i < this.keys.length && out.length < limit; i++) {
      const k = this.keys[i] as string;
      if (!k.startsWith(prefix)) break;
      out.push([k, this.values.get(k) as Buffer]);
    }
    return out;
  }
}

/**
 * One serialized write transaction. Reads see the transaction's own pending writes;
 * everything is committed as one LevelDB batch, so a failure halfway leaves nothing
 * half-written. Values are JSON records, or raw bytes for kinds kept in wire format.
 */
export class WriteTx {
  private readonly pending = new Map<string, Buffer | null>();
  private readonly touched = new Set<string>();

  constructor(
    private readonly view: CommittedView,
    /** Writes of earlier transactions that are committed but not yet flushed to disk. */
    private readonly unflushed: ReadonlyMap<string, Buffer | null>,
    /** The wall clock when the transaction began: after its caller's call started, so
     * times recorded from it are never earlier than the client's own clock before it. */
    readonly now: WallTime,
  ) {}

  async getRaw(key: string): Promise<Buffer | undefined> {
    if (this.pending.has(key)) return this.pending.get(key) ?? undefined;
    if (this.unflushed.has(key)) return this.unflushed.get(key) ?? undefined;
    return this.view.get(key);
  }

  async get(key: string): Promise<Stored | undefined> {
    const raw = await this.getRaw(key);
    return raw === undefined ? undefined : fromJSON(raw);
  }

  async has(key: string): Promise<boolean> {
    return (await this.getRaw(key)) !== undefined;
  }

  putRaw(key: string, value: Buffer): void {
    this.pending.set(key, value);
  }

  put(key: string, value: Stored): void {
    this.putRaw(key, toJSON(value));
  }

  del(key: string): void {
    this.pending.set(key, null);
  }

  /** Keys and raw values under prefix, merged with this transaction's pending writes, sorted. */
  async scanRaw(prefix: string, limit = Infinity): Promise<Array<[string, Buffer]>> {
    // Disk state and the unflushed writes are read at the same instant (synchronously):
    // a flush moves keys from one to the other, and a scan spread over both while a flush
    // completes would see a key in neither. (GC once lost a live snapshot that way.)
    const overlay: Array<[string, Buffer | null]> = [];
    for (const [k, v] of this.unflushed) if (k.startsWith(prefix)) overlay.push([k, v]);
    // Later writes can only add keys; enough committed ones plus them bound the result.
    const committed = this.view.range(prefix, limit + this.pending.size + overlay.length);
    if (overlay.length === 0 && this.pending.size === 0) return committed; // range stopped at limit
    const merged = new Map<string, Buffer>(committed);
    for (const layer of [overlay, this.pending]) {
      for (const [k, v] of layer) {
        if (!k.startsWith(prefix)) continue;
        if (v == null) merged.delete(k);
        else merged.set(k, v);
      }
    }
    const keys = [...merged.keys()].sort();
    return keys.slice(0, limit).map((k) => [k, merged.get(k) as Buffer]);
  }

  async scan(prefix: string, limit = Infinity): Promise<Array<[string, Stored]>> {
    return (await this.scanRaw(prefix, limit)).map(([k, v]) => [k, fromJSON(v)]);
  }

  /** Namespaces come into being on their first write, as in containerd. */
  async ensureNamespace(ns: string): Promise<void> {
    const key = namespaceKey(ns);
    if (this.touched.has(key) || (await this.has(key))) return;
    this.touched.add(key);
    const at = storeTime(this.now);
    this.put(key, { labels: {}, createdAt: at, updatedAt: at });
  }

  /** @internal The transaction's writes, key → value (null = delete). */
  writes(): ReadonlyMap<string, Buffer | null> {
    return this.pending;
  }
}

/** Writes waiting for the next fsync, and who waits for them. */
interface FlushGroup {
  writes: Map<string, Buffer | null>;
  waiters: Array<{ resolve(): void; reject(e: unknown): void }>;
}

export interface CommitInfo {
  /** Number of keys written or deleted. */
  changes: number;
  /** How many keys the transaction deleted (GC scheduling keys off this). */
  deletions: number;
  /** The deleted keys. */
  deleted: readonly string[];
}

/**
 * The LevelDB metadata database under <root>/meta. Writers are serialized (one
 * transaction at a time) because LevelDB has no transactions of its own; readers
 * read what is on disk, from its copy in memory (CommittedView).
 */
export class MetadataDB {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly unflushed = new Map<string, Buffer | null>();
  private nextGroup: FlushGroup | null = null;
  private flushing = false;
  private readonly commitListeners: Array<(info: CommitInfo) => void> = [];
  /** What is on disk, in memory (see CommittedView). */
  private readonly view = new CommittedView();

  private constructor(private readonly level: Level) {}

  static async open(dir: string): Promise<MetadataDB> {
    const level: Level = new ClassicLevel<string, Buffer>(dir, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
    await level.open();
    const db = new MetadataDB(level);
    try {
      await db.checkSchema();
      for await (const [k, v] of scanLevel(level, '')) db.view.set(k, v);
    } catch (err) {
      await level.close();
      throw err;
    }
    return db;
  }

  private async checkSchema(): Promise<void> {
    const raw = await this.level.get(SCHEMA_KEY);
    if (raw === undefined) {
      try {
        await this.level.put(SCHEMA_KEY, Buffer.from(String(SCHEMA_VERSION)), { sync: true });
      } catch (err) {
        throw levelError(err, this.level.location);
      }
      return;
    }
    let version = Number(raw.toString('utf8'));
    if (version > SCHEMA_VERSION) {
      throw new FailedPreconditionError(
        `metadata schema version ${version} is newer than this berthd supports (${SCHEMA_VERSION}); refusing to open`,
      );
    }
    // Older schemas step up one version at a time, each step one synced batch that also
    // records the new version: a crash leaves either the old records or the new ones.
    while (version < SCHEMA_VERSION) {
      const step = MIGRATIONS.get(version);
      if (!step) throw new FailedPreconditionError(`metadata schema version ${version} cannot be migrated`);
      const ops: Array<{ type: 'put'; key: string; value: Buffer } | { type: 'del'; key: string }> = [];
      for await (const [key, value] of scanLevel(this.level, '')) {
        if (key === SCHEMA_KEY) continue;
        const next = step(key, value);
        if (next === null) ops.push({ type: 'del', key });
        else if (next !== value) ops.push({ type: 'put', key, value: next });
      }
      version += 1;
      ops.push({ type: 'put', key: SCHEMA_KEY, value: Buffer.from(String(version)) });
      await this.level.batch(ops, { sync: true });
    }
  }

  // Reads are answered from the in-memory view of what is on disk (CommittedView).
  async getRaw(key: string): Promise<Buffer | undefined> {
    return this.view.get(key);
  }

  async get(key: string): Promise<Stored | undefined> {
    const raw = this.view.get(key);
    return raw === undefined ? undefined : fromJSON(raw);
  }

  /** Entries under prefix as of the call (later writes do not show), in key order. */
  async *scanRaw(prefix: string): AsyncGenerator<[string, Buffer]> {
    yield* this.view.range(prefix);
  }

  async *scan(prefix: string): AsyncGenerator<[string, Stored]> {
    for (const [k, v] of this.view.range(prefix)) yield [k, fromJSON(v)];
  }

  /**
   * Run fn in a serialized write transaction; its writes land atomically if it resolves,
   * and the returned promise settles once they are on disk.
   *
   * Group commit: transactions run one after another, but the next one need not wait for
   * the previous one's fsync — it reads the earlier writes from memory, and all writes
   * that accumulate while one flush is in progress go to disk together in the next
   * batch (one fsync for many creates under concurrent load). No client is told "done"
   * before its change is durable.
   */
  update<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    // A transaction reads the writes of earlier ones that are not on disk yet, so what it
    // answers may rest on them: an AlreadyExists for a record another create is flushing,
    // or a read-only answer. Its caller hears it only once those writes are durable too —
    // then a read right after it finds what it was told exists (containerd's bolt has
    // each commit on disk before the next transaction starts). The wait is off the write
    // queue: the next transaction does not wait for it.
    type Outcome = { ok: true; result: T; durable: Promise<void> } | { ok: false; error: unknown; durable: Promise<void> };
    const run = async (): Promise<Outcome> => {
      const tx = new WriteTx(this.view, this.unflushed, wallNow());
      try {
        const result = await fn(tx);
        const writes = tx.writes();
        return { ok: true, result, durable: writes.size > 0 ? this.enqueue(writes) : this.flushed() };
      } catch (error) {
        return { ok: false, error, durable: this.flushed() };
      }
    };
    const ran = this.queue.then(run, run);
    this.queue = ran;
    return ran.then(async (o) => {
      if (!o.ok) {
        await o.durable.catch(() => undefined);
        throw o.error;
      }
      await o.durable;
      return o.result;
    });
  }

  /** Settles once every write made so far is on disk (at once when none is pending). */
  private flushed(): Promise<void> {
    if (this.unflushed.size === 0) return Promise.resolve();
    return this.enqueue(new Map());
  }

  private enqueue(writes: ReadonlyMap<string, Buffer | null>): Promise<void> {
    for (const [k, v] of writes) this.unflushed.set(k, v);
    let group = this.nextGroup;
    if (!group) {
      group = { writes: new Map(), waiters: [] };
      this.nextGroup = group;
    }
    for (const [k, v] of writes) group.writes.set(k, v);
    const done = new Promise<void>((resolve, reject) => group.waiters.push({ resolve, reject }));
    if (!this.flushing) void this.flush();
    return done;
  }

  private async flush(): Promise<void> {
    while (this.nextGroup) {
      const group = this.nextGroup;
      this.nextGroup = null;
      this.flushing = true;
      const ops = [...group.writes].map(([key, value]) =>
        value == null ? { type: 'del' as const, key } : { type: 'put' as const, key, value },
      );
      try {
        // sync: on disk before anyone hears "done", as with containerd's bolt commits.
        // A group may hold only waiters for earlier writes (flushed()): nothing to write.
        if (ops.length > 0) await this.level.batch(ops, { sync: true });
        for (const o of ops) {
          if (o.type === 'del') this.view.delete(o.key);
          else this.view.set(o.key, o.value);
        }
        // Listeners first: whoever waits on this commit then sees their effect.
        const deleted = ops.filter((o) => o.type === 'del').map((o) => o.key);
        const info: CommitInfo = { changes: ops.length, deletions: deleted.length, deleted };
        if (ops.length > 0) for (const l of this.commitListeners) l(info);
        group.waiters.forEach((w) => w.resolve());
      } catch (err) {
        // The disk refused the batch: nobody in this group was acknowledged. Their writes
        // leave memory too, so later transactions stop seeing them. A full disk reads as
        // containerd's "write <file>: no space left on device".
        const failure = levelError(err, this.level.location);
        group.waiters.forEach((w) => w.reject(failure));
      } finally {
        // Forget what is now on disk, unless a later transaction overwrote it meanwhile
        // (then memory still holds the newer value, which the next flush writes).
        for (const [k, v] of group.writes) {
          if (this.unflushed.get(k) === v) this.unflushed.delete(k);
        }
        this.flushing = false;
      }
    }
  }

  onCommit(listener: (info: CommitInfo) => void): void {
    this.commitListeners.push(listener);
  }

  async close(): Promise<void> {
    await this.queue;
    while (this.flushing || this.nextGroup) await new Promise((r) => setImmediate(r));
    await this.level.close();
  }
}
