// One container supervised by the shim: its init process, its exec processes, its runc
// driver, cgroup and stdio. The state machines and error texts follow containerd's runc
// shim (pkg/process init_state.go / exec_state.go, runtime/v2/runc/container.go), so
// clients see the same behaviour through berth as through containerd-shim-runc-v2.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  UnknownError,
} from '../errdefs/errors';
import { validateIdentifier } from '../identifiers/validate';
import type { Logger } from '../log/logger';
import { mountAll, unmountAll, type Mount } from '../native/mount';
import { decodeMessage } from '../proto/registry';
import { cgroupOfPid, readStats, watchOom, type CgroupRef } from './cgroups';
import { DEFAULT_RUNTIME } from './constants';
import { WatchedProcess, isGone, type ExitInfo } from './reaper';
import { Runc, RuncError, killErrorKind, type RunResult } from './runc';
import { ConsoleIO, ConsoleSocket, NULL_IO, PipeIO, type ProcessIO, type StdioConfig } from './stdio';
import { waitAtMost } from './wait';
import { toWireTimestamp } from '../proto/timestamp';
import type { WallTime } from '../time/wall';
import { typeNameOf } from '../proto/type-url';

/** What a container needs from the service around it. */
export interface ContainerHost {
  readonly log: Logger;
  /** runc --root (before the namespace) when the options set none. */
  readonly defaultRuncRoot: string;
  /** Queue an event for this container's namespace (payload: a registry message). */
  publish(namespace: string, topic: string, typeUrl: string, event: object): void;
}

/** containerd.runc.v1.Options as the shim uses them (also accepted: the legacy
 * containerd.linux.runc.RuncOptions / CreateOptions). */
export interface RuncOptions {
  no_pivot_root: boolean;
  no_new_keyring: boolean;
  shim_cgroup: string;
  io_uid: number;
  io_gid: number;
  binary_name: string;
  root: string;
  criu_path: string;
  systemd_cgroup: boolean;
  criu_image_path: string;
  criu_work_path: string;
}

const EMPTY_OPTIONS: RuncOptions = {
  no_pivot_root: false, no_new_keyring: false, shim_cgroup: '', io_uid: 0, io_gid: 0, binary_name: '', root: '',
  criu_path: '', systemd_cgroup: false, criu_image_path: '', criu_work_path: '',
};

export function parseOptions(any: { type_url: string; value: Buffer } | null | undefined): RuncOptions {
  if (!any || !any.type_url) return { ...EMPTY_OPTIONS };
  const name = typeNameOf(any.type_url);
  switch (name) {
    case 'containerd.runc.v1.Options':
      return { ...EMPTY_OPTIONS, ...decodeMessage<Partial<RuncOptions>>(name, any.value) };
    case 'containerd.linux.runc.RuncOptions': {
      const o = decodeMessage<{ runtime: string; runtime_root: string; criu_path: string; systemd_cgroup: boolean }>(name, any.value);
      return { ...EMPTY_OPTIONS, binary_name: o.runtime, root: o.runtime_root, criu_path: o.criu_path, systemd_cgroup: o.systemd_cgroup };
    }
    case 'containerd.linux.runc.CreateOptions': {
      const o = decodeMessage<{ no_pivot_root: boolean; no_new_keyring: boolean; shim_cgroup: string; io_uid: number; io_gid: number }>(name, any.value);
      return { ...EMPTY_OPTIONS, ...o };
    }
    default:
      throw new InvalidArgumentError(`unsupported runtime options type ${any.type_url}`);
  }
}

/** Go's json.Marshal of options.Options (omitempty): what containerd's shim writes to options.json. */
function optionsJson(o: RuncOptions): string {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) if (v !== '' && v !== 0 && v !== false) out[k] = v;
  return JSON.stringify(out);
}

export type InitStatus = 'created' | 'running' | 'paused' | 'stopped' | 'deleted';
export type ExecStatus = 'created' | 'running' | 'stopped' | 'deleted';
/** containerd.v1.types.Status names. */
export type WireStatus = 'UNKNOWN' | 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED' | 'PAUSING';

/** How long an exit's report and Delete wait for a process's output to be passed on
 * (containerd's shim waits 2 s for IO at delete), and Delete for a created init that runc
 * killed to be reaped. */
const IO_DRAIN_MS = 2000;
/** How long a pipe copy may stand still before the exit is reported without it. */
const OUTPUT_STALL_MS = 250;
const SIGKILL = 9;

