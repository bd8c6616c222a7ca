// The CRI streaming server: what the CRI Exec/Attach/PortForward RPCs use.
//   const streaming = new StreamingServer({ address, port }, runtime); await streaming.start();
//   Exec RPC:        return { url: streaming.getExec({ containerId, cmd, tty, stdin, stdout, stderr }).url }
//   Attach RPC:      streaming.getAttach({...}); PortForward RPC: streaming.getPortForward({ podSandboxId, port })
// getX throws InvalidArgumentError (verbatim kubelet texts) or TooManyInFlightError (a
// ResourceExhaustedError: gRPC RESOURCE_EXHAUSTED, as kubelet's streaming server answers).
export { StreamingServer, type StreamingServerConfig } from './server';
export type { StreamingRuntime, ProcessStreams, TerminalSize } from './runtime';
export type { ExecRequest, AttachRequest, PortForwardRequest } from './requests';
export { TooManyInFlightError } from './request-cache';
export { DEFAULT_STREAMING_LIMITS, type StreamingLimits } from './limits';
