import type { ServerDuplexStream } from '@grpc/grpc-js';
import type { ContentHandlers } from '../generated/types/containerd/services/content/v1/Content';
import type { Info } from '../generated/types/containerd/services/content/v1/Info';
import type { Status } from '../generated/types/containerd/services/content/v1/Status';
import type { InfoRequest__Output } from '../generated/types/containerd/services/content/v1/InfoRequest';
import type { UpdateRequest__Output } from '../generated/types/containerd/services/content/v1/UpdateRequest';
import type { ListContentRequest__Output } from '../generated/types/containerd/services/content/v1/ListContentRequest';
import type { ListContentResponse } from '../generated/types/containerd/services/content/v1/ListContentResponse';
import type { DeleteContentRequest__Output } from '../generated/types/containerd/services/content/v1/DeleteContentRequest';
import type { ReadContentRequest__Output } from '../generated/types/containerd/services/content/v1/ReadContentRequest';
import type { ReadContentResponse } from '../generated/types/containerd/services/content/v1/ReadContentResponse';
import type { StatusRequest__Output } from '../generated/types/containerd/services/content/v1/StatusRequest';
import type { ListStatusesRequest__Output } from '../generated/types/containerd/services/content/v1/ListStatusesRequest';
import type { WriteContentRequest__Output } from '../generated/types/containerd/services/content/v1/WriteContentRequest';
import type { WriteContentResponse } from '../generated/types/containerd/services/content/v1/WriteContentResponse';
import type { AbortRequest__Output } from '../generated/types/containerd/services/content/v1/AbortRequest';
import {
  AlreadyExistsError,
  BerthError,
  DataLossError,
  InvalidArgumentError,
  NotFoundError,
  OutOfRangeError,
  verbatim,
} from '../errdefs/errors';
import { digestProblem, validateDigest } from '../content/digest';
import { SYNC_READ_MAX } from '../content/local';
import type { ContentInfo, ContentStore, ContentWriter, IngestStatus } from '../content/store';
import { toWireTimestamp } from '../proto/timestamp';
import { EncodedMessage, lengthDelimited, varintField } from '../proto/encoded';
import { bidiStream, CancelledCall, serverStream, unary, type AllowEncoded, type CallContext } from './call';
import { publish, type ServiceDeps } from './context';

export const CONTENT_SERVICE = 'containerd.services.content.v1.Content';

/** Read responses carry at most this much, as containerd's 1 MiB copy buffer does. */
const READ_CHUNK = 1 << 20;
/** List sends infos in blocks of this many. */
const LIST_BLOCK = 100;

function infoToWire(i: ContentInfo, withUpdatedAt = true): Info {
  return {
    digest: i.digest,
    size: i.size,
    created_at: toWireTimestamp(i.createdAt),
    updated_at: withUpdatedAt ? toWireTimestamp(i.updatedAt) : toWireTimestamp(undefined),
    labels: i.labels,
  };
}

function statusToWire(s: IngestStatus): Status {
  return {
    started_at: toWireTimestamp(s.startedAt),
    updated_at: toWireTimestamp(s.updatedAt),
    ref: s.ref,
    offset: s.offset,
    total: s.total,
    expected: s.expected,
  };
}

/** Re-wrap an error's text under a prefix, keeping its class (errdefs.ToGRPCf). */
function withPrefix(err: unknown, prefix: string): unknown {
  if (err instanceof NotFoundError) return new NotFoundError(`${prefix}: ${err.context}`);
  return err;
}

