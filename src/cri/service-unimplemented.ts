import type { handleUnaryCall, handleServerStreamingCall, UntypedServiceImplementation } from '@grpc/grpc-js';
import { NotImplementedError } from '../errdefs/errors';
import { root } from '../proto/registry';
import type { Logger } from '../log/logger';
import { serverStream, unary } from '../services/call';

/**
 * A handler for every method of `service` that `impl` lacks, answering Unimplemented with a
 * message that says so plainly: kubelet and crictl show it, and it tells a reader which
 * RPC berth's CRI does not offer (yet), instead of grpc's bare "unknown method".
 */
export function withUnimplemented<H extends UntypedServiceImplementation>(log: Logger, service: string, impl: Partial<H>): H {
  const out: UntypedServiceImplementation = { ...(impl as UntypedServiceImplementation) };
  const short = service.split('.').pop() ?? service;
  for (const m of root.lookupService(service).methodsArray) {
    if (out[m.name]) continue;
    const fail = async (): Promise<never> => {
      throw new NotImplementedError(`${short}.${m.name} is not implemented by berth's CRI yet`);
    };
    out[m.name] = m.responseStream
      ? (serverStream(log, `${short}.${m.name}`, fail) as handleServerStreamingCall<unknown, unknown>)
      : (unary(log, `${short}.${m.name}`, fail) as handleUnaryCall<unknown, unknown>);
  }
  return out as H;
}
