// The pull pipeline's ContentIngester (src/remotes/ingester.ts) over containerd's Content
// service: an ingest is one Content.Write stream (STAT for the resume offset, WRITEs at the
// current offset, COMMIT with the expected digest, size and labels), as the Go client's
// remote content writer. Calls carry the client's lease, which holds what the pull writes.
import { AlreadyExistsError, FailedPreconditionError } from '../errdefs/errors';
import { blobInfo, type ContentIngester, type IngestWriter, type OpenWriterOptions } from '../remotes/ingester';
import type { ContentStore } from './content';
import { Services, type Rpc } from './rpc';

/** Bytes per WRITE request. A registry's body arrives in pieces of 16–64 KiB, and every
 * WRITE waits for its reply (as the Go client's remote writer): sending each piece as it
 * came made a 150 MB pull ~4000 round trips to the daemon; they are gathered into 1 MiB
 * requests, the size containerd's client copies in. */
const WRITE_CHUNK = 1 << 20;
/** WRITEs sent before the first of them is answered. The Go writer waits for each answer
 * before its next WRITE; a Node client that does the same leaves the daemon idle while it
 * encodes and frames the next MiB, and the stream ran at half ctr's speed (bench/cli-pull.ts).
 * The daemon handles a stream's requests in order, so the offsets stay right. */
const WRITES_IN_FLIGHT = 4;
/** WriteContentRequest.data's field number (containerd's content.proto). */
const WRITE_DATA_FIELD = 6;

interface WriteReply {
  offset: number;
  total: number;
  digest: string;
}

export function contentServiceIngester(rpc: Rpc, content: ContentStore): ContentIngester {
  return {
    info: (digest: string) => blobInfo(content.info(digest)),
    async readBlob(digest) {
      return content.readAll(digest);
    },
    async setLabels(digest, labels) {
      await content.setLabels(digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
    },
    async openWriter(o: OpenWriterOptions): Promise<IngestWriter | { exists: true }> {
      for (let attempt = 0; attempt < 2; attempt++) {
        const call = rpc.open<object, WriteReply>(Services.content, 'Write');
        const reply = async (): Promise<WriteReply> => {
          const r = await call.next();
          if (r === undefined) throw new FailedPreconditionError(`content write ${o.ref}: stream ended early`);
          return r;
        };
        let offset: number;
        try {
          await call.send({ action: 'STAT', ref: o.ref, total: o.size, expected: o.digest });
          offset = (await reply()).offset;
        } catch (err) {
          call.fail(err);
          if (err instanceof AlreadyExistsError) return { exists: true };
          throw err;
        }
        if (offset > o.size) {
          // More than the blob can hold: start over, as the Go writer truncates.
          call.end();
          await content.abort(o.ref).catch(() => undefined);
          continue;
        }
        let closed = false;
        // Bytes given to write() and not sent yet; `offset` counts what the daemon has
        // acknowledged, `sent` what is on its way (WRITEs whose replies are still due).
        let pending: Buffer[] = [];
        let pendingBytes = 0;
        let sent = offset;
        const unacked: number[] = [];
        const ackOne = async (): Promise<void> => {
          await reply();
          offset += unacked.shift()!;
        };
        /** Sends whole WRITE_CHUNKs of what is pending (the rest too when `all`), keeping at
         * most WRITES_IN_FLIGHT unanswered; with `all`, also waits for every answer. */
        /** Takes up to `n` bytes off the front of `pending`, as the chunks they are in. */
        const take = (n: number): Buffer[] => {
          const out: Buffer[] = [];
          while (n > 0) {
            const c = pending[0]!;
            if (c.length <= n) {
              out.push(c);
              pending.shift();
              n -= c.length;
              pendingBytes -= c.length;
            } else {
              out.push(c.subarray(0, n));
              pending[0] = c.subarray(n);
              pendingBytes -= n;
              n = 0;
            }
          }
          return out;
        };
        const flush = async (all: boolean): Promise<void> => {
          // Each WRITE goes out as its header and the chunks as they came (the data field
          // is not built by copying them into one buffer, and not copied again by the encoder).
          while (pendingBytes >= WRITE_CHUNK || (all && pendingBytes > 0)) {
            const n = Math.min(WRITE_CHUNK, pendingBytes);
            const parts = take(n);
            if (unacked.length >= WRITES_IN_FLIGHT) await ackOne();
            await call.sendWithBytes({ action: 'WRITE', ref: o.ref, offset: sent }, WRITE_DATA_FIELD, parts);
            sent += n;
            unacked.push(n);
          }
          if (all) while (unacked.length > 0) await ackOne();
        };
        const writer: IngestWriter = {
          get offset() {
            return offset;
          },
          // containerd's Content.Write commit checks size and expected digest itself.
          verifiesOnCommit: true,
          async write(chunk) {
            pending.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
            pendingBytes += chunk.byteLength;
            if (pendingBytes >= WRITE_CHUNK) await flush(false);
          },
          async commit(labels) {
            try {
              await flush(true);
              await call.send({ action: 'COMMIT', ref: o.ref, offset, total: o.size, expected: o.digest, labels });
              await reply();
              call.end();
              await call.done;
            } catch (err) {
              call.fail(err);
              if (err instanceof AlreadyExistsError) return;
              throw err;
            } finally {
              closed = true;
            }
          },
          async abort() {
            if (!closed) call.end();
            closed = true;
            await content.abort(o.ref).catch(() => undefined);
          },
          async close() {
            // What arrived stays in the ingest for a resume: send it first (best effort).
            if (!closed) await flush(true).catch(() => undefined);
            if (!closed) call.end();
            closed = true;
          },
        };
        return writer;
      }
      throw new FailedPreconditionError(`content write ${o.ref}: ingest holds more than ${o.size} bytes`);
    },
  };
}
