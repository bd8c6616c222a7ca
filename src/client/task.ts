// Tasks and processes of a container (the Tasks service), with their stdio.
import { constants as osConstants } from 'node:os';
import type { ProcessInfo, ProcessStatus, TaskMetric } from './records';
import { FailedPreconditionError, InvalidArgumentError } from '../errdefs/errors';
import type { CallOptions } from './call-options';
import { TaskIO, type TaskStdio } from './cio';
import { decodeTaskMetrics, type TaskMetrics } from './cgroup-metrics';
import { Services, type Rpc } from './rpc';

export type { ProcessInfo, ProcessStatus, TaskMetric };

/** How a process ended: its exit status and when. */
export interface ExitStatus {
  code: number;
  exitedAt: Date | undefined;
}

export const PROCESS_SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Process';

/** A signal by number or name ("SIGTERM", "TERM", "9"). */
export function signalNumber(signal: number | string): number {
  if (typeof signal === 'number') return signal;
  if (/^\d+$/.test(signal)) return Number(signal);
  const name = signal.toUpperCase().startsWith('SIG') ? signal.toUpperCase() : `SIG${signal.toUpperCase()}`;
  const n = (osConstants.signals as Record<string, number | undefined>)[name];
  if (n === undefined) throw new InvalidArgumentError(`invalid signal ${JSON.stringify(signal)}`);
  return n;
}

function exitFrom(r: { exit_status: number; exited_at: { seconds: number; nanos: number } | null }): ExitStatus {
  const t = r.exited_at;
  return { code: r.exit_status, exitedAt: t && t.seconds > 0 ? new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6)) : undefined };
}

/** A process of a task: the task's init process (execId '') or an exec'd one. */
export class Process {
  constructor(
    protected readonly rpc: Rpc,
    readonly containerId: string,
    readonly execId: string,
    /** The process's stdio, if this client made or attached it. */
    readonly io: TaskIO | null,
    /** The host pid once created. */
    public pid: number,
  ) {}

  /** Set when a wait() here has answered: the process has exited, so its status is known. */
  protected exitSeen = false;

  private markStarted: (() => void) | null = null;
  /** Resolves once start() has succeeded (stays pending for a process never started here). */
  private readonly started = new Promise<void>((resolve) => (this.markStarted = resolve));

  async start(opts?: CallOptions): Promise<number> {
    const r = await this.rpc.unary<{ pid: number }>(Services.tasks, 'Start', { container_id: this.containerId, exec_id: this.execId }, opts);
    this.pid = r.pid;
    this.markStarted?.();
    return r.pid;
  }

  /**
   * Closes stdin once the process has been started: the end of a short stdin (an empty
   * pipe, /dev/null) often comes before start, and a CloseIO then reaches a process that
   * has not run yet; containerd's runc shim with a terminal then loses the process
   * ("cannot start a container that has stopped").
   */
  closeStdinAfterStart(): void {
    void this.started.then(() => this.closeStdin()).catch(() => undefined);
  }

  /**
   * Waits for the process to exit. The call is sent at once: call wait() before start()
   * to be sure not to miss a quick exit, as with the Go client.
   */
  async wait(opts?: CallOptions): Promise<ExitStatus> {
    const r = await this.rpc.unary<{ exit_status: number; exited_at: { seconds: number; nanos: number } | null }>(
      Services.tasks,
      'Wait',
      { container_id: this.containerId, exec_id: this.execId },
      opts,
    );
    this.exitSeen = true;
    return exitFrom(r);
  }

  async kill(signal: number | string = 'SIGTERM', o: { all?: boolean } = {}, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(
      Services.tasks,
      'Kill',
      { container_id: this.containerId, exec_id: this.execId, signal: signalNumber(signal), all: o.all === true },
      opts,
    );
  }

