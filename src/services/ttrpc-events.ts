// containerd.services.events.ttrpc.v1.Events on <grpc address>.ttrpc: where shims forward
// their /tasks/* events (TTRPC_ADDRESS). Envelopes are validated and re-broadcast
// unchanged, exactly as gRPC Events.Forward does.
import { existsSync } from 'node:fs';
import { TtrpcServer, type CallContext as TtrpcCallContext, type ServiceHandlers } from '../ttrpc';
import type { ForwardRequest__Output } from '../generated/types/containerd/services/events/ttrpc/v1/ForwardRequest';
import type { Logger } from '../log/logger';
import { forwardEnvelope } from './events';
import type { ServiceDeps } from './context';

export const TTRPC_EVENTS_SERVICE = 'containerd.services.events.ttrpc.v1.Events';

export function ttrpcEventsHandlers(deps: ServiceDeps): ServiceHandlers {
  return {
    Forward: async (req: ForwardRequest__Output, ctx: TtrpcCallContext) => {
      const env = req.envelope;
      // The envelope alone counts, as in containerd: an empty envelope namespace is an
      // invalid namespace even when the request metadata names one.
      try {
        forwardEnvelope(deps, env);
      } catch (err) {
        deps.log.debug('ttrpc forward rejected', { topic: env?.topic, namespace: env?.namespace, metadataNamespace: ctx.namespace, error: err as Error });
        throw err;
      }
      return {};
    },
  };
}

/** The peer check needs iproute2's ss (see src/ttrpc/peercred.ts). */
function haveSs(): boolean {
  return ['/usr/bin/ss', '/bin/ss', '/usr/sbin/ss', '/sbin/ss'].some((p) => existsSync(p));
}

/** Starts the ttrpc server for shims on `address`; a stale socket file is replaced. */
export async function startTtrpcEventsServer(address: string, deps: ServiceDeps, log: Logger): Promise<TtrpcServer> {
  const sameUser = haveSs();
  // Without ss no peer could be identified and every shim would be refused; the socket's
  // 0600 mode still keeps other users out.
  if (!sameUser) log.warn('ss (iproute2) not found: shims on the ttrpc socket are not checked for our uid/gid', { address });
  const server = new TtrpcServer({
    // As containerd (UnixSocketRequireSameUser): only processes of our own user.
    peerCheck: sameUser ? 'same-user' : 'off',
    socketMode: 0o600,
    onError: (err) => log.warn('ttrpc connection error', { error: err }),
  });
  server.register(TTRPC_EVENTS_SERVICE, ttrpcEventsHandlers(deps));
  await server.listen(address, { removeStale: true });
  return server;
}