export function contentService(deps: ServiceDeps): AllowEncoded<ContentHandlers> {
  const store = (ctx: CallContext): ContentStore => deps.content.view(ctx.namespace(), ctx.lease());
  return {
    Info: unary(deps.log, 'Content.Info', async (req: InfoRequest__Output, ctx) => {
      validateDigest(req.digest);
      return { info: infoToWire(await store(ctx).info(req.digest)) };
    }),

    Update: unary(deps.log, 'Content.Update', async (req: UpdateRequest__Output, ctx) => {
      const digest = req.info?.digest ?? '';
      validateDigest(digest);
      const info = await store(ctx).update({ digest, labels: req.info?.labels ?? {} }, req.update_mask?.paths ?? []);
      return { info: infoToWire(info) };
    }),

    List: serverStream<ListContentRequest__Output, ListContentResponse>(deps.log, 'Content.List', async (req, ctx, send) => {
      let block: Info[] = [];
      for await (const info of store(ctx).list(req.filters)) {
        // containerd leaves updated_at unset in List (observed).
        block.push(infoToWire(info, false));
        if (block.length >= LIST_BLOCK) {
          await send({ info: block });
          block = [];
        }
      }
      if (block.length > 0) await send({ info: block });
    }),

    Delete: unary(deps.log, 'Content.Delete', async (req: DeleteContentRequest__Output, ctx) => {
      const problem = digestProblem(req.digest);
      if (problem) throw verbatim(new InvalidArgumentError(problem));
      const ns = ctx.namespace();
      await store(ctx).delete(req.digest);
      publish(deps, ns, '/content/delete', 'containerd.events.ContentDelete', { digest: req.digest });
      return {};
    }),

    Read: serverStream<ReadContentRequest__Output, ReadContentResponse | EncodedMessage>(deps.log, 'Content.Read', async (req, ctx, send) => {
      const problem = digestProblem(req.digest);
      if (problem) throw verbatim(new InvalidArgumentError(`${req.digest}: ${problem}`));
      const cs = store(ctx);
      const info = await cs.info(req.digest);
      const offset = Math.max(0, req.offset);
      if (offset > info.size) throw verbatim(new OutOfRangeError(`read past object length ${info.size} bytes`));
      let size = req.size;
      if (size <= 0 || offset + size > info.size) size = info.size - offset;
      if (size === 0) return;
      if (size <= SYNC_READ_MAX) {
        // One response, read in place (see ContentStore.read): no fd kept across awaits.
        const data = await cs.read(req.digest, offset, size);
        if (data.length > 0) await send(readResponse(0, data));
        if (data.length < size) throw new DataLossError(`content ${req.digest} ended at ${offset + data.length} of ${info.size} bytes`);
        return;
      }
      const reader = await cs.reader(req.digest);
      try {
        const end = offset + size;
        // Read the next chunk while the current one goes out.
        let at = offset;
        let next = at < end ? reader.readAt(at, Math.min(READ_CHUNK, end - at)) : null;
        while (next) {
          const data = await next;
          if (data.length === 0) throw new DataLossError(`content ${req.digest} ended at ${at} of ${info.size} bytes`);
          const sent = at - offset;
          at += data.length;
          next = at < end ? reader.readAt(at, Math.min(READ_CHUNK, end - at)) : null;
          await send(readResponse(sent, data));
        }
      } finally {
        await reader.close();
      }
    }),

    Status: unary(deps.log, 'Content.Status', async (req: StatusRequest__Output, ctx) => {
      try {
        return { status: statusToWire(await store(ctx).status(req.ref)) };
      } catch (err) {
        throw withPrefix(err, `could not get status for ref "${req.ref}"`);
      }
    }),

    ListStatuses: unary(deps.log, 'Content.ListStatuses', async (req: ListStatusesRequest__Output, ctx) => ({
      statuses: (await store(ctx).listStatuses(req.filters)).map(statusToWire),
    })),

    Write: bidiStream<WriteContentRequest__Output, WriteContentResponse>(deps.log, 'Content.Write', (call, ctx) =>
      writeSession(call, store(ctx)),
    ),

    Abort: unary(deps.log, 'Content.Abort', async (req: AbortRequest__Output, ctx) => {
      await store(ctx).abort(req.ref);
      return {};
    }),
  };
}

