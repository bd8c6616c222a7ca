// A task whose shim is connected: every call goes to the shim (containerd's shimTask and
// process in runtime/v2/shim.go, process.go). berthd keeps no process state of its own,
// with one exception: once the shim has answered Wait for the init, the init's state is
// final, and State is answered from that answer (see state()).
import { NotFoundError } from '../errdefs/errors';
import type { CallOptions } from '../ttrpc';
import type { WireAny } from '../proto/any';
import type { Bundle } from './bundle';
import { fromShim, isClosed } from './errors';
import type { ShimClient } from './shim-client';
import type { ShimCommand } from './shim-launcher';
import type { ShimLog } from './shim-log';
import type { CallOpts, ExitInfo, ProcessInfo, ProcessState, RuntimeTask, TaskIO, TaskStatus } from './types';

function callOptions(opts: CallOpts | undefined): CallOptions {
  return { timeoutMs: opts?.timeoutMs, signal: opts?.signal };
}

export class ShimTask implements RuntimeTask {
  /** Set once berthd closes the connection on purpose (delete, daemon stop). */
  private intentional = false;
  /** Set when the shim went away unexpectedly: resolves after the dead-shim cleanup. */
  private death: Promise<ExitInfo> | undefined;
  /** The init's exit, once the shim answered Wait for it. */
  private initExit: ExitInfo | undefined;

  constructor(
    readonly bundle: Bundle,
    readonly client: ShimClient,
    readonly command: ShimCommand,
    private readonly shimLog: ShimLog | undefined,
    /** Init pid: from Create, or Connect after a restart. */
    public pid: number,
    /** The init's stdio as created; undefined after a restart (only the shim knows it). */
    readonly io: TaskIO | undefined,
  ) {}

  get id(): string {
    return this.bundle.id;
  }

  get namespace(): string {
    return this.bundle.namespace;
  }

  get closedOnPurpose(): boolean {
    return this.intentional;
  }

  /** The dead-shim cleanup in progress or done, if the shim died. */
  get dying(): Promise<ExitInfo> | undefined {
    return this.death;
  }

  setDeath(p: Promise<ExitInfo>): void {
    this.death = p;
  }

  /** Once the connection is closed and the manager has reacted: the death, if it was one. */
  private async deathAfterClose(): Promise<ExitInfo | undefined> {
    await this.client.waitClosed();
    await new Promise<void>((resolve) => setImmediate(resolve));
    return this.death;
  }

  /** From now on a closing connection is expected (Shutdown on its way). */
  markIntentional(): void {
    this.intentional = true;
  }

  /** Close the connection (and the log FIFO) without touching the shim or its task. */
  detach(): void {
    this.intentional = true;
    this.client.close();
    this.shimLog?.close();
  }

  closeLog(): void {
    this.shimLog?.close();
  }

  /**
   * The shim's State, except for an init whose exit the shim already reported through
   * Wait: an exited init stays STOPPED with that pid and status until the task is deleted
   * (nothing can start it again), so the answer is known without asking. That saves a
   * round trip to the shim (~0.7 ms) in every `ctr run --rm`, which calls Tasks.Get right
   * after Wait returns.
   */
  async state(execId: string, opts?: CallOpts): Promise<ProcessState> {
    if (execId === '' && this.initExit && this.io) {
      const e = this.initExit;
      return { id: this.id, pid: e.pid, status: 'STOPPED', ...this.io, exitStatus: e.exitStatus, exitedAt: e.exitedAt };
    }
    let r;
    try {
      r = await this.client.state(this.id, execId, callOptions(opts));
    } catch (err) {
      // A gone shim has no task (containerd: ErrClosed → ErrNotFound).
      if (isClosed(err)) throw new NotFoundError(`task ${this.id}`);
      throw fromShim(err);
    }
    return {
      id: execId === '' ? this.id : execId,
      pid: r.pid,
      status: r.status as TaskStatus,
      stdin: r.stdin,
      stdout: r.stdout,
      stderr: r.stderr,
      terminal: r.terminal,
      exitStatus: r.exit_status,
      exitedAt: r.exited_at,
    };
  }

  async start(execId: string, opts?: CallOpts): Promise<number> {
    try {
      const r = await this.client.start(this.id, execId, callOptions(opts));
      return r.pid;
    } catch (err) {
      throw fromShim(err);
    }
  }

  async kill(execId: string, signal: number, all: boolean, opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.kill({ id: this.id, exec_id: execId, signal, all }, callOptions(opts)));
  }

  async exec(execId: string, spec: WireAny | null, io: TaskIO, opts?: CallOpts): Promise<void> {
    await this.run(() =>
      this.client.exec(
        { id: this.id, exec_id: execId, terminal: io.terminal, stdin: io.stdin, stdout: io.stdout, stderr: io.stderr, spec },
        callOptions(opts),
      ),
    );
  }

  async resizePty(execId: string, width: number, height: number, opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.resizePty({ id: this.id, exec_id: execId, width, height }, callOptions(opts)));
  }

  async closeIO(execId: string, opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.closeIO({ id: this.id, exec_id: execId, stdin: true }, callOptions(opts)));
  }

  async wait(execId: string, opts?: CallOpts): Promise<ExitInfo> {
    try {
      const r = await this.client.wait(this.id, execId, callOptions(opts));
      const exit = { pid: execId === '' ? this.pid : 0, exitStatus: r.exit_status, exitedAt: r.exited_at };
      if (execId === '') this.initExit = exit;
      return exit;
    } catch (err) {
      // The shim died while we waited for its init: answer with what its `delete`
      // reported (containerd fails the Wait with "ttrpc: closed").
      if (isClosed(err) && execId === '') {
        const death = await this.deathAfterClose();
        if (death) return death;
      }
      throw fromShim(err);
    }
  }

  async deleteProcess(execId: string, opts?: CallOpts): Promise<ExitInfo> {
    try {
      const r = await this.client.delete(this.id, execId, callOptions(opts));
      return { pid: r.pid, exitStatus: r.exit_status, exitedAt: r.exited_at };
    } catch (err) {
      throw fromShim(err);
    }
  }

  async pause(opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.pause(this.id, callOptions(opts)));
  }

  async resume(opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.resume(this.id, callOptions(opts)));
  }

  async pids(opts?: CallOpts): Promise<ProcessInfo[]> {
    try {
      const r = await this.client.pids(this.id, callOptions(opts));
      return r.processes.map((p) => ({ pid: p.pid, info: p.info }));
    } catch (err) {
      throw fromShim(err);
    }
  }

  async stats(opts?: CallOpts): Promise<WireAny | null> {
    try {
      const r = await this.client.stats(this.id, callOptions(opts));
      return r.stats;
    } catch (err) {
      throw fromShim(err);
    }
  }

  async update(resources: WireAny | null, annotations: Record<string, string>, opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.update({ id: this.id, resources, annotations }, callOptions(opts)));
  }

  async checkpoint(path: string, options: WireAny | null, opts?: CallOpts): Promise<void> {
    await this.run(() => this.client.checkpoint({ id: this.id, path, options }, callOptions(opts)));
  }

  private async run(fn: () => Promise<object>): Promise<void> {
    try {
      await fn();
    } catch (err) {
      throw fromShim(err);
    }
  }
}
