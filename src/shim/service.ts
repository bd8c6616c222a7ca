// containerd.task.v2.Task for many containers in one process.
//
// Tasks are keyed by (namespace, id): ids are unique only per namespace, and one shim
// serves every namespace of its daemon. The namespace of a call is the ttrpc request
// metadata `containerd-namespace-ttrpc` (containerd sets it on every shim call); a Create
// without it takes the namespace from the bundle path (<state>/…/<ns>/<id>, the layout of
// both containerd and berthd), and other calls without it find the task by id alone when
// that is unambiguous.
import * as path from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, UnknownError } from '../errdefs/errors';
import type { Logger } from '../log/logger';
import type { CallContext, ServiceHandlers } from '../ttrpc';
import type { CheckpointTaskRequest__Output } from '../generated/types/containerd/task/v2/CheckpointTaskRequest';
import type { CloseIORequest__Output } from '../generated/types/containerd/task/v2/CloseIORequest';
import type { ConnectRequest__Output } from '../generated/types/containerd/task/v2/ConnectRequest';
import type { CreateTaskRequest__Output } from '../generated/types/containerd/task/v2/CreateTaskRequest';
import type { DeleteRequest__Output } from '../generated/types/containerd/task/v2/DeleteRequest';
import type { ExecProcessRequest__Output } from '../generated/types/containerd/task/v2/ExecProcessRequest';
import type { KillRequest__Output } from '../generated/types/containerd/task/v2/KillRequest';
import type { PauseRequest__Output } from '../generated/types/containerd/task/v2/PauseRequest';
import type { PidsRequest__Output } from '../generated/types/containerd/task/v2/PidsRequest';
import type { ResizePtyRequest__Output } from '../generated/types/containerd/task/v2/ResizePtyRequest';
import type { ResumeRequest__Output } from '../generated/types/containerd/task/v2/ResumeRequest';
import type { ShutdownRequest__Output } from '../generated/types/containerd/task/v2/ShutdownRequest';
import type { StartRequest__Output } from '../generated/types/containerd/task/v2/StartRequest';
import type { StateRequest__Output } from '../generated/types/containerd/task/v2/StateRequest';
import type { StatsRequest__Output } from '../generated/types/containerd/task/v2/StatsRequest';
import type { UpdateTaskRequest__Output } from '../generated/types/containerd/task/v2/UpdateTaskRequest';
import type { WaitRequest__Output } from '../generated/types/containerd/task/v2/WaitRequest';
import { Container, toTimestamp, type ContainerHost } from './container';
import type { EventPublisher } from './publisher';
import { waitAtMost } from './wait';

export interface TaskServiceOptions {
  log: Logger;
  /** runc --root (before the namespace) for tasks whose options set none. */
  defaultRuncRoot: string;
  publisher: EventPublisher;
  /** Called whenever the number of tasks changes, and on Shutdown. */
  onActivity?: (reason: 'task-added' | 'task-removed' | 'shutdown') => void;
}

const key = (ns: string, id: string): string => `${ns}/${id}`;

export class TaskService implements ContainerHost {
  private readonly tasks = new Map<string, Container>();
  /** Creates in flight (their ids are taken). */
  private readonly creating = new Set<string>();
  readonly log: Logger;
  readonly defaultRuncRoot: string;

  constructor(private readonly opts: TaskServiceOptions) {
    this.log = opts.log;
    this.defaultRuncRoot = opts.defaultRuncRoot;
  }

  get taskCount(): number {
    return this.tasks.size + this.creating.size;
  }

  /** Runtime state of deleted tasks still being removed, by namespace/id. */
  private readonly cleanups = new Map<string, Promise<void>>();

  /** Waits (at most ms) for the background removals of deleted tasks' runtime state. */
  settle(ms: number): Promise<void> {
    return waitAtMost(Promise.all(this.cleanups.values()), ms);
  }

  containers(): IterableIterator<Container> {
    return this.tasks.values();
  }

  publish(namespace: string, topic: string, typeUrl: string, event: object): void {
    this.opts.publisher.publish(namespace, topic, typeUrl, event);
  }

  /** The container a call names. */
  find(id: string, ctx: CallContext): Container {
    const ns = ctx.namespace;
    if (ns) {
      const c = this.tasks.get(key(ns, id));
      if (!c) throw new NotFoundError('container not created');
      return c;
    }
    let found: Container | undefined;
    for (const c of this.tasks.values()) {
      if (c.id !== id) continue;
      if (found) throw new FailedPreconditionError(`task ${id} exists in several namespaces: the call must carry containerd-namespace-ttrpc`);
      found = c;
    }
    if (!found) throw new NotFoundError('container not created');
    return found;
  }

  private namespaceForCreate(r: CreateTaskRequest__Output, ctx: CallContext): string {
    if (ctx.namespace) return ctx.namespace;
    const ns = path.basename(path.dirname(r.bundle));
    return ns && ns !== '/' && ns !== '.' ? ns : 'default';
  }

