// The runtime v2 task manager (containerd runtime/v2 manager.go, shim.go, shim_load.go):
// creates bundles, launches shims, keeps one task per container id and namespace, cleans
// up after shims that die, and reconnects to running shims after berthd restarts.
//
// Layout: bundles under <state>/tasks/<ns>/<id>, work dirs under <root>/tasks/<ns>/<id>.
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { AlreadyExistsError, NotFoundError } from '../errdefs/errors';
import type { Logger } from '../log/logger';
import type { AnyValue } from '../metadata/records';
import { removeTree, unmountAll } from '../native';
import { packAny } from '../proto/any';
import { toWireTimestamp } from '../proto/timestamp';
import { wallNow } from '../time/wall';
import { ADDRESS_FILE, Bundle, SHIM_BINARY_PATH_FILE } from './bundle';
import { fromShim, isClosed, wrapError } from './errors';
import { isLegacyLinuxRuntime, shimCgroupOf } from './legacy-linux';
import { BERTH_SHIM_BINARY, type RuntimeResolver } from './resolve';
import { ShimConnectionPool } from './shim-connections';
import { ShimClient, dialPath } from './shim-client';
import { ShimCommand, type ShimCommandConfig } from './shim-launcher';
import { ShimLog } from './shim-log';
import { ShimTask } from './shim-task';
import { StoppedTask } from './stopped-task';
import type { CreateOpts, ExitInfo, RuntimeTask, TaskIO } from './types';

/** containerd's timeouts (io.containerd.timeout.shim.*). */
const LOAD_TIMEOUT_MS = 5_000;
const CLEANUP_TIMEOUT_MS = 5_000;
const SHUTDOWN_TIMEOUT_MS = 3_000;
/** How long a shim's `start` may take before Tasks.Create gives up. */
const START_TIMEOUT_MS = 60_000;

const NO_IO: TaskIO = { stdin: '', stdout: '', stderr: '', terminal: false };

export interface TaskManagerConfig {
  /** <state>/tasks: bundles. */
  stateDir: string;
  /** <root>/tasks: shim work dirs. */
  rootDir: string;
  /** berthd's gRPC socket (the shims' -address). */
  address: string;
  /** TTRPC_ADDRESS for the shims. */
  ttrpcAddress: string;
  /** -publish-binary for the shims. */
  publishBinary: string;
  /** Pass -debug to shims. */
  debug: boolean;
  resolver: RuntimeResolver;
  /** Publishes an event from berthd itself (dead-shim exit/delete). */
  publish: (ns: string, topic: string, event: AnyValue) => void;
  /** The container's runtime name, for bundles without shim-binary-path; undefined if the container is gone. */
  containerRuntime: (ns: string, id: string) => Promise<string | undefined>;
  log: Logger;
}

/**
 * A dead shim leaves its socket file behind (its `delete` does not remove it). Remove it
 * if it is a socket path nobody accepts on any more.
 */
