// Containers (the Containers service) and creating their tasks.
import type { ContainerRecord } from './records';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../errdefs/errors';
import type { CallOptions } from './call-options';
import { TaskIO, type TaskStdio } from './cio';
import { Services, type Rpc } from './rpc';
import { Snapshotter, type Mount } from './snapshots';
import { Task } from './task';

export type { ContainerRecord };

export const RUNTIME_SPEC_TYPE = 'types.containerd.io/opencontainers/runtime-spec/1/Spec';

export interface NewTaskOptions extends TaskStdio {
  /**
   * Send the task's stdout and stderr to this URI instead of FIFOs (no stdin), as the Go
   * client's cio.LogURI / `ctr run --log-uri`: `file:///path` (the shim appends both streams
   * to the file, creating it) or `binary:///program?args` (a logging program the shim runs).
   */
  logUri?: string;
  /** Rootfs mounts; by default those of the container's snapshot. */
  rootfs?: Mount[];
  /** Runtime-specific options (an Any), passed through. */
  options?: { type_url: string; value: Buffer };
}

export interface AttachOptions extends Omit<TaskStdio, 'terminal' | 'fifoRoot'> {}

/** What the client that made a container already knows of it: its snapshot, and the mounts its Prepare answered. */
export interface KnownSnapshot {
  snapshotter: string;
  snapshotKey: string;
  mounts?: Mount[] | undefined;
}

/** A container by id; its record is read from the daemon when needed. */
export class Container {
  constructor(
    private readonly rpc: Rpc,
    readonly id: string,
    /** Set by newContainer: a task and a deletion then need not read the record first. */
    private readonly known?: KnownSnapshot,
  ) {
    // Made just now by newContainer: it has no task yet.
    this.noTask = known !== undefined;
  }

  /** True while this object knows the container has no task (made here, or its task
   * deleted through it): delete() then need not ask. */
  private noTask: boolean;

  /** The container's snapshot, as newContainer made it or as the record says. */
  private async snapshot(opts?: CallOptions): Promise<KnownSnapshot> {
    if (this.known) return this.known;
    const c = await this.info(opts);
    return { snapshotter: c.snapshotter, snapshotKey: c.snapshot_key };
  }

  async info(opts?: CallOptions): Promise<ContainerRecord> {
    const r = await this.rpc.unary<{ container: ContainerRecord }>(Services.containers, 'Get', { id: this.id }, opts);
    return r.container;
  }

  /** The container's OCI runtime spec, decoded. */
  async spec(opts?: CallOptions): Promise<Record<string, unknown>> {
    const c = await this.info(opts);
    return c.spec && c.spec.value.length > 0 ? (JSON.parse(c.spec.value.toString('utf8')) as Record<string, unknown>) : {};
  }

  /** Replaces the labels (all, or the `labels.<key>` paths given). */
  async setLabels(labels: Record<string, string>, paths?: string[], opts?: CallOptions): Promise<ContainerRecord> {
    const r = await this.rpc.unary<{ container: ContainerRecord }>(
      Services.containers,
      'Update',
      { container: { id: this.id, labels }, update_mask: { paths: paths ?? ['labels'] } },
      opts,
    );
    return r.container;
  }

  /** Replaces the spec. */
  async setSpec(spec: object, opts?: CallOptions): Promise<ContainerRecord> {
    const r = await this.rpc.unary<{ container: ContainerRecord }>(
      Services.containers,
      'Update',
      { container: { id: this.id, spec: { type_url: RUNTIME_SPEC_TYPE, value: Buffer.from(JSON.stringify(spec)) } }, update_mask: { paths: ['spec'] } },
      opts,
    );
    return r.container;
  }

