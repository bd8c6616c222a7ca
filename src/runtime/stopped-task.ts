// A task whose shim died (killed, crashed, or gone when berthd restarted). After the
// dead-shim cleanup (the shim's `delete`, bundle removed, /tasks/exit and /tasks/delete
// published) berthd keeps this record so the task reads as a stopped one until a client
// deletes it: Get/List say STOPPED with the exit the shim's `delete` reported, Wait
// returns it, Delete removes it. (containerd forgets such a task at once, so there
// Get/Delete answer NotFound.)
import { FailedPreconditionError, NotFoundError } from '../errdefs/errors';
import type { WireAny } from '../proto/any';
import type { ExitInfo, ProcessInfo, ProcessState, RuntimeTask, TaskIO } from './types';

export class StoppedTask implements RuntimeTask {
  constructor(
    readonly id: string,
    readonly namespace: string,
    readonly exit: ExitInfo,
    private readonly io: TaskIO,
  ) {}

  get pid(): number {
    return this.exit.pid;
  }

  private noProcess(execId: string): NotFoundError {
    return new NotFoundError(`process does not exist ${execId}`);
  }

  private stopped(): FailedPreconditionError {
    return new FailedPreconditionError(`task ${this.id} is stopped: its shim exited`);
  }

  async state(execId: string): Promise<ProcessState> {
    if (execId !== '') throw this.noProcess(execId);
    return { id: this.id, pid: this.exit.pid, status: 'STOPPED', ...this.io, exitStatus: this.exit.exitStatus, exitedAt: this.exit.exitedAt };
  }

  async start(): Promise<number> {
    throw this.stopped();
  }

  async kill(execId: string): Promise<void> {
    if (execId !== '') throw this.noProcess(execId);
    // As the runc shim answers for an exited process; dockerd reads it as "already dead".
    throw new NotFoundError('process already finished');
  }

  async exec(): Promise<void> {
    throw this.stopped();
  }

  async resizePty(execId: string): Promise<void> {
    if (execId !== '') throw this.noProcess(execId);
    throw this.stopped();
  }

  async closeIO(execId: string): Promise<void> {
    if (execId !== '') throw this.noProcess(execId);
  }

  async wait(execId: string): Promise<ExitInfo> {
    if (execId !== '') throw this.noProcess(execId);
    return this.exit;
  }

  async deleteProcess(execId: string): Promise<ExitInfo> {
    throw this.noProcess(execId);
  }

  async pause(): Promise<void> {
    throw this.stopped();
  }

  async resume(): Promise<void> {
    throw this.stopped();
  }

  async pids(): Promise<ProcessInfo[]> {
    return [];
  }

  async stats(): Promise<WireAny | null> {
    throw new NotFoundError(`task ${this.id}: no metrics, its shim exited`);
  }

  async update(): Promise<void> {
    throw this.stopped();
  }

  async checkpoint(): Promise<void> {
    throw this.stopped();
  }
}
