// The ContentIngester over berthd's in-process content store: a namespace's view of the
// NamespacedContentStore, writing under a lease (store.view(ns, leaseId)), so that what a
// pull writes is held by the lease until the image record refers to it, as containerd's
// client and CRI pull under a lease. withPullLease creates and removes that lease.

import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, NotFoundError } from '../errdefs/errors';
import type { ContentStore, ContentWriter } from '../content/store';
import type { LeaseStore } from '../metadata/leases';
import { blobInfo, type ContentIngester, type IngestWriter, type OpenWriterOptions } from './ingester';

class ContentStoreWriter implements IngestWriter {
  constructor(
    private readonly store: ContentStore,
    private readonly w: ContentWriter,
    private readonly expected: { digest: string; size: number },
    private at: number,
  ) {}

  get offset(): number {
    return this.at;
  }

  async write(chunk: Uint8Array): Promise<void> {
    let done = 0;
    while (done < chunk.length) {
      const part = done === 0 ? chunk : chunk.subarray(done);
      const n = await this.w.write(part, this.at);
      if (n <= 0) throw new Error(`content writer ${this.w.ref} accepted no bytes at ${this.at}`);
      done += n;
      this.at += n;
    }
  }

  digest(): string {
    return this.w.digest();
  }

  async commit(labels: Record<string, string>): Promise<void> {
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
    await this.w.close().catch(() => undefined);
    try {
      await this.store.abort(this.w.ref);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
  }

  async close(): Promise<void> {
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
