import type { Readable } from 'node:stream';
import type { ContentInfo, IngestStatus } from './records';
import { AlreadyExistsError, FailedPreconditionError } from '../errdefs/errors';
import type { CallOptions } from './call-options';
import { Services, type Rpc } from './rpc';

export type { ContentInfo, IngestStatus };

interface WriteReply {
  action: string;
  offset: number;
  total: number;
  digest: string;
}

/** The chunk size of Content.Write requests (containerd's client copies in 1 MiB pieces). */
const WRITE_CHUNK = 1 << 20;

export interface ContentWriteOptions extends CallOptions {
  /** The digest the data must have ("sha256:…"); computed from the data if not given. */
  expected?: string;
  /** The total size, if known: the daemon checks it at commit. */
  total?: number;
  labels?: Record<string, string>;
  /** The ingest ref (resumable); defaults to the expected digest or a random ref. */
  ref?: string;
}

/** The Content service: blobs by digest. */
export class ContentStore {
  constructor(private readonly rpc: Rpc) {}

  async info(digest: string, opts?: CallOptions): Promise<ContentInfo> {
    const r = await this.rpc.unary<{ info: ContentInfo }>(Services.content, 'Info', { digest }, opts);
    return r.info;
  }

  async *list(filters: string[] = [], opts?: CallOptions): AsyncGenerator<ContentInfo> {
    for await (const m of this.rpc.stream<{ info: ContentInfo[] }>(Services.content, 'List', { filters }, opts)) yield* m.info;
  }

  /** Replaces labels (all, or the `labels.<key>` paths given). */
  async setLabels(digest: string, labels: Record<string, string>, paths?: string[], opts?: CallOptions): Promise<ContentInfo> {
    const r = await this.rpc.unary<{ info: ContentInfo }>(
      Services.content,
      'Update',
      { info: { digest, labels }, update_mask: { paths: paths ?? ['labels'] } },
      opts,
    );
    return r.info;
  }

  async delete(digest: string, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.content, 'Delete', { digest }, opts);
  }

  /** The blob's bytes from offset (size 0: to the end), as they arrive. */
  async *read(digest: string, o: { offset?: number; size?: number } & CallOptions = {}): AsyncGenerator<Buffer> {
    for await (const m of this.rpc.stream<{ offset: number; data: Buffer }>(
      Services.content,
      'Read',
      { digest, offset: o.offset ?? 0, size: o.size ?? 0 },
      o,
    )) {
      yield m.data;
    }
  }

  /** The blob as a Node Readable. */
  reader(digest: string, o: { offset?: number; size?: number } & CallOptions = {}): Readable {
    // node:stream loaded here, not with this module: a run reads blobs, never as a stream.
    const { Readable: NodeReadable } = require('node:stream') as typeof import('node:stream');
    return NodeReadable.from(this.read(digest, o), { objectMode: false });
  }

  /** The whole blob in memory (manifests, configs). */
  async readAll(digest: string, opts?: CallOptions): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const b of this.read(digest, opts)) parts.push(b);
    return Buffer.concat(parts);
  }

  async statuses(filters: string[] = [], opts?: CallOptions): Promise<IngestStatus[]> {
    const r = await this.rpc.unary<{ statuses: IngestStatus[] }>(Services.content, 'ListStatuses', { filters }, opts);
    return r.statuses;
  }

  async abort(ref: string, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.content, 'Abort', { ref }, opts);
  }

  /**
   * Writes a blob through one Content.Write stream, as the Go client's content.WriteBlob
   * does: STAT (resuming an ingest of the same ref at its offset), WRITEs, then COMMIT
   * with the digest and labels. A blob that already exists is not an error. Returns the
   * digest.
   */
  async write(data: Buffer | AsyncIterable<Buffer>, o: ContentWriteOptions = {}): Promise<string> {
    // Loaded when needed: node:crypto costs the CLI ~4 ms to load.
    const hash = (require('node:crypto') as typeof import('node:crypto')).createHash('sha256');
    const ref = o.ref ?? o.expected ?? `berth-client-${process.pid}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    const call = this.rpc.open<object, WriteReply>(Services.content, 'Write', o);
    const reply = async (): Promise<WriteReply> => {
      const r = await call.next();
      if (r === undefined) throw new FailedPreconditionError(`content write ${ref}: stream ended early`);
      return r;
    };
    try {
      await call.send({ action: 'STAT', ref, total: o.total ?? 0, expected: o.expected ?? '' });
      const stat = await reply();
      let offset = 0;
      // A resumable ingest may already hold a prefix: skip that much of the data. The
      // daemon checks the digest over all bytes at commit, so nothing is trusted blindly.
      let skip = stat.offset;
      const chunks: AsyncIterable<Buffer> = Buffer.isBuffer(data) ? (async function* () { yield data; })() : data;
      for await (const chunk of chunks) {
        hash.update(chunk);
        let piece = chunk;
        if (skip > 0) {
          const n = Math.min(skip, piece.length);
          skip -= n;
          offset += n;
          piece = piece.subarray(n);
        }
        for (let at = 0; at < piece.length; at += WRITE_CHUNK) {
          const part = piece.subarray(at, at + WRITE_CHUNK);
          await call.send({ action: 'WRITE', ref, offset, data: part });
          offset += part.length;
          await reply();
        }
      }
      const digest = o.expected ?? `sha256:${hash.digest('hex')}`;
      // COMMIT carries the current offset: an offset of 0 would mean "truncate to 0" to
      // containerd's Write service, as for WRITE.
      await call.send({ action: 'COMMIT', ref, offset, total: o.total ?? offset, expected: digest, labels: o.labels ?? {} });
      await reply();
      call.end();
      await call.done;
      return digest;
    } catch (err) {
      call.fail(err);
      if (err instanceof AlreadyExistsError && o.expected) return o.expected;
      throw err;
    }
  }
}
