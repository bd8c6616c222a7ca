// The requests the CRI Exec/Attach/PortForward RPCs register (runtime.v1 ExecRequest,
// AttachRequest, PortForwardRequest, in the field names the CRI layer maps them to).
import { InvalidArgumentError, verbatim } from '../../errdefs/errors';

export interface ExecRequest {
  containerId: string;
  cmd: string[];
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface AttachRequest {
  containerId: string;
  tty: boolean;
  stdin: boolean;
  stdout: boolean;
  stderr: boolean;
}

export interface PortForwardRequest {
  podSandboxId: string;
  /** Ports the caller asked for (kubelet checks none of them for SPDY; kept for the record). */
  port: number[];
}

// kubelet's validation, with its texts (containerd returns them as InvalidArgument).
export function validateExec(req: ExecRequest): void {
  if (req.containerId === '') throw verbatim(new InvalidArgumentError('missing required container_id'));
  if (req.tty && req.stderr) throw verbatim(new InvalidArgumentError('tty and stderr cannot both be true'));
  if (!req.stdin && !req.stdout && !req.stderr) throw verbatim(new InvalidArgumentError('one of stdin, stdout, or stderr must be set'));
}

export function validateAttach(req: AttachRequest): void {
  if (req.containerId === '') throw verbatim(new InvalidArgumentError('missing required container_id'));
  if (req.tty && req.stderr) throw verbatim(new InvalidArgumentError('tty and stderr cannot both be true'));
  if (!req.stdin && !req.stdout && !req.stderr) throw verbatim(new InvalidArgumentError('one of stdin, stdout, and stderr must be set'));
}

export function validatePortForward(req: PortForwardRequest): void {
  if (req.podSandboxId === '') throw verbatim(new InvalidArgumentError('missing required pod_sandbox_id'));
}
