// The pull pipeline's ContentIngester (src/remotes/ingester.ts) over containerd's Content
// service: an ingest is one Content.Write stream (STAT for the resume offset, WRITEs at the
// current offset, COMMIT with the expected digest, size and labels), as the Go client's
// remote content writer. Calls carry the client's lease, which holds what the pull writes.
import { AlreadyExistsError, FailedPreconditionError } from '../errdefs/errors';
import { blobInfo, type ContentIngester, type IngestWriter, type OpenWriterOptions } from '../remotes/ingester';
import type { ContentStore } from './content';
import { Services, type Rpc } from './rpc';

const WRITE_CHUNK = 1 << 20;

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
        const writer: IngestWriter = {
          get offset() {
            return offset;
          },
          async write(chunk) {
            const buf = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
            for (let at = 0; at < buf.length; at += WRITE_CHUNK) {
              const part = buf.subarray(at, at + WRITE_CHUNK);
              await call.send({ action: 'WRITE', ref: o.ref, offset, data: part });
              await reply();
              offset += part.length;
            }
          },
          async commit(labels) {
            try {
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
