// What the gRPC server tells an observer about calls (src/metrics counts them as
// go-grpc-prometheus does). The server asks for one GrpcMethodStats per method when a
// service is added, so a call costs no lookup: only the calls below, on the call's path.

/** go-grpc-prometheus' grpc_type label values. */
export type GrpcMethodType = 'unary' | 'client_stream' | 'server_stream' | 'bidi_stream';

export interface GrpcMethodStats {
  /** The handler is about to run. Returns a start mark passed back to handled(). */
  started(): number;
  /** A request message reached the handler. */
  received(): void;
  /** A response message was written. */
  sent(): void;
  /** The call ended with this status code (the client's cancel is CANCELLED). */
  handled(code: number, startMark: number): void;
}

export interface GrpcCallObserver {
  /** Called once for every method of every service added to the server. */
  method(service: string, method: string, type: GrpcMethodType): GrpcMethodStats;
}

export function grpcMethodType(requestStream: boolean, responseStream: boolean): GrpcMethodType {
  if (requestStream) return responseStream ? 'bidi_stream' : 'client_stream';
  return responseStream ? 'server_stream' : 'unary';
}
