// The runtime's view of a task, shared by live tasks (a shim answers) and tasks whose
// shim died (berthd answers from what the shim's `delete` reported).
import type { WireAny } from '../proto/any';
import type { WireTimestamp } from '../proto/timestamp';
import type { Mount } from '../native';

/** containerd.v1.types.Status names. */
export type TaskStatus = 'UNKNOWN' | 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED' | 'PAUSING';

export interface TaskIO {
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
}

/** What Tasks.Get reports for a process (init: id = container id; exec: id = exec id). */
export interface ProcessState extends TaskIO {
  id: string;
  pid: number;
  status: TaskStatus;
  exitStatus: number;
  /** As the shim sent it (Go's zero time while running), or null. */
  exitedAt: WireTimestamp | null;
}

export interface ExitInfo {
  pid: number;
  exitStatus: number;
  exitedAt: WireTimestamp | null;
}

export interface ProcessInfo {
  pid: number;
  info: WireAny | null;
}

export interface CallOpts {
  timeoutMs?: number;
  /** Aborted when the client gives up (gRPC cancellation). */
  signal?: AbortSignal;
}

export interface CreateOpts {
  /** The container's spec Any value (OCI spec JSON), written verbatim as config.json. */
  spec: Buffer;
  /** Runtime name or absolute shim path (Tasks.Create runtime_path, else container.runtime.name). */
  runtime: string;
  /** Shim options: Tasks.Create options, else container.runtime.options. */
  options: WireAny | null;
  rootfs: Mount[];
  io: TaskIO;
  /** Checkpoint directory to restore from ('' = none). */
  checkpoint: string;
}

export interface RuntimeTask {
  readonly id: string;
  readonly namespace: string;
  /** Init pid as last known (Create, Connect, or the shim's delete output). */
  readonly pid: number;
  state(execId: string, opts?: CallOpts): Promise<ProcessState>;
  start(execId: string, opts?: CallOpts): Promise<number>;
  kill(execId: string, signal: number, all: boolean, opts?: CallOpts): Promise<void>;
  exec(execId: string, spec: WireAny | null, io: TaskIO, opts?: CallOpts): Promise<void>;
  resizePty(execId: string, width: number, height: number, opts?: CallOpts): Promise<void>;
  closeIO(execId: string, opts?: CallOpts): Promise<void>;
  wait(execId: string, opts?: CallOpts): Promise<ExitInfo>;
  deleteProcess(execId: string, opts?: CallOpts): Promise<ExitInfo>;
  pause(opts?: CallOpts): Promise<void>;
  resume(opts?: CallOpts): Promise<void>;
  pids(opts?: CallOpts): Promise<ProcessInfo[]>;
  stats(opts?: CallOpts): Promise<WireAny | null>;
  update(resources: WireAny | null, annotations: Record<string, string>, opts?: CallOpts): Promise<void>;
  checkpoint(path: string, options: WireAny | null, opts?: CallOpts): Promise<void>;
}
