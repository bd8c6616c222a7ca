// What the streaming server asks of the container runtime. The CRI RuntimeService implements
// it (exec through the shim, attach to the container's stdio, port-forward inside the pod's
// network namespace); the server speaks the wire protocols and calls these once a client's
// streams are open. Mirrors k8s.io/kubelet/pkg/cri/streaming's Runtime, which containerd 1.6
// implements, with Node streams in place of Go readers and writers.
import type { Duplex, Readable, Writable } from 'node:stream';

export interface TerminalSize {
  width: number;
  height: number;
}

export interface ProcessStreams {
  tty: boolean;
  /** The client's stdin; ends when the client closes it. Absent when not requested. */
  stdin?: Readable;
  /** Where the process's stdout goes (the terminal's output with tty). */
  stdout?: Writable;
  /** Where the process's stderr goes (never with tty). */
  stderr?: Writable;
  /** Terminal sizes as the client sends them (tty only); ends with the session. */
  resize: AsyncIterable<TerminalSize>;
  /** Aborted when the client's session ends before the process does. */
  signal: AbortSignal;
}

export interface StreamingRuntime {
  /**
   * Runs cmd in the container with the client's streams and resolves with its exit code
   * (128+signal for a process killed by a signal, as containerd reports it). Rejects when the
   * process could not be run; the client then gets an internal error status.
   * Must have written all of the process's output to stdout/stderr before resolving.
   */
  exec(containerId: string, cmd: string[], streams: ProcessStreams): Promise<number>;
  /** Attaches the client's streams to the container's own; resolves when they end. */
  attach(containerId: string, streams: ProcessStreams): Promise<void>;
  /**
   * Connects the duplex to port in the pod's network namespace (the host's for a host-network
   * pod) and pipes both ways until both sides end; rejects when the port cannot be reached.
   */
  portForward(podSandboxId: string, port: number, stream: Duplex, signal: AbortSignal): Promise<void>;
}
