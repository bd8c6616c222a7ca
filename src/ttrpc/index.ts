// ttrpc 1.1 (github.com/containerd/ttrpc) for berth: framing, client and server.
// Loads node:net, protobufjs and berth's proto registry only — never @grpc/grpc-js —
// so the shim can use it and start fast.
export { TtrpcClient, socketPath, type CallOptions, type ConnectOptions } from './client';
export {
  TtrpcServer,
  NAMESPACE_METADATA_KEY,
  type CallContext,
  type ListenOptions,
  type PeerCheck,
  type ServiceHandlers,
  type TtrpcServerOptions,
  type UnaryHandler,
} from './server';
export { Code, TtrpcClosedError, TtrpcStatusError, errorFromStatus, statusFromError, statusOf } from './errors';
export { MESSAGE_HEADER_LENGTH, MESSAGE_LENGTH_MAX } from './frame';
