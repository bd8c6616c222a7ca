// A typed client for a shim's containerd.task.v2.Task ttrpc service. Errors are the ttrpc
// client's (errdefs classes from the shim's status; TtrpcClosedError when the connection
// is gone); callers map them with fromShim.
import { TtrpcClient, TtrpcClosedError, type CallOptions } from '../ttrpc';
import type { CheckpointTaskRequest } from '../generated/types/containerd/task/v2/CheckpointTaskRequest';
import type { CloseIORequest } from '../generated/types/containerd/task/v2/CloseIORequest';
import type { ConnectResponse__Output } from '../generated/types/containerd/task/v2/ConnectResponse';
import type { CreateTaskRequest } from '../generated/types/containerd/task/v2/CreateTaskRequest';
import type { CreateTaskResponse__Output } from '../generated/types/containerd/task/v2/CreateTaskResponse';
import type { DeleteResponse__Output } from '../generated/types/containerd/task/v2/DeleteResponse';
import type { ExecProcessRequest } from '../generated/types/containerd/task/v2/ExecProcessRequest';
import type { KillRequest } from '../generated/types/containerd/task/v2/KillRequest';
import type { PidsResponse__Output } from '../generated/types/containerd/task/v2/PidsResponse';
import type { ResizePtyRequest } from '../generated/types/containerd/task/v2/ResizePtyRequest';
import type { StartResponse__Output } from '../generated/types/containerd/task/v2/StartResponse';
import type { StateResponse__Output } from '../generated/types/containerd/task/v2/StateResponse';
import type { StatsResponse__Output } from '../generated/types/containerd/task/v2/StatsResponse';
import type { UpdateTaskRequest } from '../generated/types/containerd/task/v2/UpdateTaskRequest';
import type { WaitResponse__Output } from '../generated/types/containerd/task/v2/WaitResponse';

export const TASK_SERVICE = 'containerd.task.v2.Task';

export type { StateResponse__Output as ShimState, WaitResponse__Output as ShimWait, DeleteResponse__Output as ShimDelete };

/**
 * containerd's AnonDialer address rules: `unix://<path>` is a socket path; anything else
 * is an abstract socket name.
 */
export function dialPath(address: string): string {
  const a = address.trim();
  if (a.startsWith('unix://')) return a.slice('unix://'.length);
  return a.startsWith('\0') ? a : `\0${a}`;
}

/**
 * One task's client of a shim. It owns its connection (connect), or is a lease on a
 * connection that other tasks of the same shim share (lease; see ShimConnectionPool):
 * closing a lease ends this task's use of it, and waitClosed() resolves then too, while the
 * connection stays open for the others.
 */
export class ShimClient {
  private released = false;
  /** waitClosed() callers of this client, resolved when the connection or the lease ends. */
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly client: TtrpcClient,
    /** Sent as containerd-namespace-ttrpc on every call: a shared shim (berth's) serves
     * tasks of several namespaces and tells same-named tasks apart by it. */
    private readonly namespace: string,
    private readonly shared: boolean,
    /** Lease only: told when the lease ends. */
    private readonly onRelease?: () => void,
  ) {}

  static async connect(address: string, namespace: string, timeoutMs = 10_000): Promise<ShimClient> {
    const c = await TtrpcClient.connect(`unix://${dialPath(address)}`, { timeoutMs });
    // An idle connection to a shim must not keep berthd alive; calls in flight do not
    // matter either (berthd's gRPC server keeps the process up while it serves).
    c.unref();
    return new ShimClient(c, namespace, false);
  }

  /** A client over a connection shared with other tasks (unref'd by its owner, who is
   * told through onRelease when this lease ends). */
  static lease(connection: TtrpcClient, namespace: string, onRelease?: () => void): ShimClient {
    return new ShimClient(connection, namespace, true, onRelease);
  }

  get closed(): boolean {
    return this.released || this.client.closed;
  }

  waitClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => {
      const done = (): void => {
        this.waiters.delete(done);
        off();
        resolve();
      };
      const off = this.client.onClosed(done);
      this.waiters.add(done);
    });
  }

  close(): void {
    if (!this.shared) {
      this.client.close();
      return;
    }
    if (this.released) return;
    this.released = true;
    for (const w of [...this.waiters]) w();
    this.onRelease?.();
  }

  private call<Res extends object>(method: string, req: object, opts?: CallOptions): Promise<Res> {
    if (this.released) return Promise.reject(new TtrpcClosedError('the task let go of its shim connection'));
    return this.client.call<Res>(TASK_SERVICE, method, req, { namespace: this.namespace, ...opts });
  }

  create(req: CreateTaskRequest, opts?: CallOptions): Promise<CreateTaskResponse__Output> {
    return this.call('Create', req, opts);
  }
  start(id: string, execId: string, opts?: CallOptions): Promise<StartResponse__Output> {
    return this.call('Start', { id, exec_id: execId }, opts);
  }
  delete(id: string, execId: string, opts?: CallOptions): Promise<DeleteResponse__Output> {
    return this.call('Delete', { id, exec_id: execId }, opts);
  }
  state(id: string, execId: string, opts?: CallOptions): Promise<StateResponse__Output> {
    return this.call('State', { id, exec_id: execId }, opts);
  }
  pids(id: string, opts?: CallOptions): Promise<PidsResponse__Output> {
    return this.call('Pids', { id }, opts);
  }
  pause(id: string, opts?: CallOptions): Promise<object> {
    return this.call('Pause', { id }, opts);
  }
  resume(id: string, opts?: CallOptions): Promise<object> {
    return this.call('Resume', { id }, opts);
  }
  checkpoint(req: CheckpointTaskRequest, opts?: CallOptions): Promise<object> {
    return this.call('Checkpoint', req, opts);
  }
  kill(req: KillRequest, opts?: CallOptions): Promise<object> {
    return this.call('Kill', req, opts);
  }
  exec(req: ExecProcessRequest, opts?: CallOptions): Promise<object> {
    return this.call('Exec', req, opts);
  }
  resizePty(req: ResizePtyRequest, opts?: CallOptions): Promise<object> {
    return this.call('ResizePty', req, opts);
  }
  closeIO(req: CloseIORequest, opts?: CallOptions): Promise<object> {
    return this.call('CloseIO', req, opts);
  }
  update(req: UpdateTaskRequest, opts?: CallOptions): Promise<object> {
    return this.call('Update', req, opts);
  }
  wait(id: string, execId: string, opts?: CallOptions): Promise<WaitResponse__Output> {
    return this.call('Wait', { id, exec_id: execId }, opts);
  }
  stats(id: string, opts?: CallOptions): Promise<StatsResponse__Output> {
    return this.call('Stats', { id }, opts);
  }
  connect(id: string, opts?: CallOptions): Promise<ConnectResponse__Output> {
    return this.call('Connect', { id }, opts);
  }
  shutdown(id: string, now: boolean, opts?: CallOptions): Promise<object> {
    return this.call('Shutdown', { id, now }, opts);
  }
}
