// Exec, Attach and PortForward (containerd's container_exec.go, container_attach.go,
// sandbox_portforward.go): check that the container runs (the sandbox is ready), register
// the request with the streaming server, answer its single-use URL.
import type { AttachRequest__Output } from '../generated/types/runtime/v1/AttachRequest';
import type { AttachResponse } from '../generated/types/runtime/v1/AttachResponse';
import type { ExecRequest__Output } from '../generated/types/runtime/v1/ExecRequest';
import type { ExecResponse } from '../generated/types/runtime/v1/ExecResponse';
import type { PortForwardRequest__Output } from '../generated/types/runtime/v1/PortForwardRequest';
import type { PortForwardResponse } from '../generated/types/runtime/v1/PortForwardResponse';
import { UnknownError } from '../errdefs/errors';
import { stateOf } from './container_status_file';
import type { PodRuntime } from './pod_runtime';
import type { StreamingServer } from './streaming';
import { wrapErr } from './wrap_error';

/** The streaming server's refusals (kubelet's texts, typed: InvalidArgument, and
 * TooManyInFlightError for ResourceExhausted) go to the client as they are. */
function register<T>(fn: () => T): T {
  return fn();
}

export function execRpc(rt: PodRuntime, server: StreamingServer, req: ExecRequest__Output): Promise<ExecResponse> {
  let c;
  try {
    c = rt.containers.get(req.container_id);
  } catch (err) {
    throw wrapErr(`failed to find container "${req.container_id}" in store`, err);
  }
  const state = stateOf(c.status.get());
  if (state !== 'CONTAINER_RUNNING') throw new UnknownError(`container is in ${state} state`);
  const { url } = register(() =>
    server.getExec({ containerId: c.id, cmd: [...req.cmd], tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }),
  );
  return Promise.resolve({ url });
}

export function attachRpc(rt: PodRuntime, server: StreamingServer, req: AttachRequest__Output): Promise<AttachResponse> {
  let c;
  try {
    c = rt.containers.get(req.container_id);
  } catch (err) {
    throw wrapErr('failed to find container in store', err);
  }
  const state = stateOf(c.status.get());
  if (state !== 'CONTAINER_RUNNING') throw new UnknownError(`container is in ${state} state`);
  const { url } = register(() => server.getAttach({ containerId: c.id, tty: req.tty, stdin: req.stdin, stdout: req.stdout, stderr: req.stderr }));
  return Promise.resolve({ url });
}

export function portForwardRpc(rt: PodRuntime, server: StreamingServer, req: PortForwardRequest__Output): Promise<PortForwardResponse> {
  let sb;
  try {
    sb = rt.sandboxes.get(req.pod_sandbox_id);
  } catch (err) {
    throw wrapErr(`failed to find sandbox "${req.pod_sandbox_id}"`, err);
  }
  if (sb.status().state !== 'ready') throw new UnknownError('sandbox container is not running');
  const { url } = register(() => server.getPortForward({ podSandboxId: sb.id, port: [...req.port] }));
  return Promise.resolve({ url });
}