async function removeDeadSocket(address: string | undefined): Promise<void> {
  const a = address?.trim() ?? '';
  if (!a.startsWith('unix:///')) return;
  const p = dialPath(a);
  const alive = await new Promise<boolean>((resolve) => {
    const s = net.connect({ path: p });
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) return;
  try {
    if ((await fsp.lstat(p)).isSocket()) await fsp.unlink(p);
  } catch {
    // already gone
  }
}

export interface CreateResult {
  task: RuntimeTask;
  pid: number;
}

export class TaskManager {
  private readonly tasks = new Map<string, Map<string, RuntimeTask>>();
  private readonly creating = new Set<string>();
  /** Shared-shim binary → the address its `start` printed (berth's own shim only). */
  private readonly sharedShims = new Map<string, string>();
  /** The one connection to berth's shared shim that all its tasks use. */
  private readonly shimConnections = new ShimConnectionPool();
  private closed = false;

  constructor(private readonly cfg: TaskManagerConfig) {}

  /** The task of a container, or undefined. */
  find(ns: string, id: string): RuntimeTask | undefined {
    return this.tasks.get(ns)?.get(id);
  }

  /** Tasks of a namespace, in creation order. */
  list(ns: string): RuntimeTask[] {
    return [...(this.tasks.get(ns)?.values() ?? [])];
  }

  /** Number of tasks in all namespaces. */
  get size(): number {
    let n = 0;
    for (const m of this.tasks.values()) n += m.size;
    return n;
  }

  private register(t: RuntimeTask): void {
    let m = this.tasks.get(t.namespace);
    if (!m) {
      m = new Map();
      this.tasks.set(t.namespace, m);
    }
    m.set(t.id, t);
  }

  /** Removes `t` if it is still the registered task for its id. */
  private unregister(t: RuntimeTask): boolean {
    const m = this.tasks.get(t.namespace);
    if (m?.get(t.id) !== t) return false;
    m.delete(t.id);
    if (m.size === 0) this.tasks.delete(t.namespace);
    return true;
  }

  private command(bundle: Bundle, binary: string): ShimCommand {
    const c: ShimCommandConfig = {
      binary,
      address: this.cfg.address,
      ttrpcAddress: this.cfg.ttrpcAddress,
      publishBinary: this.cfg.publishBinary,
      debug: this.cfg.debug,
    };
    return new ShimCommand(bundle, c);
  }

  private shimLogger(ns: string, id: string): Logger {
    return this.cfg.log.with({ namespace: ns, id });
  }

  /**
   * containerd's TaskManager.Create: bundle, shim `start`, connect, Task.Create. Errors
   * read as containerd's ("failed to start shim: …", "failed to create shim task: …").
   */
  async create(ns: string, id: string, opts: CreateOpts): Promise<CreateResult> {
    const key = `${ns}/${id}`;
    const existing = this.find(ns, id);
    if ((existing && !(existing instanceof StoppedTask)) || this.creating.has(key)) {
      throw new AlreadyExistsError(`task ${id}`);
    }
    this.creating.add(key);
    try {
      // A stopped record of a dead shim gives way to the new task.
      if (existing) this.unregister(existing);
      const t0 = performance.now();
      const task = await this.startShim(ns, id, opts);
      const t1 = performance.now();
      this.register(task);
      this.watch(task);
      let pid: number;
      try {
        const r = await task.client.create({
          id,
          bundle: task.bundle.path,
          rootfs: opts.rootfs.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: m.options })),
          terminal: opts.io.terminal,
          stdin: opts.io.stdin,
          stdout: opts.io.stdout,
          stderr: opts.io.stderr,
          checkpoint: opts.checkpoint,
          options: opts.options,
        });
        pid = r.pid;
      } catch (err) {
        this.unregister(task);
        await this.cleanupFailedCreate(task);
        // containerd's v1 runtime hands the shim's error back as it is.
        throw isLegacyLinuxRuntime(opts.runtime) ? fromShim(err) : wrapError('failed to create shim task', fromShim(err));
      }
      task.pid = pid;
      if (this.cfg.log.enabled('debug')) {
        const ms = (a: number, b: number): number => Math.round((b - a) * 10) / 10;
        this.cfg.log.debug('task created', { namespace: ns, id, pid, startShimMs: ms(t0, t1), createMs: ms(t1, performance.now()) });
      }
      return { task, pid };
    } finally {
      this.creating.delete(key);
    }
  }

  /**
   * The bundle's `log` FIFO, which a shim writes its log to (containerd's shims open it and
   * wait for a reader). berth's shared shim logs to one file beside its socket instead, so
   * for it there is nothing to read: no FIFO, no reader (~0.4 ms per task).
   */
  private openShimLog(binary: string, bundle: Bundle, ns: string, id: string): ShimLog | undefined {
    return binary === BERTH_SHIM_BINARY ? undefined : ShimLog.open(bundle.path, this.shimLogger(ns, id));
  }

  /**
   * berth's own shim serves every task of this daemon from one process, so once it has
   * answered a `start`, later tasks connect to it directly instead of exec'ing `start`
   * again (its only effect would be to print the same address). The bundle still gets the
   * `address` file that reconnect after a restart reads. Any failure: fall back to `start`.
   */
  /** `start` of berth's shared shim in flight, by binary: its address once it answers. */
  private readonly startingShared = new Map<string, Promise<string>>();

  private async reuseSharedShim(binary: string, bundle: Bundle, ns: string): Promise<ShimClient | undefined> {
    const address = this.sharedShims.get(binary);
    if (!address) return undefined;
    // A shim about to exit on idle withdraws <socket>.pid first: then go through `start`,
    // which keeps it (or starts another) instead of racing its shutdown.
    if (!fs.existsSync(`${dialPath(address)}.pid`)) {
      this.sharedShims.delete(binary);
      return undefined;
    }
    try {
      const client = await this.shimConnections.lease(address, ns, 1_000);
      await bundle.writeFile(ADDRESS_FILE, address);
      return client;
    } catch {
      this.sharedShims.delete(binary);
      return undefined;
    }
  }

  private async startShim(ns: string, id: string, opts: CreateOpts): Promise<ShimTask> {
    let bundle: Bundle;
    try {
      bundle = await Bundle.create(this.cfg.stateDir, this.cfg.rootDir, ns, id, opts.spec);
    } catch (err) {
      throw wrapError('failed to start shim', err);
    }
    let shimLog: ShimLog | undefined;
    let client: ShimClient | undefined;
    try {
      let binary: string;
      try {
        binary = this.cfg.resolver.resolve(opts.runtime);
      } catch (err) {
        throw wrapError('failed to resolve runtime path', err);
      }
      const command = this.command(bundle, binary);
      shimLog = this.openShimLog(binary, bundle, ns, id);
      // A task that asks for a shim cgroup gets a shim process of its own in that cgroup,
      // as with containerd's shim per task; the shared shim must not move for one task.
      const ownProcess = binary === BERTH_SHIM_BINARY && shimCgroupOf(opts.options) !== '';
      if (!ownProcess) client = await this.reuseSharedShim(binary, bundle, ns);
      // Another task is starting the shared shim already: use the one it starts rather
      // than running `start` too (a burst of creates would start a Node process each).
      const inFlight = client || ownProcess ? undefined : this.startingShared.get(binary);
      if (inFlight) {
        const address = await inFlight.catch(() => undefined);
        if (address) client = await this.reuseSharedShim(binary, bundle, ns);
      }
      if (!client) {
        let address: string;
        const options = opts.options ? { typeUrl: opts.options.type_url, value: opts.options.value } : undefined;
        this.cfg.log.debug('running shim start', { namespace: ns, id, binary, ownProcess });
        const starting = command.start(options, START_TIMEOUT_MS, ownProcess);
        const shared = binary === BERTH_SHIM_BINARY && !ownProcess && !this.startingShared.has(binary);
        if (shared) {
          this.startingShared.set(binary, starting);
          void starting.then(
            (a) => this.sharedShims.set(binary, a),
            () => undefined,
          ).finally(() => this.startingShared.delete(binary));
        }
        try {
          address = await starting;
        } catch (err) {
          throw wrapError('start failed', err);
        }
        client = await this.connectShim(binary, address, ns, 10_000, true);
        if (binary === BERTH_SHIM_BINARY && !ownProcess) this.sharedShims.set(binary, address);
      }
      await bundle.writeFile(SHIM_BINARY_PATH_FILE, binary);
      return new ShimTask(bundle, client, command, shimLog, 0, opts.io);
    } catch (err) {
      client?.close();
      shimLog?.close();
      await bundle.delete().catch((e: unknown) => this.cfg.log.warn('failed to delete bundle', { namespace: ns, id, error: e as Error }));
      throw wrapError('failed to start shim', err);
    }
  }

  /** After a failed Task.Create: let the shim go and clean up what it may have left. */
  private async cleanupFailedCreate(task: ShimTask): Promise<void> {
    try {
      await task.client.delete(task.id, '', { timeoutMs: CLEANUP_TIMEOUT_MS });
    } catch {
      // nothing was created, usually
    }
    await this.shutdownShim(task);
    try {
      await task.command.delete(CLEANUP_TIMEOUT_MS);
    } catch (err) {
      this.cfg.log.debug('shim delete after failed create', { namespace: task.namespace, id: task.id, error: err as Error });
    }
    await task.bundle.delete().catch((e: unknown) => this.cfg.log.warn('failed to delete bundle', { namespace: task.namespace, id: task.id, error: e as Error }));
  }

  /** Shutdown (3 s), then close the connection on purpose. */
  private async shutdownShim(task: ShimTask): Promise<void> {
    task.markIntentional();
    try {
      await task.client.shutdown(task.id, false, { timeoutMs: SHUTDOWN_TIMEOUT_MS });
    } catch (err) {
      if (!isClosed(err)) this.cfg.log.warn('failed to shutdown shim task', { namespace: task.namespace, id: task.id, error: err as Error });
    }
    task.detach();
  }

  /** Reacts to the shim's connection closing without berthd asking for it. */
  private watch(task: ShimTask): void {
    void task.client.waitClosed().then(() => {
      if (task.closedOnPurpose || this.closed) return;
      task.setDeath(this.cleanupDeadShim(task));
    });
  }

  /**
   * containerd's cleanupAfterDeadShim: run the shim's `delete`, remove the bundle, and, if
   * the task is still registered, publish /tasks/exit and /tasks/delete with the exit it
   * reported (255 if it failed). The task then reads as stopped until deleted.
   */
  private async cleanupDeadShim(task: ShimTask): Promise<ExitInfo> {
    const log = this.cfg.log.with({ namespace: task.namespace, id: task.id });
    log.warn('cleaning up after shim disconnected');
    task.closeLog();
    const exit = await this.runShimDelete(task.command, task.pid, log);
    await removeDeadSocket(await task.bundle.readFile(ADDRESS_FILE).catch(() => undefined));
    await task.bundle.delete().catch((e: unknown) => log.warn('failed to delete bundle', { error: e as Error }));
    if (this.find(task.namespace, task.id) === task) {
      this.publishDeath(task.namespace, task.id, exit);
      this.unregister(task);
      this.register(new StoppedTask(task.id, task.namespace, exit, task.io ?? NO_IO));
    }
    return exit;
  }

  private async runShimDelete(command: ShimCommand, fallbackPid: number, log: Logger): Promise<ExitInfo> {
    try {
      const { exit, warnings } = await command.delete(CLEANUP_TIMEOUT_MS);
      if (warnings.trim() !== '') log.warn('cleanup warnings', { warnings: warnings.trim() });
      return { pid: exit.pid, exitStatus: exit.exitStatus, exitedAt: exit.exitedAt ?? toWireTimestamp(wallNow()) };
    } catch (err) {
      log.warn('failed to clean up after shim disconnected', { error: err as Error });
      return { pid: fallbackPid, exitStatus: 255, exitedAt: toWireTimestamp(wallNow()) };
    }
  }

  private publishDeath(ns: string, id: string, exit: ExitInfo): void {
    const publish = (topic: string, type: string, payload: object): void => {
      try {
        this.cfg.publish(ns, topic, packAny(type, payload));
      } catch (err) {
        this.cfg.log.warn('failed to publish event', { topic, namespace: ns, error: err as Error });
      }
    };
    publish('/tasks/exit', 'containerd.events.TaskExit', {
      container_id: id,
      id,
      pid: exit.pid,
      exit_status: exit.exitStatus,
      exited_at: exit.exitedAt,
    });
    publish('/tasks/delete', 'containerd.events.TaskDelete', {
      container_id: id,
      pid: exit.pid,
      exit_status: exit.exitStatus,
      exited_at: exit.exitedAt,
    });
  }

  /**
   * containerd's TaskManager.Delete: Task.Delete in the shim, Shutdown (not awaited), close,
   * remove the bundle. The shim publishes /tasks/delete itself.
   */
  async delete(ns: string, id: string): Promise<ExitInfo> {
    const t = this.find(ns, id);
    if (!t) throw new NotFoundError(`task ${id}`);
    if (t instanceof StoppedTask) {
      this.unregister(t);
      return t.exit;
    }
    const task = t as ShimTask;
    if (task.dying) return this.deleteDead(task);
    let exit: ExitInfo;
    try {
      const r = await task.client.delete(id, '');
      exit = { pid: r.pid, exitStatus: r.exit_status, exitedAt: r.exited_at };
    } catch (err) {
      if (isClosed(err)) {
        const dying = await this.deathOf(task);
        if (dying) return this.deleteDead(task);
      } else {
        const e = fromShim(err);
        if (!(e instanceof NotFoundError)) throw wrapError('failed to delete task', e);
      }
      this.unregister(task);
      await this.shutdownShim(task);
      await task.bundle.delete().catch((e: unknown) => this.cfg.log.warn('failed to delete bundle', { namespace: ns, id, error: e as Error }));
      throw wrapError('failed to delete task', fromShim(err));
    }
    this.unregister(task);
    // Shutdown only tells the shim the task is gone (berth's shared shim counts it towards
    // going idle; a shim per task exits): the answer does not wait for its reply (~0.5 ms
    // of every `ctr run --rm`). The bundle is renamed away before the answer, so a task
    // created with the same id right after gets a fresh one.
    void this.shutdownShim(task);
    await task.bundle.delete().catch((e: unknown) => this.cfg.log.warn('failed to delete bundle', { namespace: ns, id, error: e as Error }));
    return exit;
  }

  private async deathOf(task: ShimTask): Promise<ExitInfo | undefined> {
    await task.client.waitClosed();
    await new Promise<void>((resolve) => setImmediate(resolve));
    return task.dying;
  }

  /** Delete of a task whose shim died: wait for the cleanup, then drop the stopped record. */
  private async deleteDead(task: ShimTask): Promise<ExitInfo> {
    const exit = await (task.dying as Promise<ExitInfo>);
    const t = this.find(task.namespace, task.id);
    if (t instanceof StoppedTask) this.unregister(t);
    return exit;
  }

  /**
   * After a restart (containerd's loadExistingTasks): reconnect to every shim with a
   * bundle under <state>/tasks; clean up after those that are gone; then remove work dirs
   * without a task.
   */
  async load(): Promise<void> {
    let nss: string[];
    try {
      nss = (await fsp.readdir(this.cfg.stateDir, { withFileTypes: true })).filter((d) => d.isDirectory() && !d.name.startsWith('.')).map((d) => d.name);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    for (const ns of nss) {
      let ids: string[];
      try {
        ids = (await fsp.readdir(path.join(this.cfg.stateDir, ns), { withFileTypes: true }))
          .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
          .map((d) => d.name);
      } catch (err) {
        this.cfg.log.error('loading tasks in namespace', { namespace: ns, error: err as Error });
        continue;
      }
      await Promise.all(ids.map((id) => this.loadOne(ns, id)));
      // Bundles renamed away for removal when a crash stopped their deletion.
      const leftovers = (await fsp.readdir(path.join(this.cfg.stateDir, ns)).catch(() => [] as string[])).filter((n) => n.startsWith('.'));
      for (const n of leftovers) await removeTree(path.join(this.cfg.stateDir, ns, n)).catch(() => undefined);
      await this.cleanupWorkDirs(ns);
    }
  }

  private async loadOne(ns: string, id: string): Promise<void> {
    const log = this.cfg.log.with({ namespace: ns, id });
    const bundle = Bundle.load(this.cfg.stateDir, this.cfg.rootDir, ns, id);
    const dropBundle = (): Promise<void> => bundle.delete().catch((e: unknown) => log.warn('failed to delete bundle', { error: e as Error }));
    let entries: string[];
    try {
      entries = await fsp.readdir(bundle.path);
    } catch (err) {
      log.error('fast path read bundle path', { error: err as Error });
      await dropBundle();
      return;
    }
    if (entries.length === 0) {
      await dropBundle();
      return;
    }
    let runtime = (await bundle.readFile(SHIM_BINARY_PATH_FILE).catch(() => undefined)) ?? '';
    if (runtime === '') {
      const name = await this.cfg.containerRuntime(ns, id).catch(() => undefined);
      if (name === undefined) {
        log.error('loading container: not found');
        await unmountAll(bundle.rootfs).catch((e: unknown) => log.error('failed to unmount rootfs', { error: e as Error }));
        await dropBundle();
        return;
      }
      runtime = name;
    }
    let binary: string;
    try {
      binary = this.cfg.resolver.resolve(runtime);
    } catch (err) {
      log.error('failed to resolve runtime path', { error: err as Error });
      await dropBundle();
      return;
    }
    const command = this.command(bundle, binary);
    let client: ShimClient | undefined;
    let shimLog: ShimLog | undefined;
    try {
      const address = await bundle.readFile(ADDRESS_FILE);
      if (address === undefined) throw new Error('no address file');
      client = await this.connectShim(binary, address, ns, LOAD_TIMEOUT_MS);
      shimLog = this.openShimLog(binary, bundle, ns, id);
      const r = await client.connect(id, { timeoutMs: LOAD_TIMEOUT_MS });
      const task = new ShimTask(bundle, client, command, shimLog, r.task_pid, undefined);
      this.register(task);
      this.watch(task);
      log.info('reconnected to shim', { pid: r.task_pid, shimPid: r.shim_pid });
    } catch (err) {
      client?.close();
      shimLog?.close();
      log.warn('shim is gone, cleaning up', { error: (err as Error).message });
      const exit = await this.runShimDelete(command, 0, log);
      await removeDeadSocket(await bundle.readFile(ADDRESS_FILE).catch(() => undefined));
      await dropBundle();
      this.publishDeath(ns, id, exit);
      this.register(new StoppedTask(id, ns, exit, NO_IO));
    }
  }

  private async cleanupWorkDirs(ns: string): Promise<void> {
    let dirs: string[];
    try {
      dirs = await fsp.readdir(path.join(this.cfg.rootDir, ns));
    } catch {
      return;
    }
    for (const d of dirs) {
      const t = this.find(ns, d);
      if (t instanceof ShimTask) continue;
      await removeTree(path.join(this.cfg.rootDir, ns, d)).catch(() => undefined);
    }
  }

  /** berthd stops: let go of every shim without touching its task (tasks outlive berthd). */
  close(): void {
    this.closed = true;
    for (const m of this.tasks.values()) {
      for (const t of m.values()) if (t instanceof ShimTask) t.detach();
    }
    this.shimConnections.close();
  }

  /** berth's shared shim: a lease on its one connection (fresh: right after `start`); any
   * other shim: a connection of the task's own. */
  private connectShim(binary: string, address: string, ns: string, timeoutMs: number, fresh = false): Promise<ShimClient> {
    return binary === BERTH_SHIM_BINARY ? this.shimConnections.lease(address, ns, timeoutMs, fresh) : ShimClient.connect(address, ns, timeoutMs);
  }
}
