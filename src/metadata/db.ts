import { ClassicLevel } from 'classic-level';
import { FailedPreconditionError } from '../errdefs/errors';
import { namespaceKey, prefixEnd, SCHEMA_KEY, SCHEMA_VERSION } from './keys';

/** A JSON value as stored under a key. */
export type Stored = Record<string, unknown>;

type Level = ClassicLevel<string, string>;

/**
 * One serialized write transaction. Reads see the transaction's own pending writes;
 * everything is committed as one LevelDB batch, so a failure halfway leaves nothing
 * half-written.
 */
export class WriteTx {
  private readonly pending = new Map<string, string | null>();
  private readonly touched = new Set<string>();

  constructor(private readonly level: Level, readonly now: Date) {}

  async get(key: string): Promise<Stored | undefined> {
    if (this.pending.has(key)) {
      const v = this.pending.get(key);
      return v == null ? undefined : (JSON.parse(v) as Stored);
    }
    const raw = await this.level.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as Stored);
  }

  async has(key: string): Promise<boolean> {
    return (await this.get(key)) !== undefined;
  }

  put(key: string, value: Stored): void {
    this.pending.set(key, JSON.stringify(value));
  }

  del(key: string): void {
    this.pending.set(key, null);
  }

  /** Keys (and values) under prefix, merged with this transaction's pending writes, sorted. */
  async scan(prefix: string, limit = Infinity): Promise<Array<[string, Stored]>> {
    const merged = new Map<string, string>();
    for await (const [k, v] of this.level.iterator({ gte: prefix, lt: prefixEnd(prefix) })) {
      merged.set(k, v);
    }
    for (const [k, v] of this.pending) {
      if (!k.startsWith(prefix)) continue;
      if (v == null) merged.delete(k);
      else merged.set(k, v);
    }
    const keys = [...merged.keys()].sort();
    return keys.slice(0, limit).map((k) => [k, JSON.parse(merged.get(k) as string) as Stored]);
  }

  /** Namespaces come into being on their first write, as in containerd. */
  async ensureNamespace(ns: string): Promise<void> {
    const key = namespaceKey(ns);
    if (this.touched.has(key) || (await this.has(key))) return;
    this.touched.add(key);
    const at = this.now.toISOString();
    this.put(key, { labels: {}, createdAt: at, updatedAt: at });
  }

  /** @internal */
  toBatch(): Array<{ type: 'put'; key: string; value: string } | { type: 'del'; key: string }> {
    return [...this.pending].map(([key, value]) =>
      value == null ? { type: 'del' as const, key } : { type: 'put' as const, key, value },
    );
  }

  get size(): number {
    return this.pending.size;
  }
}

export interface CommitInfo {
  /** Number of keys written or deleted. */
  changes: number;
  /** Whether the transaction deleted anything (GC scheduling keys off this). */
  deletions: number;
}

/**
 * The LevelDB metadata database under <root>/meta. Writers are serialized (one
 * transaction at a time) because LevelDB has no transactions of its own; readers
 * read committed state directly.
 */
export class MetadataDB {
  private queue: Promise<unknown> = Promise.resolve();
  private readonly commitListeners: Array<(info: CommitInfo) => void> = [];

  private constructor(private readonly level: Level) {}

  static async open(dir: string): Promise<MetadataDB> {
    const level: Level = new ClassicLevel<string, string>(dir, { keyEncoding: 'utf8', valueEncoding: 'utf8' });
    await level.open();
    const db = new MetadataDB(level);
    try {
      await db.checkSchema();
    } catch (err) {
      await level.close();
      throw err;
    }
    return db;
  }

  private async checkSchema(): Promise<void> {
    const raw = await this.level.get(SCHEMA_KEY);
    if (raw === undefined) {
      await this.level.put(SCHEMA_KEY, String(SCHEMA_VERSION));
      return;
    }
    const version = Number(raw);
    if (version > SCHEMA_VERSION) {
      throw new FailedPreconditionError(
        `metadata schema version ${version} is newer than this berthd supports (${SCHEMA_VERSION}); refusing to open`,
      );
    }
    // Older versions would be migrated here, in one batch per step.
  }

  async get(key: string): Promise<Stored | undefined> {
    const raw = await this.level.get(key);
    return raw === undefined ? undefined : (JSON.parse(raw) as Stored);
  }

  async *scan(prefix: string): AsyncGenerator<[string, Stored]> {
    for await (const [k, v] of this.level.iterator({ gte: prefix, lt: prefixEnd(prefix) })) {
      yield [k, JSON.parse(v) as Stored];
    }
  }

  /** Run fn in a serialized write transaction; its writes land atomically if it resolves. */
  update<T>(fn: (tx: WriteTx) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      const tx = new WriteTx(this.level, new Date());
      const result = await fn(tx);
      const ops = tx.toBatch();
      if (ops.length > 0) {
        // sync: the batch is on disk before the client hears "done", as with containerd's
        // bolt commits; a power cut cannot lose an acknowledged change.
        await this.level.batch(ops, { sync: true });
        const info = { changes: ops.length, deletions: ops.filter((o) => o.type === 'del').length };
        for (const l of this.commitListeners) l(info);
      }
      return result;
    };
    const next = this.queue.then(run, run);
    this.queue = next.catch(() => undefined);
    return next;
  }

  onCommit(listener: (info: CommitInfo) => void): void {
    this.commitListeners.push(listener);
  }

  async close(): Promise<void> {
    await this.queue;
    await this.level.close();
  }
}