export abstract class Proc {
  pid = 0;
  exitStatus = 0;
  exitedAt: WallTime | undefined;
  io: ProcessIO = NULL_IO;
  watch: WatchedProcess | undefined;
  /** The pid was reaped; the exit is being reported (output drained first). */
  reaped = false;
  /** Set while a Start is in flight: the exit of a process is reported after its start. */
  starting: Promise<void> | undefined;
  private readonly exited: Promise<void>;
  private resolveExited!: () => void;
  private waitersResolved = false;

  constructor(readonly id: string, readonly stdio: StdioConfig) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  abstract get wireStatus(): WireStatus;
  abstract get isExec(): boolean;

  /** Resolves when the process has exited (or failed to start). */
  wait(): Promise<void> {
    return this.exited;
  }

  protected releaseWaiters(): void {
    if (this.waitersResolved) return;
    this.waitersResolved = true;
    this.resolveExited();
  }
}

export class InitProcess extends Proc {
  status: InitStatus = 'created';
  pausing = false;
  get isExec(): boolean {
    return false;
  }
  get wireStatus(): WireStatus {
    if (this.pausing) return 'PAUSING';
    return this.status === 'deleted' ? 'STOPPED' : (this.status.toUpperCase() as WireStatus);
  }
  setExited(status: number, at: WallTime): void {
    this.exitStatus = status;
    this.exitedAt = at;
    if (this.status !== 'deleted') this.status = 'stopped';
    this.releaseWaiters();
  }
}

export class ExecProcess extends Proc {
  status: ExecStatus = 'created';
  constructor(id: string, stdio: StdioConfig, readonly spec: Record<string, unknown>, private readonly parent: InitProcess) {
    super(id, stdio);
  }
  get isExec(): boolean {
    return true;
  }
  get wireStatus(): WireStatus {
    // a paused container pauses its execs too
    const ps = this.parent.wireStatus;
    if (ps === 'PAUSED' || ps === 'PAUSING') return ps;
    return this.status === 'deleted' ? 'STOPPED' : (this.status.toUpperCase() as WireStatus);
  }
  setExited(status: number, at: WallTime): void {
    this.exitStatus = status;
    this.exitedAt = at;
    if (this.status !== 'deleted') this.status = 'stopped';
    this.releaseWaiters();
  }
  /** runc exec failed: Wait returns (containerd closes waitBlock), the state stays created. */
  startFailed(): void {
    this.releaseWaiters();
  }
}

export interface CreateRequest {
  id: string;
  bundle: string;
  rootfs: Mount[];
  terminal: boolean;
  stdin: string;
  stdout: string;
  stderr: string;
  checkpoint: string;
  options: { type_url: string; value: Buffer } | null;
}

export class Container {
  readonly init: InitProcess;
  readonly execs = new Map<string, ExecProcess>();
  private readonly reserved = new Set<string>();
  cgroup: CgroupRef | undefined;
  private oom: { close(): void } | undefined;
  private killAllOnExit = true;
  private deleted = false;

  private constructor(
    readonly namespace: string,
    readonly id: string,
    readonly bundle: string,
    readonly runc: Runc,
    readonly options: RuncOptions,
    /** <bundle>/rootfs when the shim mounted the rootfs, else ''. */
    readonly rootfs: string,
    stdio: StdioConfig,
    private readonly host: ContainerHost,
  ) {
    this.init = new InitProcess(id, stdio);
  }

  private warn = (msg: string): void => this.host.log.warn(msg, { namespace: this.namespace, id: this.id });