  /**
   * Creates the container's task (not started). stdio goes through FIFOs this client makes
   * and opens first (see cio.ts); a stdin Readable is copied in and closes the task's stdin
   * when it ends.
   */
  async newTask(o: NewTaskOptions = {}, opts?: CallOptions): Promise<Task> {
    let rootfs = o.rootfs;
    if (!rootfs) {
      const snap = await this.snapshot(opts);
      rootfs = !snap.snapshotKey ? [] : (snap.mounts ?? (await new Snapshotter(this.rpc, snap.snapshotter).mounts(snap.snapshotKey, opts)));
    }
    if (o.logUri && (o.terminal || o.stdin !== undefined || o.stdout !== undefined || o.stderr !== undefined)) {
      throw new InvalidArgumentError('a log URI takes the place of stdio: no terminal or streams with it');
    }
    // With a log URI the shim writes the output itself: no FIFOs, nothing for us to copy.
    const io = o.logUri ? null : TaskIO.create(this.id, o);
    const stdio = io ? io.fifos : { stdin: '', stdout: o.logUri ?? '', stderr: o.logUri ?? '', terminal: false };
    let pid: number;
    try {
      const r = await this.rpc.unary<{ container_id: string; pid: number }>(
        Services.tasks,
        'Create',
        {
          container_id: this.id,
          rootfs,
          stdin: stdio.stdin,
          stdout: stdio.stdout,
          stderr: stdio.stderr,
          terminal: stdio.terminal,
          options: o.options ?? null,
        },
        opts,
      );
      pid = r.pid;
    } catch (err) {
      io?.close();
      throw err;
    }
    this.noTask = false;
    const task = new Task(this.rpc, this.id, io, pid, () => (this.noTask = true));
    io?.pipeStdin(o.stdin, () => task.closeStdinAfterStart());
    return task;
  }

  /**
   * The container's existing task. With stdio streams given, its FIFOs are opened again
   * and copied to them (cio.NewAttach): `tasks attach`.
   */
  async task(attach?: AttachOptions, opts?: CallOptions): Promise<Task> {
    const r = await this.rpc.unary<{ process: { pid: number; stdin: string; stdout: string; stderr: string; terminal: boolean } | null }>(
      Services.tasks,
      'Get',
      { container_id: this.id },
      opts,
    );
    if (!r.process) throw new NotFoundError(`no running task found: task ${this.id} not found`);
    const p = r.process;
    const io = attach ? TaskIO.attach({ stdin: p.stdin, stdout: p.stdout, stderr: p.stderr, terminal: p.terminal }, attach) : null;
    const task = new Task(this.rpc, this.id, io, p.pid, () => (this.noTask = true));
    if (io && attach?.stdin && attach.stdin !== 'pipe') io.pipeStdin(attach.stdin, () => void task.closeStdin().catch(() => undefined));
    return task;
  }

  /**
   * Deletes the container; withSnapshot also removes its snapshot (as the Go client's
   * WithSnapshotCleanup). A container that still has a task (running or not) is a
   * FailedPreconditionError, as the Go client's ErrDeleteRunningTask: the daemon would
   * delete the record anyway, and the snapshot would go from under the task's rootfs.
   */
  async delete(o: { withSnapshot?: boolean } = {}, opts?: CallOptions): Promise<void> {
    if (!this.noTask) {
      const hasTask = await this.rpc.unary(Services.tasks, 'Get', { container_id: this.id }, opts).then(
        () => true,
        (err: unknown) => {
          if (err instanceof NotFoundError) return false;
          throw err;
        },
      );
      if (hasTask) throw new FailedPreconditionError('cannot delete running task');
    }
    const snap = o.withSnapshot ? await this.snapshot(opts) : null;
    // The Go client removes the snapshot first, then the record; neither needs the other,
    // so both go at once (one round trip less on every `run --rm`).
    const removing =
      snap && snap.snapshotKey && snap.snapshotter
        ? new Snapshotter(this.rpc, snap.snapshotter).remove(snap.snapshotKey, opts).catch((err: unknown) => {
            if (!(err instanceof NotFoundError)) throw err;
          })
        : Promise.resolve();
    const [deleted, removed] = await Promise.allSettled([this.rpc.unary(Services.containers, 'Delete', { id: this.id }, opts), removing]);
    if (deleted.status === 'rejected') throw deleted.reason;
    if (removed.status === 'rejected') throw removed.reason;
  }
}