/** ReadContentResponse{offset, data} in wire form, built by hand: one copy of the chunk
 * instead of protobufjs's encode-and-copy. */
function readResponse(offset: number, data: Buffer): EncodedMessage {
  return new EncodedMessage(Buffer.concat([...varintField(1, offset), ...lengthDelimited(2, data)]));
}

/** Wait until the stream can take more, or the client went away. */
function sendAndWait(call: ServerDuplexStream<WriteContentRequest__Output, WriteContentResponse>, msg: WriteContentResponse): Promise<void> {
  if (call.cancelled || call.destroyed) return Promise.reject(new CancelledCall());
  if (call.write(msg)) return Promise.resolve();
  return new Promise((resolve) => call.once('drain', resolve));
}

/**
 * One Content.Write session: containerd's protocol (reference §4.5). The first message
 * names the ref and opens (or resumes) the ingest; STAT reports progress, WRITE appends at
 * the current offset (offset 0 on a non-empty ingest restarts it), COMMIT verifies and
 * makes the blob visible. The last response is sent once more as the stream closes, as
 * containerd does.
 */
async function writeSession(
  call: ServerDuplexStream<WriteContentRequest__Output, WriteContentResponse>,
  store: ContentStore,
): Promise<void> {
  const incoming = call[Symbol.asyncIterator]() as AsyncIterator<WriteContentRequest__Output>;
  const first = await incoming.next();
  if (first.done) return;
  let req = first.value;
  if (!req.ref) throw verbatim(new InvalidArgumentError('first message must have a reference'));
  const ref = req.ref;
  let total = req.total;
  let expected = req.expected;
  const writer: ContentWriter = await store.writer({ ref, total, expected });
  let last: WriteContentResponse | undefined;
  try {
    for (;;) {
      const ws = await writer.status();
      const msg: WriteContentResponse = { action: req.action, offset: ws.offset };
      if (req.expected) {
        expected = req.expected;
        let exists = false;
        try {
          await store.info(req.expected);
          exists = true;
        } catch (err) {
          if (!(err instanceof NotFoundError)) throw err;
        }
        if (exists) {
          await writer.close();
          await store.abort(ref).catch(() => undefined);
          throw verbatim(new AlreadyExistsError(`blob with expected digest ${req.expected} exists`));
        }
      }
      if (req.total > 0) total = req.total;
      writer.setExpectation(total, expected);

      if (req.action === 'STAT') {
        msg.digest = writer.digest();
        msg.started_at = toWireTimestamp(ws.startedAt);
        msg.updated_at = toWireTimestamp(ws.updatedAt);
        msg.total = total;
      } else {
        if (req.offset > 0 && req.offset !== ws.offset) {
          throw verbatim(new OutOfRangeError(`write @${req.offset} must occur at current offset ${ws.offset}`));
        }
        let offset = ws.offset;
        if (req.offset === 0 && ws.offset > 0) {
          await writer.write(new Uint8Array(0), 0);
          offset = 0;
        }
        if (req.data.length > 0) {
          const n = await writer.write(req.data, offset);
          if (n !== req.data.length) throw verbatim(new DataLossError(`wrote ${n} of ${req.data.length} bytes`));
          offset += n;
        }
        msg.offset = offset;
        if (req.action === 'COMMIT') {
          await writer.commit({ size: total, expected, labels: req.labels });
        }
        msg.digest = writer.digest();
      }
      await sendAndWait(call, msg);
      last = msg;
      if (req.action === 'COMMIT') break;
      const next = await incoming.next();
      if (next.done) break;
      req = next.value;
    }
  } catch (err) {
    if (!(err instanceof BerthError) && !(err instanceof CancelledCall)) throw err;
    throw err;
  } finally {
    await writer.close().catch(() => undefined);
  }
  if (last && !call.cancelled) await sendAndWait(call, last);
}