  /** Create: mount the rootfs, `runc create`, wire stdio, watch the init pid. */
  static async create(namespace: string, r: CreateRequest, host: ContainerHost): Promise<Container> {
    if (r.checkpoint) throw new NotImplementedError('restoring a task from a checkpoint is not supported by containerd-shim-berth-v1');
    if (!path.isAbsolute(r.bundle)) throw new InvalidArgumentError(`bundle path ${JSON.stringify(r.bundle)} must be absolute`);
    const opts = parseOptions(r.options);
    fs.writeFileSync(path.join(r.bundle, 'options.json'), optionsJson(opts), { mode: 0o600 });
    fs.writeFileSync(path.join(r.bundle, 'runtime'), opts.binary_name, { mode: 0o600 });
    let rootfs = '';
    if (r.rootfs.length > 0) {
      rootfs = path.join(r.bundle, 'rootfs');
      fs.mkdirSync(rootfs, { recursive: true, mode: 0o711 });
      try {
        mountAll(r.rootfs, rootfs);
      } catch (err) {
        await unmountAll(rootfs).catch(() => undefined);
        throw new UnknownError(`failed to mount rootfs component: ${(err as Error).message}`);
      }
    }
    const runc = new Runc({
      command: opts.binary_name || DEFAULT_RUNTIME,
      root: path.join(opts.root || host.defaultRuncRoot, namespace),
      log: path.join(r.bundle, 'log.json'),
      systemdCgroup: opts.systemd_cgroup,
      criu: opts.criu_path || undefined,
    });
    const stdio: StdioConfig = { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal };
    const c = new Container(namespace, r.id, r.bundle, runc, opts, rootfs, stdio, host);
    c.killAllOnExit = shouldKillAllOnExit(r.bundle);
    try {
      await c.createInit();
    } catch (err) {
      if (rootfs) await unmountAll(rootfs).catch((e: Error) => c.warn(`failed to cleanup rootfs mount: ${e.message}`));
      throw err;
    }
    return c;
  }

