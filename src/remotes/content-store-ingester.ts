// The ContentIngester over berthd's in-process content store: a namespace's view of the
// NamespacedContentStore, writing under a lease (store.view(ns, leaseId)), so that what a
// pull writes is held by the lease until the image record refers to it, as containerd's
// client and CRI pull under a lease. withPullLease creates and removes that lease.

import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { AlreadyExistsError, NotFoundError, UnavailableError } from '../errdefs/errors';
import type { ContentStore, ContentWriter } from '../content/store';
import type { LeaseStore } from '../metadata/leases';
import { blobInfo, type ContentIngester, type IngestWriter, type OpenWriterOptions } from './ingester';

/**
 * A download's chunks (64 KiB socket reads) are written in batches of up to WRITE_BATCH
 * bytes, one writev each: one trip through the thread pool (and one thread wake-up) per
 * MiB instead of per chunk. And while a batch is written the next chunks are read off the
 * registry's socket, up to WRITE_WINDOW bytes not yet written, instead of the socket
 * stopping until the disk has each chunk (bench/cli-pull.ts).
 */
const WRITE_BATCH = 1 << 20;
/** writev takes at most IOV_MAX (1024) buffers. */
const MAX_BATCH_PARTS = 256;
const WRITE_WINDOW = 4 << 20;

class ContentStoreWriter implements IngestWriter {
  private batch: Uint8Array[] = [];
  private batchBytes = 0;
  private readonly inflight: Array<{ done: Promise<void>; bytes: number }> = [];
  private inflightBytes = 0;
  private failure: unknown;

  constructor(
    private readonly store: ContentStore,
    private readonly w: ContentWriter,
    private readonly expected: { digest: string; size: number },
    private at: number,
  ) {}

  /** Bytes handed to this writer so far (those not yet on disk included). */
  get offset(): number {
    return this.at + this.batchBytes;
  }

  async write(chunk: Uint8Array): Promise<void> {
    if (this.failure !== undefined) throw this.failure;
    if (chunk.length === 0) return;
    this.batch.push(chunk);
    this.batchBytes += chunk.length;
    if (this.batchBytes >= WRITE_BATCH || this.batch.length >= MAX_BATCH_PARTS) this.submit();
    while (this.inflightBytes > WRITE_WINDOW) await this.settleOldest();
    if (this.failure !== undefined) throw this.failure;
  }

  /** Starts writing the batch (the store's writer keeps writes in order). */
  private submit(): void {
    if (this.batch.length === 0) return;
    const parts = this.batch;
    const bytes = this.batchBytes;
    this.batch = [];
    this.batchBytes = 0;
    const at = this.at;
    this.at += bytes;
    const done = this.w.writev(parts, at).then((n) => {
      // The store's writer writes all it is given or fails.
      if (n !== bytes) throw new Error(`content writer ${this.w.ref} wrote ${n} of ${bytes} bytes at ${at}`);
    }).catch((err: unknown) => {
      if (this.failure === undefined) this.failure = err;
    });
    this.inflight.push({ done, bytes });
    this.inflightBytes += bytes;
  }

  private async settleOldest(): Promise<void> {
    const first = this.inflight.shift();
    if (!first) return;
    await first.done;
    this.inflightBytes -= first.bytes;
  }

  /** Writes what is batched and waits for every write; throws the first that failed. */
  async flush(): Promise<void> {
    this.submit();
    while (this.inflight.length > 0) await this.settleOldest();
    if (this.failure !== undefined) throw this.failure;
  }

  digest(): string {
    return this.w.digest();
  }

  async commit(labels: Record<string, string>): Promise<void> {
    await this.flush();
    try {
      await this.w.commit({ size: this.expected.size, expected: this.expected.digest, labels });
    } catch (err) {
      // Someone else committed the same blob meanwhile: it is there, with its labels.
      if (err instanceof AlreadyExistsError) {
        await this.store.update({ digest: this.expected.digest, labels }, Object.keys(labels).map((k) => `labels.${k}`));
        return;
      }
      throw err;
    }
  }