  handlers(): ServiceHandlers {
    return {
      State: (r: StateRequest__Output, ctx: CallContext) => this.state(r, ctx),
      Create: (r: CreateTaskRequest__Output, ctx: CallContext) => this.create(r, ctx),
      Start: async (r: StartRequest__Output, ctx: CallContext) => ({ pid: await this.find(r.id, ctx).start(r.exec_id) }),
      Delete: (r: DeleteRequest__Output, ctx: CallContext) => this.delete(r, ctx),
      Pids: async (r: PidsRequest__Output, ctx: CallContext) => ({ processes: await this.find(r.id, ctx).pids() }),
      Pause: async (r: PauseRequest__Output, ctx: CallContext) => {
        await this.find(r.id, ctx).pause();
        return {};
      },
      Resume: async (r: ResumeRequest__Output, ctx: CallContext) => {
        await this.find(r.id, ctx).resume();
        return {};
      },
      Checkpoint: async (r: CheckpointTaskRequest__Output, ctx: CallContext) => {
        await this.find(r.id, ctx).checkpoint(r);
        return {};
      },
      Kill: async (r: KillRequest__Output, ctx: CallContext) => {
        await this.find(r.id, ctx).kill(r.exec_id, r.signal, r.all);
        return {};
      },
      Exec: (r: ExecProcessRequest__Output, ctx: CallContext) => {
        this.find(r.id, ctx).addExec(r);
        return {};
      },
      ResizePty: (r: ResizePtyRequest__Output, ctx: CallContext) => {
        this.find(r.id, ctx).resizePty(r.exec_id, r.width, r.height);
        return {};
      },
      CloseIO: (r: CloseIORequest__Output, ctx: CallContext) => {
        this.find(r.id, ctx).closeIO(r.exec_id, r.stdin);
        return {};
      },
      Update: async (r: UpdateTaskRequest__Output, ctx: CallContext) => {
        await this.find(r.id, ctx).update(r.resources);
        return {};
      },
      Wait: (r: WaitRequest__Output, ctx: CallContext) => this.wait(r, ctx),
      Stats: (r: StatsRequest__Output, ctx: CallContext) => ({ stats: this.find(r.id, ctx).stats() }),
      Connect: (r: ConnectRequest__Output, ctx: CallContext) => {
        let taskPid = 0;
        try {
          taskPid = this.find(r.id, ctx).init.pid;
        } catch {
          // unknown task: containerd's shim answers with task_pid 0
        }
        return { shim_pid: process.pid, task_pid: taskPid, version: '' };
      },
      Shutdown: (_r: ShutdownRequest__Output) => {
        this.opts.onActivity?.('shutdown');
        return {};
      },
    };
  }

  private state(r: StateRequest__Output, ctx: CallContext): object {
    const c = this.find(r.id, ctx);
    const p = c.process(r.exec_id);
    return {
      id: p.id,
      bundle: c.bundle,
      pid: p.pid,
      status: p.wireStatus,
      stdin: p.stdio.stdin,
      stdout: p.stdio.stdout,
      stderr: p.stdio.stderr,
      terminal: p.stdio.terminal,
      exit_status: p.exitStatus,
      exited_at: toTimestamp(p.exitedAt),
    };
  }

  private async create(r: CreateTaskRequest__Output, ctx: CallContext): Promise<object> {
    const ns = this.namespaceForCreate(r, ctx);
    const k = key(ns, r.id);
    if (this.tasks.has(k) || this.creating.has(k)) throw new AlreadyExistsError(`task ${r.id}`);
    this.creating.add(k);
    this.opts.onActivity?.('task-added');
    let c: Container;
    try {
      // The same id deleted a moment ago: its runtime state must be gone first.
      await this.cleanups.get(k);
      c = await Container.create(ns, r, this);
    } catch (err) {
      this.creating.delete(k);
      this.opts.onActivity?.('task-removed');
      this.log.warn('create failed', { namespace: ns, id: r.id, error: (err as Error).message });
      throw err;
    }
    this.creating.delete(k);
    this.tasks.set(k, c);
    this.publish(ns, '/tasks/create', 'containerd.events.TaskCreate', {
      container_id: r.id,
      bundle: r.bundle,
      rootfs: r.rootfs,
      io: { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal },
      checkpoint: r.checkpoint,
      pid: c.init.pid,
    });
    this.log.debug('created', { namespace: ns, id: r.id, pid: c.init.pid });
    return { pid: c.init.pid };
  }

  private async delete(r: DeleteRequest__Output, ctx: CallContext): Promise<object> {
    const c = this.find(r.id, ctx);
    const p = await c.delete(r.exec_id);
    if (!r.exec_id && c.cleanup) {
      const k = key(c.namespace, c.id);
      const pending: Promise<void> = c.cleanup.finally(() => {
        if (this.cleanups.get(k) === pending) this.cleanups.delete(k);
      });
      this.cleanups.set(k, pending);
    }
    if (!r.exec_id) {
      if (this.tasks.get(key(c.namespace, c.id)) === c) this.tasks.delete(key(c.namespace, c.id));
      this.opts.onActivity?.('task-removed');
    }
    return { pid: p.pid, exit_status: p.exitStatus, exited_at: toTimestamp(p.exitedAt) };
  }

  private async wait(r: WaitRequest__Output, ctx: CallContext): Promise<object> {
    const c = this.find(r.id, ctx);
    const p = c.process(r.exec_id);
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => reject(new UnknownError('context canceled'));
      ctx.signal.addEventListener('abort', onAbort, { once: true });
      p.wait().then(() => {
        ctx.signal.removeEventListener('abort', onAbort);
        resolve();
      }, reject);
    });
    return { exit_status: p.exitStatus, exited_at: toTimestamp(p.exitedAt) };
  }
}
