// containerd 2's Streaming service: a client opens a stream and names it with a StreamInit;
// once it is registered (and only then) berthd answers with an Any of google.protobuf.Empty,
// and the stream is the StreamManager's until the client cancels it or berthd closes it
// (the call then ends with OK, which the client reads as the end of the stream).
import { InvalidArgumentError, UnavailableError, verbatim } from '../errdefs/errors';
import type { AnyValue } from '../metadata/records';
import { decodeMessage } from '../proto/registry';
import type { WireAny } from '../proto/any';
import type { ManagedStream } from '../streaming/manager';
import { bidiStream, writeWhenReady } from './call';
import type { ServiceDeps } from './context';
import { typeNameOf } from '../proto/type-url';

export const STREAMING_SERVICE = 'containerd.services.streaming.v1.Streaming';
export const STREAM_INIT_TYPE = 'containerd.services.streaming.v1.StreamInit';
const EMPTY_ANY: WireAny = Object.freeze({ type_url: 'google.protobuf.Empty', value: Buffer.alloc(0) });

export function streamingService(deps: ServiceDeps): { Stream: ReturnType<typeof bidiStream<WireAny, WireAny>> } {
  return {
    Stream: bidiStream<WireAny, WireAny>(deps.log, 'Streaming.Stream', async (call, ctx) => {
      const ns = ctx.namespace();
      const incoming = call[Symbol.asyncIterator]() as AsyncIterator<WireAny>;
      const first = await incoming.next();
      if (first.done) return;
      const typeName = typeNameOf(first.value.type_url);
      if (typeName !== STREAM_INIT_TYPE) {
        throw verbatim(new InvalidArgumentError(`the first message of a stream must be a ${STREAM_INIT_TYPE}, not ${JSON.stringify(first.value.type_url)}`));
      }
      const { id } = decodeMessage<{ id: string }>(STREAM_INIT_TYPE, first.value.value ?? Buffer.alloc(0));
      let closed = false;
      let ended!: () => void;
      const done = new Promise<void>((resolve) => (ended = resolve));
      const end = (): void => {
        closed = true;
        ended();
      };
      call.once('cancelled', end);
      call.once('close', end);
      const stream: ManagedStream = {
        get closed() {
          return closed || call.cancelled;
        },
        send(msg: AnyValue): Promise<void> {
          if (stream.closed) return Promise.reject(new UnavailableError(`stream ${JSON.stringify(id)} is closed`));
          return writeWhenReady(call, { type_url: msg.typeUrl, value: msg.value }).catch(() => {
            throw new UnavailableError(`stream ${JSON.stringify(id)} is closed`);
          });
        },
        async recv(): Promise<AnyValue | undefined> {
          if (stream.closed) return undefined;
          const r = await incoming.next();
          if (r.done) return undefined;
          return { typeUrl: r.value.type_url, value: Buffer.from(r.value.value ?? Buffer.alloc(0)) };
        },
        close: end,
      };
      deps.streams.register(ns, id, stream);
      try {
        await writeWhenReady(call, EMPTY_ANY);
        await done;
      } finally {
        closed = true;
        deps.streams.remove(ns, id, stream);
      }
    }),
  };
}