  private async createInit(): Promise<void> {
    const p = this.init;
    const pidFile = path.join(this.bundle, 'init.pid');
    let pio: PipeIO | undefined;
    let socket: ConsoleSocket | undefined;
    try {
      if (p.stdio.terminal) socket = await ConsoleSocket.create();
      else pio = await PipeIO.create(p.stdio, { uid: this.options.io_uid, gid: this.options.io_gid, id: this.id, namespace: this.namespace, warn: this.warn });
      const creating = this.runc
        .create(this.id, this.bundle, {
          pidFile,
          consoleSocket: socket?.path,
          noPivot: this.options.no_pivot_root,
          noNewKeyring: this.options.no_new_keyring,
          stdio: pio?.runcStdio,
        })
        .catch(runtimeError);
      creating.catch(() => undefined); // awaited below, after the copies are set up
      // Open the client's paths and set up the copies while the runtime works (~0.5 ms of
      // stream set-up in this process, off Create's answer); they start moving bytes once
      // it succeeded (PipeIO.prepare). On the next turn: the runtime has been spawned by
      // then, with the container ends of the pipes.
      let ioError: unknown;
      if (pio) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        try {
          pio.prepare();
        } catch (err) {
          ioError = err;
        }
      }
      await creating;
      try {
        if (ioError) throw ioError;
        if (pio) {
          pio.closeAfterStart();
          pio.start();
          p.io = pio;
        } else {
          const master = await socket!.receiveMaster();
          p.io = new ConsoleIO(master, p.stdio, this.warn);
        }
        p.pid = readPidFile(pidFile);
      } catch (err) {
        await this.runc.delete(this.id, true);
        throw err;
      }
    } catch (err) {
      pio?.close();
      p.io.close();
      throw err;
    } finally {
      socket?.close();
    }
    p.watch = new WatchedProcess(p.pid, (e) => this.onExit(p, e), this.warn);
    // Right after Create's answer: find the container's cgroup (while its init waits in
    // `runc init`) and watch it for OOM kills, before Start can let the process run. Off
    // the answers of Create and Start (~0.4 ms of /proc and cgroupfs work here).
    setImmediate(() => this.watchCgroup(p.pid));
  }

  /** The init's cgroup and its OOM watch (once; not for a deleted task). */
  private watchCgroup(pid: number): void {
    if (this.deleted) return;
    this.cgroup ??= cgroupOfPid(pid);
    if (this.cgroup && !this.oom) {
      this.oom = watchOom(this.cgroup, () => this.host.publish(this.namespace, '/tasks/oom', 'containerd.events.TaskOOM', { container_id: this.id }), this.warn);
    }
  }

  get deletedOrGone(): boolean {
    return this.deleted;
  }

  /** The process `execId` ('' = init). */
  process(execId: string): Proc {
    if (!execId) return this.init;
    const e = this.execs.get(execId);
    if (!e) throw new NotFoundError(`process does not exist ${execId}`);
    return e;
  }

  // ---------------------------------------------------------------------------
  // exits

  private onExit(p: Proc, e: ExitInfo): void {
    p.reaped = true;
    p.watch = undefined;
    void this.reportExit(p, e);
  }

  private async reportExit(p: Proc, e: ExitInfo): Promise<void> {
    if (p === this.init && this.killAllOnExit) {
      // shared pid namespace: the init's children would outlive it (containerd: KillAll)
      const r = await this.runc.kill(this.id, SIGKILL, true);
      if (r.code !== 0 && killErrorKind(r.output) === 'other') this.warn(`failed to kill init's children: ${r.output.trim()}`);
    }
    // Reported after the start of the process (its event and answer), and once its output
    // has been passed on to the client's FIFOs — or has stopped moving. ctr 1.6 closes its
    // FIFOs as soon as Wait answered and the task reads stopped (task.Delete: io.Close()
    // before io.Wait()), so output still in the shim then is lost: containerd's Go shim
    // wins that race by copying faster than the exit travels, berth's waits for the copy.
    // A client that does not read its FIFO at all still learns of the exit once the copy
    // has not moved for OUTPUT_STALL_MS (containerd answers Wait at once there), and Delete
    // waits for the rest. A terminal is drained first, as containerd's shim does. Both are
    // bounded, as Delete's wait: a leftover child may hold the pipes or terminal open.
    while (p.starting) await p.starting.catch(() => undefined);
    if (p.stdio.terminal) await this.outputOf(p);
    else await this.outputOrStall(p);
    if (p instanceof InitProcess) p.setExited(e.status, e.exitedAt);
    else (p as ExecProcess).setExited(e.status, e.exitedAt);
    if (this.deleted || (p instanceof ExecProcess && p.status === 'deleted')) return;
    this.host.publish(this.namespace, '/tasks/exit', 'containerd.events.TaskExit', {
      container_id: this.id,
      id: p.id,
      pid: e.pid,
      exit_status: e.status,
      exited_at: ts(e.exitedAt),
    });
    if (p === this.init && this.rootfs) this.unmountRootfsSoon();
  }

  /** The rootfs unmount started when the init exited (unmountRootfsSoon); Delete awaits it. */
  private rootfsUnmount: Promise<void> | undefined;

  /**
   * Once the init has exited, nothing runs in the container any more (its pid namespace
   * died with it; with a shared one, reportExit killed the rest), and a stopped task cannot
   * be started again: the rootfs mount only waits for Delete. Unmounting it right after the
   * exit has been answered takes the slowest step off Delete's path: unmounting an overlay
   * syncs its upper filesystem (~1.5 ms here), while the client is still busy with the
   * exit (a Wait reply, then Tasks.Get) before it sends Delete. It runs on the thread pool,
   * so that Delete (or any other task's call) is not held up behind it in the event loop.
   * Delete waits for it and unmounts again if it failed.
   */
  private unmountRootfsSoon(): void {
    const rootfs = this.rootfs;
    this.rootfsUnmount = new Promise<void>((resolve) => setImmediate(resolve))
      .then(() => (this.deleted ? undefined : unmountAll(rootfs, 0, { offLoop: true })))
      .catch(() => undefined);
  }

  /**
   * Removes a stopped container's runtime state (runc delete: its state directory and
   * cgroup) in the background: Delete answers without waiting for it (~5 ms of runc's Go
   * start-up and cgroup removal on the path of every `ctr run --rm`). A new task with the
   * same id waits for it (TaskService), a failure is retried with --force and logged, and
   * the shim waits for it before exiting. runc logs to /dev/null here (its errors still
   * come back on stderr): the bundle, where log.json lives, may be gone before it starts.
   */
  private removeRuntimeStateInBackground(): Promise<void> {
    const background = new Runc({ ...this.runc.cfg, log: '/dev/null' });
    // Spawned on the next turn, after Delete's answer is written: starting a process
    // holds this one up until the child has exec'd.
    const next = new Promise<void>((resolve) => setImmediate(resolve));
    return next.then(() => background.delete(this.id)).then(async (first) => {
      if (first.code === 0 || /does not exist/.test(first.output)) return;
      const again = await background.delete(this.id, true);
      if (again.code !== 0 && !/does not exist/.test(again.output)) {
        this.warn(`failed to delete the runtime state of ${this.id}: ${(again.output || first.output).trim() || `exit status ${again.code}`}`);
      }
    });
  }

  /** Runtime state still being removed after Delete answered (removeRuntimeStateInBackground). */
  cleanup: Promise<void> | undefined;

  // ---------------------------------------------------------------------------
  // start

  async start(execId: string): Promise<number> {
    const p = this.process(execId);
    return p instanceof ExecProcess ? this.startExec(p) : this.startInit();
  }

  private async startInit(): Promise<number> {
    const p = this.init;
    switch (p.status) {
      case 'created':
        break;
      case 'running':
        throw new UnknownError('cannot start a running process');
      case 'paused':
        throw new UnknownError('cannot start a paused process');
      case 'stopped':
        throw new UnknownError('cannot start a stopped process');
      default:
        throw new UnknownError('cannot start a deleted process');
    }
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    p.starting = gate;
    try {
      await this.runc.start(this.id).catch(runtimeError);
      if (p.status === 'created') p.status = 'running';
      this.host.publish(this.namespace, '/tasks/start', 'containerd.events.TaskStart', { container_id: this.id, pid: p.pid });
      return p.pid;
    } finally {
      if (p.starting === gate) p.starting = undefined;
      release();
    }
  }

  private async startExec(e: ExecProcess): Promise<number> {
    switch (e.status) {
      case 'created':
        break;
      case 'running':
        throw new UnknownError('cannot start a running process');
      case 'stopped':
        throw new UnknownError('cannot start a stopped process');
      default:
        throw new UnknownError('cannot start a deleted process');
    }
    if (e.starting) throw new UnknownError('cannot start a running process');
    let release!: () => void;
    e.starting = new Promise<void>((r) => (release = r));
    const pidFile = path.join(this.bundle, `${e.id}.pid`);
    const processJson = path.join(this.bundle, `.${e.id}-process.json`);
    let pio: PipeIO | undefined;
    let socket: ConsoleSocket | undefined;
    try {
      if (e.stdio.terminal) socket = await ConsoleSocket.create();
      else pio = await PipeIO.create(e.stdio, { uid: this.options.io_uid, gid: this.options.io_gid, id: e.id, namespace: this.namespace, warn: this.warn });
      fs.writeFileSync(processJson, JSON.stringify({ ...e.spec, terminal: e.stdio.terminal }), { mode: 0o600 });
      try {
        await this.runc.exec(this.id, processJson, { pidFile, consoleSocket: socket?.path, stdio: pio?.runcStdio }).catch(runtimeError);
      } finally {
        fs.rmSync(processJson, { force: true });
      }
      if (pio) {
        pio.closeAfterStart();
        pio.start();
        e.io = pio;
      } else {
        e.io = new ConsoleIO(await socket!.receiveMaster(), e.stdio, this.warn);
      }
      e.pid = readPidFile(pidFile);
    } catch (err) {
      pio?.close();
      e.io.close();
      e.startFailed();
      e.starting = undefined;
      release();
      throw err;
    } finally {
      socket?.close();
    }
    // From here on synchronous: the exec-started event is queued before any exit can be.
    e.watch = new WatchedProcess(e.pid, (x) => this.onExit(e, x), this.warn);
    e.status = 'running';
    this.host.publish(this.namespace, '/tasks/exec-started', 'containerd.events.TaskExecStarted', { container_id: this.id, exec_id: e.id, pid: e.pid });
    e.starting = undefined;
    release();
    return e.pid;
  }

  // ---------------------------------------------------------------------------
  // exec

  /** Exec: register a process (it runs at Start). Emits /tasks/exec-added. */
  addExec(r: { exec_id: string; terminal: boolean; stdin: string; stdout: string; stderr: string; spec: { type_url: string; value: Buffer } | null }): void {
    validateIdentifier(r.exec_id);
    if (this.execs.has(r.exec_id) || this.reserved.has(r.exec_id)) throw new AlreadyExistsError(`id ${r.exec_id}`);
    switch (this.init.status) {
      case 'created':
      case 'running':
        break;
      case 'paused':
        throw new UnknownError('cannot exec in a paused state');
      case 'stopped':
        throw new UnknownError('cannot exec in a stopped state');
      default:
        throw new UnknownError('cannot exec in a deleted state');
    }
    let spec: Record<string, unknown>;
    try {
      const v: unknown = JSON.parse((r.spec?.value ?? Buffer.alloc(0)).toString('utf8'));
      if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new Error('not a JSON object');
      spec = v as Record<string, unknown>;
    } catch (err) {
      throw new InvalidArgumentError(`exec process spec: ${(err as Error).message}`);
    }
    const e = new ExecProcess(r.exec_id, { stdin: r.stdin, stdout: r.stdout, stderr: r.stderr, terminal: r.terminal }, spec, this.init);
    this.execs.set(r.exec_id, e);
    this.host.publish(this.namespace, '/tasks/exec-added', 'containerd.events.TaskExecAdded', { container_id: this.id, exec_id: r.exec_id });
  }

  // ---------------------------------------------------------------------------
  // kill, pause, resume, update

  async kill(execId: string, signal: number, all: boolean): Promise<void> {
    const p = this.process(execId);
    if (p instanceof ExecProcess) {
      if (p.pid === 0) throw new FailedPreconditionError('process not created');
      if (p.reaped || p.exitedAt || !p.watch) throw new NotFoundError('process already finished');
      try {
        p.watch.signal(signal);
      } catch (err) {
        if (isGone(err)) throw new NotFoundError('process already finished');
        throw new UnknownError(`exec kill error: ${(err as Error).message}`);
      }
      return;
    }
    if (this.init.status === 'deleted') throw new NotFoundError('cannot kill a deleted process');
    if (!all && (this.init.reaped || this.init.status === 'stopped')) throw new NotFoundError('process already finished');
    const r = await this.runc.kill(this.id, signal, all);
    if (r.code === 0) return;
    switch (killErrorKind(r.output)) {
      case 'finished':
        throw new NotFoundError('process already finished');
      case 'no-container':
        throw new NotFoundError('no such container');
      default:
        throw new UnknownError(`unknown error after kill: ${r.output.trim() || `exit status ${r.code}`}`);
    }
  }

  async pause(): Promise<void> {
    const p = this.init;
    switch (p.status) {
      case 'running':
        break;
      case 'created':
        throw new UnknownError('cannot pause task in created state');
      case 'paused':
        throw new UnknownError('cannot pause a paused container');
      case 'stopped':
        throw new UnknownError('cannot pause a stopped container');
      default:
        throw new UnknownError('cannot pause a deleted process');
    }
    p.pausing = true;
    try {
      await this.runc.pause(this.id).catch(runtimeError);
    } finally {
      p.pausing = false;
    }
    if (p.status === 'running') p.status = 'paused';
    this.host.publish(this.namespace, '/tasks/paused', 'containerd.events.TaskPaused', { container_id: this.id });
  }

  async resume(): Promise<void> {
    const p = this.init;
    switch (p.status) {
      case 'paused':
        break;
      case 'created':
        throw new UnknownError('cannot resume task in created state');
      case 'running':
        throw new UnknownError('cannot resume a running process');
      case 'stopped':
        throw new UnknownError('cannot resume a stopped container');
      default:
        throw new UnknownError('cannot resume a deleted process');
    }
    await this.runc.resume(this.id).catch(runtimeError);
    if (p.status === 'paused') p.status = 'running';
    this.host.publish(this.namespace, '/tasks/resumed', 'containerd.events.TaskResumed', { container_id: this.id });
  }

  async update(resources: { type_url: string; value: Buffer } | null): Promise<void> {
    if (this.init.status === 'stopped') throw new UnknownError('cannot update a stopped container');
    if (this.init.status === 'deleted') throw new UnknownError('cannot update a deleted process');
    const json = resources?.value ?? Buffer.alloc(0);
    try {
      JSON.parse(json.toString('utf8') || 'null');
    } catch (err) {
      throw new InvalidArgumentError(`resources: ${(err as Error).message}`);
    }
    await this.runc.update(this.id, json).catch(runtimeError);
  }

  async checkpoint(r: { path: string; options: { type_url: string; value: Buffer } | null }): Promise<void> {
    // No check for criu here: as containerd's runc shim, run runc and pass its error on
    // (runc itself reports a missing or too old criu).
    switch (this.init.status) {
      case 'running':
      case 'paused':
        break;
      case 'created':
        throw new UnknownError('cannot checkpoint a task in created state');
      default:
        throw new UnknownError('cannot checkpoint a stopped container');
    }
    const o = r.options?.type_url
      ? decodeMessage<{ exit: boolean; open_tcp: boolean; external_unix_sockets: boolean; terminal: boolean; file_locks: boolean; empty_namespaces: string[]; cgroups_mode: string; image_path: string; work_path: string }>(
          'containerd.runc.v1.CheckpointOptions',
          r.options.value,
        )
      : undefined;
    const work = o?.work_path || path.join(this.bundle, 'criu-work');
    try {
      await this.runc
        .checkpoint(this.id, {
          imagePath: r.path || o?.image_path || '',
          workPath: work,
          leaveRunning: !o?.exit,
          openTcp: o?.open_tcp,
          externalUnixSockets: o?.external_unix_sockets,
          terminal: o?.terminal,
          fileLocks: o?.file_locks,
          emptyNamespaces: o?.empty_namespaces,
          cgroupsMode: o?.cgroups_mode,
        })
        .catch((err: unknown) => {
          // As containerd's runc shim reports it: go-runc's error text up to criu's
          // "log file:" line, and the dump log kept as <bundle>/criu-dump.log.
          const dumpLog = path.join(this.bundle, 'criu-dump.log');
          try {
            fs.copyFileSync(path.join(work, 'dump.log'), dumpLog);
          } catch {
            // no log to keep
          }
          if (!(err instanceof RuncError)) throw err;
          const detail = err.message.replace(/^OCI runtime checkpoint failed: /, '');
          const criu = detail.trim().split('\nlog file:')[0] ?? '';
          throw new UnknownError(`runc did not terminate successfully: exit status ${err.exitCode}: ${criu} path= ${dumpLog}`);
        });
    } finally {
      if (!o?.work_path) fs.rmSync(work, { recursive: true, force: true });
    }
  }

  // ---------------------------------------------------------------------------
  // pids, stats, pty, io

  async pids(): Promise<{ pid: number; info: { type_url: string; value: Buffer } | null }[]> {
    const pids = await this.runc.ps(this.id).catch(runtimeError);
    const byPid = new Map<number, string>();
    for (const e of this.execs.values()) if (e.pid > 0) byPid.set(e.pid, e.id);
    return pids.map((pid) => {
      const execId = byPid.get(pid);
      return {
        pid,
        info: execId === undefined ? null : { type_url: 'containerd.runc.v1.ProcessDetails', value: encodeProcessDetails(execId) },
      };
    });
  }

  stats(): { type_url: string; value: Buffer } {
    if (!this.cgroup) throw new NotFoundError('cgroup does not exist');
    const s = readStats(this.cgroup);
    return { type_url: s.typeUrl, value: s.value };
  }

  resizePty(execId: string, width: number, height: number): void {
    const p = this.process(execId);
    if (p instanceof ExecProcess) {
      if (p.status === 'stopped') throw new UnknownError('cannot resize a stopped container');
      if (p.status === 'deleted') throw new UnknownError('cannot resize a deleted process');
    }
    if (!p.stdio.terminal) return;
    try {
      p.io.resize(width, height);
    } catch (err) {
      // A resize racing the process's exit (ctr sends one as it finishes) finds the
      // console closed: nothing to resize, as with containerd's shim.
      const code = (err as { code?: string }).code;
      const gone = (p as { status?: string }).status === 'stopped' || (p as { status?: string }).status === 'deleted';
      if (code === 'EBADF' || code === 'ENOTTY' || code === 'EIO' || gone) return;
      throw new UnknownError((err as Error).message);
    }
  }

  closeIO(execId: string, stdin: boolean): void {
    const p = this.process(execId);
    if (stdin) p.io.closeStdin();
  }

  // ---------------------------------------------------------------------------
  // delete

  /** Delete a process; for the init process this deletes the container (the caller drops it). */
  async delete(execId: string): Promise<Proc> {
    const p = this.process(execId);
    if (p instanceof ExecProcess) {
      switch (p.status) {
        case 'running':
          throw new UnknownError('cannot delete a running process');
        case 'deleted':
          throw new NotFoundError('cannot delete a deleted process');
        default:
          break;
      }
      await this.outputOf(p);
      p.status = 'deleted';
      p.watch?.release();
      p.io.close();
      fs.rmSync(path.join(this.bundle, `${p.id}.pid`), { force: true });
      this.execs.delete(p.id);
      return p;
    }
    const init = this.init;
    switch (init.status) {
      case 'running':
        throw new UnknownError('cannot delete a running process');
      case 'paused':
        throw new UnknownError('cannot delete a paused process');
      case 'deleted':
        throw new NotFoundError('cannot delete a deleted process');
      default:
        break;
    }
    const wasCreated = init.status === 'created';
    this.deleted = true; // no /tasks/exit for an init killed by this delete
    let r: RunResult;
    if (init.status === 'stopped') {
      // Its processes are gone (the init exited and was reaped): nothing to wait for.
      r = { code: 0, stdout: '', output: '' };
      this.cleanup = this.removeRuntimeStateInBackground();
    } else {
      r = await this.runc.delete(this.id);
    }
    let err: Error | undefined;
    if (r.code !== 0 && !/does not exist/.test(r.output + this.runcLogError())) {
      err = new UnknownError(`failed to delete task: ${this.runc.error('', r).message.replace(/^: /, '')}`);
    }
    if (wasCreated && !err) {
      // runc killed the created init: collect its status for the reply
      await waitAtMost(init.wait(), IO_DRAIN_MS);
    }
    if (err) {
      this.deleted = false;
      throw err;
    }
    init.status = 'deleted';
    // The output still being passed on goes out first (containerd: waitTimeout(p.wg, 2 s)).
    // Usually it is done: clients wait for their copies before they delete.
    await this.outputOf(init);
    // Closing the pipes, pidfds and the OOM watch is not part of the answer, so it happens
    // right after it (~0.4 ms of stream teardown in this process).
    setImmediate(() => this.closeAll());
    if (this.rootfs) {
      await this.rootfsUnmount;
      // a failure leaves the task deleted (its owner unmounts the bundle when removing it)
      await unmountAll(this.rootfs).catch((e: Error) => this.warn(`failed to cleanup rootfs mount: ${e.message}`));
    }
    this.host.publish(this.namespace, '/tasks/delete', 'containerd.events.TaskDelete', {
      container_id: this.id,
      pid: init.pid,
      exit_status: init.exitStatus,
      exited_at: ts(init.exitedAt),
    });
    return init;
  }

  /** Resolves once a process's output has been passed on, once its copies have not moved
   * for OUTPUT_STALL_MS (the client is not reading), or after IO_DRAIN_MS. */
  private async outputOrStall(p: Proc): Promise<void> {
    const deadline = Date.now() + IO_DRAIN_MS;
    let done = false;
    const finished = p.io.outputDone.then(() => (done = true));
    for (let last = -1; !done && p.io.outputMoved !== last && Date.now() < deadline; ) {
      last = p.io.outputMoved;
      await waitAtMost(finished, Math.min(OUTPUT_STALL_MS, Math.max(0, deadline - Date.now())));
    }
  }

  /** Resolves once a process's output has been passed on, or after IO_DRAIN_MS. */
  private outputOf(p: Proc): Promise<void> {
    return waitAtMost(p.io.outputDone, IO_DRAIN_MS);
  }

  /** After Delete of the init: release everything the task's processes held. */
  private closeAll(): void {
    this.release();
    this.init.io.close();
    for (const e of this.execs.values()) e.io.close();
  }

  private runcLogError(): string {
    try {
      return fs.readFileSync(this.runc.cfg.log, 'utf8').slice(-4096);
    } catch {
      return '';
    }
  }

  /** Forget everything without touching the runtime (shim shutting down). */
  release(): void {
    this.init.watch?.release();
    for (const e of this.execs.values()) e.watch?.release();
    this.oom?.close();
    this.oom = undefined;
  }
}

