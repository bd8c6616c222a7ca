import { Metadata, type ServerWritableStream } from '@grpc/grpc-js';
import type { EventsHandlers } from '../generated/types/containerd/services/events/v1/Events';
import type { PublishRequest__Output } from '../generated/types/containerd/services/events/v1/PublishRequest';
import type { ForwardRequest__Output } from '../generated/types/containerd/services/events/v1/ForwardRequest';
import type { SubscribeRequest__Output } from '../generated/types/containerd/services/events/v1/SubscribeRequest';
import type { Envelope as WireEnvelope } from '../generated/types/containerd/services/events/v1/Envelope';
import { FailedPreconditionError, InvalidArgumentError, ResourceExhaustedError, UnavailableError, UnknownError } from '../errdefs/errors';
import { parseFilters } from '../filters/parser';
import type { Filter } from '../filters/filter';
import type { Envelope } from '../events/envelope';
import { anyFromWire, anyToWire } from '../proto/any';
import { CancelledCall, serverStream, unary } from './call';
import type { ServiceDeps } from './context';

export const EVENTS_SERVICE = 'containerd.services.events.v1.Events';

export function envelopeToWire(env: Envelope): WireEnvelope {
  return {
    timestamp: env.timestamp,
    namespace: env.namespace,
    topic: env.topic,
    event: anyToWire(env.event),
  };
}

/** Shared by the gRPC and ttrpc Forward endpoints. */
export function forwardEnvelope(deps: ServiceDeps, wire: ForwardRequest__Output['envelope']): void {
  if (!wire) throw new InvalidArgumentError('envelope must be set');
  // Only presence matters here: containerd forwards an empty Any (no type URL, no value).
  const event = wire.event ? { typeUrl: wire.event.type_url, value: Buffer.from(wire.event.value) } : undefined;
  deps.exchange.forward({
    timestamp: wire.timestamp ?? undefined,
    namespace: wire.namespace,
    topic: wire.topic,
    event,
  });
}

export function eventsService(deps: ServiceDeps): EventsHandlers {
  return {
    Publish: unary(deps.log, 'Events.Publish', async (req: PublishRequest__Output, ctx) => {
      let ns: string;
      try {
        ns = ctx.namespace();
      } catch (err) {
        if (err instanceof FailedPreconditionError) throw new FailedPreconditionError(`failed publishing event: ${err.context}`);
        throw err;
      }
      const event = anyFromWire(req.event);
      if (!event) throw new InvalidArgumentError('event must be set');
      deps.exchange.publish(ns, req.topic, event);
      return {};
    }),

    Forward: unary(deps.log, 'Events.Forward', async (req: ForwardRequest__Output) => {
      forwardEnvelope(deps, req.envelope);
      return {};
    }),

    Subscribe: serverStream<SubscribeRequest__Output, WireEnvelope>(
      deps.log,
      'Events.Subscribe',
      async (req, _ctx, send, call: ServerWritableStream<SubscribeRequest__Output, WireEnvelope>) => {
        let filter: Filter;
        try {
          filter = parseFilters(req.filters);
        } catch (err) {
          // containerd ends the stream with code Unknown here, not InvalidArgument.
          throw new UnknownError(`subscription error: failed parsing subscription filters: ${(err as Error).message}`);
        }
        const sub = deps.exchange.subscribe(filter);
        const stop = (): void => sub.close();
        call.on('cancelled', stop);
        call.on('close', stop);
        try {
          // Headers go out at once so a client's Subscribe returns before the first event.
          call.sendMetadata(new Metadata());
          for await (const env of sub) await send(envelopeToWire(env));
        } catch (err) {
          if (err instanceof CancelledCall) return;
          // The daemon is stopping: the stream ends Unavailable, and the client subscribes again.
          // A client that fell too far behind was dropped: ResourceExhausted, it may too.
          if (err instanceof UnavailableError || err instanceof ResourceExhaustedError) throw err;
          throw new UnknownError(`subscription error: ${(err as Error).message}`);
        } finally {
          sub.close();
        }
      },
    ),
  };
}