  async abort(): Promise<void> {
    await this.flush().catch(() => undefined);
    await this.w.close().catch(() => undefined);
    try {
      await this.store.abort(this.w.ref);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async close(): Promise<void> {
    // What was handed over is written first: a resumed pull continues after it.
    await this.flush().catch(() => undefined);
    await this.w.close();
  }
}

/** A ContentIngester over a ContentStore (for berthd: `content.view(namespace, leaseId)`). */
export function contentStoreIngester(store: ContentStore): ContentIngester {
  return {
    info: (digest: string) => blobInfo(store.info(digest)),

    readBlob(digest: string, size: number): Promise<Buffer> {
      return store.read(digest, 0, size);
    },

    async openWriter(opts: OpenWriterOptions): Promise<IngestWriter | { exists: true }> {
      let w: ContentWriter;
      try {
        w = await store.writer({ ref: opts.ref, total: opts.size, expected: opts.digest });
      } catch (err) {
        if (err instanceof AlreadyExistsError) return { exists: true };
        throw err;
      }
      try {
        const st = await w.status();
        let offset = st.offset;
        if (offset > opts.size || (st.expected !== '' && st.expected !== opts.digest)) {
          // Not a prefix of this blob: start over (a write at 0 truncates the ingest).
          await w.write(new Uint8Array(0), 0);
          offset = 0;
        }
        w.setExpectation(opts.size, opts.digest);
        return new ContentStoreWriter(store, w, { digest: opts.digest, size: opts.size }, offset);
      } catch (err) {
        await w.close().catch(() => undefined);
        throw err;
      }
    },

    async setLabels(digest: string, labels: Record<string, string>): Promise<void> {
      await store.update({ digest, labels }, Object.keys(labels).map((k) => `labels.${k}`));
    },
  };
}

/** containerd's lease expiry label: a lease a crashed pull leaves behind stops protecting after it. */
const EXPIRE_LABEL = 'containerd.io/gc.expire';
/** containerd's client.WithLease: 24 h. */
const PULL_LEASE_TTL_MS = 24 * 3600 * 1000;

export interface PullLeaseOptions {
  /** Called after the lease is gone, so garbage collection can collect what nothing else holds (berthd: gc.schedule). */
  onReleased?: () => void;
}

/**
 * Run fn under a new lease in namespace ns (fn gets the lease id: write through
 * `content.view(ns, leaseId)` and create the image record inside fn). The lease is
 * deleted afterwards, whatever happened: on success the image record holds the blobs, on
 * failure nothing does and garbage collection removes them.
 */
export async function withPullLease<T>(leases: LeaseStore, ns: string, fn: (leaseId: string) => Promise<T>, opts: PullLeaseOptions = {}): Promise<T> {
  const id = `pull-${Date.now().toString(36)}-${randomBytes(4).toString('hex')}`;
  const expire = new Date(Date.now() + PULL_LEASE_TTL_MS).toISOString().replace(/\.\d{3}Z$/, 'Z');
  await leases.create(ns, id, { [EXPIRE_LABEL]: expire });
  try {
    return await fn(id);
  } finally {
    try {
      await leases.delete(ns, id);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    opts.onReleased?.();
  }
}

/** Longest a pull waits for another pull's ingest of the same blob (containerd waits for as long as the call lives). */
const LOCKED_REF_WAIT_MS = 15 * 60 * 1000;

/**
 * containerd's content.OpenWriter: an ingest ref another pull is writing (Unavailable,
 * "ref … locked") is waited for with a randomised, doubling back-off (16 ms … 2 s) instead
 * of failing this pull; once the other pull commits, the blob exists and is not fetched
 * again. kubelet and critest pull the same image for several pods at once, and so may two
 * transfers.
 */
export function waitForLockedRefs(ingester: ContentIngester): ContentIngester {
  return {
    ...ingester,
    openWriter: async (o) => {
      const deadline = Date.now() + LOCKED_REF_WAIT_MS;
      let retry = 16;
      for (;;) {
        try {
          return await ingester.openWriter(o);
        } catch (err) {
          if (!(err instanceof UnavailableError) || Date.now() > deadline) throw err;
        }
        await sleep(Math.floor(Math.random() * retry));
        if (retry < 2048) retry *= 2;
      }
    },
  };
}