// ---------------------------------------------------------------------------------

function runtimeError(err: unknown): never {
  if (err instanceof RuncError) throw new UnknownError(err.message);
  throw err;
}

function readPidFile(p: string): number {
  const pid = Number(fs.readFileSync(p, 'utf8').trim());
  if (!Number.isInteger(pid) || pid <= 0) throw new UnknownError(`failed to retrieve OCI runtime container pid: bad pid file ${p}`);
  return pid;
}

/** containerd's ShouldKillAllOnExit: true unless the container has a private pid namespace. */
export function shouldKillAllOnExit(bundle: string): boolean {
  try {
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as { linux?: { namespaces?: { type?: string; path?: string }[] } };
    for (const ns of spec.linux?.namespaces ?? []) if (ns.type === 'pid' && !ns.path) return false;
    return true;
  } catch {
    return true;
  }
}

/** An exit time on the wire; Go's zero time for "not exited". */
function ts(t: WallTime | undefined): { seconds: number; nanos: number } {
  return toWireTimestamp(t);
}
export { ts as toTimestamp };

/** containerd.runc.v1.ProcessDetails{1 exec_id} */
function encodeProcessDetails(execId: string): Buffer {
  const b = Buffer.from(execId, 'utf8');
  const len: number[] = [];
  let n = b.length;
  while (n > 0x7f) {
    len.push((n & 0x7f) | 0x80);
    n >>>= 7;
  }
  len.push(n);
  return Buffer.concat([Buffer.from([0x0a, ...len]), b]);
}