  async resize(width: number, height: number, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.tasks, 'ResizePty', { container_id: this.containerId, exec_id: this.execId, width, height }, opts);
  }

  /** Ends the process's stdin: our FIFO end is closed and the shim closes its own (CloseIO). */
  async closeStdin(opts?: CallOptions): Promise<void> {
    this.io?.stdin?.end();
    await this.rpc.unary(Services.tasks, 'CloseIO', { container_id: this.containerId, exec_id: this.execId, stdin: true }, opts);
  }

  async status(opts?: CallOptions): Promise<ProcessStatus> {
    const r = await this.rpc.unary<{ process: ProcessStatus }>(Services.tasks, 'Get', { container_id: this.containerId, exec_id: this.execId }, opts);
    return r.process;
  }

  /**
   * Deletes the exited process. As the Go client: first its output is read to the end
   * (the shim closes the FIFOs once the process's output is drained), then the FIFOs are
   * closed and removed.
   */
  async delete(opts?: CallOptions): Promise<ExitStatus> {
    // After a wait() that answered, no need to ask (a round trip on every `run --rm`).
    const status = this.exitSeen ? 'STOPPED' : (await this.status(opts)).status;
    if (status === 'RUNNING' || status === 'PAUSED' || status === 'PAUSING') throw new FailedPreconditionError('process must be stopped before deletion');
    if (status !== 'CREATED') await this.io?.wait();
    try {
      const r = await this.rpc.unary<{ exit_status: number; exited_at: { seconds: number; nanos: number } | null }>(
        Services.tasks,
        'DeleteProcess',
        { container_id: this.containerId, exec_id: this.execId },
        opts,
      );
      return exitFrom(r);
    } finally {
      this.io?.close();
    }
  }
}

export interface ExecOptions extends TaskStdio {
  /** The OCI process to run (args, env, cwd, user, terminal…). */
  spec: Record<string, unknown>;
}

/** A container's task: its init process plus what applies to the whole task. */
export class Task extends Process {
  constructor(
    rpc: Rpc,
    containerId: string,
    io: TaskIO | null,
    pid: number,
    /** Told when delete() has removed the task (its container then knows it has none). */
    private readonly onDeleted?: () => void,
  ) {
    super(rpc, containerId, '', io, pid);
  }

  async pause(opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.tasks, 'Pause', { container_id: this.containerId }, opts);
  }

  async resume(opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.tasks, 'Resume', { container_id: this.containerId }, opts);
  }

  async pids(opts?: CallOptions): Promise<ProcessInfo[]> {
    const r = await this.rpc.unary<{ processes: ProcessInfo[] }>(Services.tasks, 'ListPids', { container_id: this.containerId }, opts);
    return r.processes;
  }

  /** The task's cgroup metrics, decoded (cgroup v1 or v2 by the answer's type); undefined
   * when the daemon has none for it. */
  async metrics(opts?: CallOptions): Promise<TaskMetrics | undefined> {
    const r = await this.rpc.unary<{ metrics: TaskMetric[] }>(Services.tasks, 'Metrics', { filters: [`id==${this.containerId}`] }, opts);
    return r.metrics[0] ? decodeTaskMetrics(r.metrics[0]) : undefined;
  }

  /** Creates (does not start) a new process in the task; its stdio as for newTask. */
  async exec(execId: string, o: ExecOptions, opts?: CallOptions): Promise<Process> {
    const terminal = o.terminal === true;
    const spec = { ...o.spec, terminal };
    const io = TaskIO.create(`${this.containerId}-${execId}`, o);
    try {
      await this.rpc.unary(
        Services.tasks,
        'Exec',
        {
          container_id: this.containerId,
          exec_id: execId,
          stdin: io.fifos.stdin,
          stdout: io.fifos.stdout,
          stderr: io.fifos.stderr,
          terminal,
          spec: { type_url: PROCESS_SPEC_TYPE, value: Buffer.from(JSON.stringify(spec)) },
        },
        opts,
      );
    } catch (err) {
      io.close();
      throw err;
    }
    const p = new Process(this.rpc, this.containerId, execId, io, 0);
    io.pipeStdin(o.stdin, () => p.closeStdinAfterStart());
    return p;
  }

  /** A process of this task by exec id, for signals, resize and wait (no stdio). */
  loadProcess(execId: string): Process {
    return new Process(this.rpc, this.containerId, execId, null, 0);
  }

  /** Deletes the stopped (or never started) task, its output read to the end first, as the
   * Go client does; a running or paused task is a FailedPreconditionError. */
  override async delete(opts?: CallOptions): Promise<ExitStatus> {
    const status = this.exitSeen ? 'STOPPED' : (await this.status(opts)).status;
    if (status !== 'STOPPED' && status !== 'UNKNOWN' && status !== 'CREATED') {
      throw new FailedPreconditionError(`task must be stopped before deletion: ${status.toLowerCase()}`);
    }
    // A created task never ran: there is no output to wait for.
    if (status !== 'CREATED') await this.io?.wait();
    try {
      const r = await this.rpc.unary<{ exit_status: number; exited_at: { seconds: number; nanos: number } | null }>(
        Services.tasks,
        'Delete',
        { container_id: this.containerId },
        opts,
      );
      this.onDeleted?.();
      return exitFrom(r);
    } finally {
      this.io?.close();
    }
  }
}
