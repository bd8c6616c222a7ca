// The long-lived shim process (`… serve`, spawned by `start`): one per daemon, serving
// containerd.task.v2.Task for all its tasks on the socket of address.ts.
//
// - own session (setsid by `start`), cwd /, stdio to <socket>.log, SIGHUP and SIGPIPE
//   ignored: it outlives the daemon and its restarts; tasks keep running and are found
//   again through <bundle>/address;
// - child subreaper, so container processes re-parent to it (reaper.ts);
// - peers must have our uid/gid (SO_PEERCRED), like containerd's shims;
// - idle policy: the process exits when it supervises no task and
//     * Shutdown was called and no new connection came within the shutdown grace
//       (BERTH_SHIM_SHUTDOWN_GRACE_MS, default 3 s — a shared shim is usually needed
//       again right away: the next `ctr run` reuses it), or
//     * no client has been connected for BERTH_SHIM_IDLE_MS (default 60 s; covers a
//       `start` nobody followed up);
//   it withdraws <socket>.pid, keeps accepting for 250 ms (a `start` that just read the
//   pid file gets its connection in and the shim stays), then stops accepting, answers
//   what is in flight, delivers queued events (≤ 5 s), removes the socket and exits;
// - SIGTERM/SIGINT: the same, at once (running containers are left running).
import * as fs from 'node:fs';
import type * as net from 'node:net';
import { Logger } from '../log/logger';
import { prctlSetChildSubreaper } from '../native';
import { TtrpcServer, type ServiceHandlers } from '../ttrpc';
import { checkSameUser } from '../ttrpc/peercred';
import type { ShimArgs } from './args';
import { defaultRuncRoot, pidFileOf, shimSocketPathOf } from './address';
import { TASK_SERVICE } from './constants';
import { EventPublisher, ttrpcForwarder } from './publisher';
import { OrphanReaper } from './reaper';
import { traceRuntimeCommands } from './runc';
import { TaskService } from './service';

/** How long an idle stop keeps listening after withdrawing <socket>.pid. */
const STOP_DRAIN_MS = 250;

function envMs(name: string, def: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v >= 0 ? v : def;
}

/** Field 22 of /proc/self/stat (start time in clock ticks): with the pid, names this process uniquely. */
export function processStartTime(pid: number | 'self' = 'self'): string {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = stat.slice(stat.lastIndexOf(') ') + 2).trim().split(/\s+/);
  return rest[19] ?? '';
}

export async function serve(args: ShimArgs): Promise<number> {
  const sock = shimSocketPathOf(args);
  const pidFile = pidFileOf(sock);
  const log = new Logger(args.debug ? 'debug' : 'info', { shim: process.pid }, (line) => {
    try {
      fs.writeSync(2, line);
    } catch {
      // log file gone: nothing to do
    }
  });
  const readyFd = Number(process.env['BERTH_SHIM_READY_FD'] ?? -1);
  delete process.env['BERTH_SHIM_READY_FD'];
  const tell = (line: string): void => {
    if (readyFd < 0) return;
    try {
      fs.writeSync(readyFd, `${line}\n`);
      fs.closeSync(readyFd);
    } catch {
      // start gave up waiting
    }
  };

  process.title = 'berth-shim';
  process.on('SIGHUP', () => undefined);
  process.on('SIGPIPE', () => undefined);
  process.on('uncaughtException', (err) => log.error('uncaught exception', { error: err.stack ?? err.message }));
  process.on('unhandledRejection', (err) => log.error('unhandled rejection', { error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
  try {
    prctlSetChildSubreaper(true);
  } catch (err) {
    log.error('cannot become a child subreaper: exits of container processes may be lost', { error: (err as Error).message });
  }

  new OrphanReaper().start();

  const forwarder = ttrpcForwarder(process.env['TTRPC_ADDRESS'] ?? '', log);
  const publisher = new EventPublisher(forwarder.send, { log });

  // ---- idle policy
  // A task's own shim is not reused by another task: it goes as soon as its task is
  // deleted, as containerd's runc shim does (and its cgroup can be removed).
  const graceMs = args.ownProcess ? 0 : envMs('BERTH_SHIM_SHUTDOWN_GRACE_MS', 3000);
  const idleMs = envMs('BERTH_SHIM_IDLE_MS', 60_000);
  let connections = 0;
  let connectionsOpened = 0;
  let shutdownMark = -1; // connectionsOpened when Shutdown was last called with no task
  let idleTimer: NodeJS.Timeout | undefined;
  let stopping: Promise<number> | undefined;
  let service: TaskService;

  const evaluate = (): void => {
    if (idleTimer) clearTimeout(idleTimer);
    idleTimer = undefined;
    if (stopping || service.taskCount > 0) {
      shutdownMark = -1;
      return;
    }
    if (shutdownMark >= 0) {
      const mark = shutdownMark;
      idleTimer = setTimeout(() => {
        if (service.taskCount === 0 && connectionsOpened === mark) void stop('shutdown requested and idle', true);
        else evaluate();
      }, graceMs);
    } else if (connections === 0) {
      idleTimer = setTimeout(() => {
        if (service.taskCount === 0 && connections === 0) void stop('idle', true);
      }, idleMs);
    }
  };

  service = new TaskService({
    log,
    publisher,
    defaultRuncRoot: defaultRuncRoot(args.address),
    onActivity: (reason) => {
      if (reason === 'shutdown') {
        if (service.taskCount === 0) shutdownMark = connectionsOpened;
      } else if (reason === 'task-added') shutdownMark = -1;
      evaluate();
    },
  });

  const server = new TtrpcServer({
    peerCheck: async (socket: net.Socket) => {
      connections++;
      connectionsOpened++;
      socket.once('close', () => {
        connections--;
        evaluate();
      });
      evaluate();
      return checkSameUser(socket);
    },
    onError: (err) => log.debug('ttrpc connection error', { error: err.message }),
  });
  server.register(TASK_SERVICE, log.enabled('debug') ? timedHandlers(service.handlers(), log) : service.handlers());
  if (log.enabled('debug')) traceRuntimeCommands((a, ms, code) => log.debug('runtime command', { command: a[0], ms, code }));

  try {
    await server.listen(sock, { removeStale: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EADDRINUSE' || code === 'EEXIST') {
      tell('taken'); // another shim got there first: `start` will use it
      return 0;
    }
    log.error('cannot listen', { socket: sock, error: (err as Error).message });
    tell(`error ${(err as Error).message}`);
    return 1;
  }
  const pidLine = `${process.pid} ${processStartTime()}\n`;
  fs.writeFileSync(`${pidFile}.tmp`, pidLine, { mode: 0o644 });
  fs.renameSync(`${pidFile}.tmp`, pidFile);
  log.info('serving', { socket: sock, ttrpcAddress: process.env['TTRPC_ADDRESS'] ?? '' });
  tell(`ready ${process.pid}`);
  evaluate();

  let finished!: (code: number) => void;
  const done = new Promise<number>((r) => (finished = r));

  const removePidFile = (): void => {
    try {
      if (fs.readFileSync(pidFile, 'utf8') === pidLine) fs.rmSync(pidFile, { force: true });
    } catch {
      // gone
    }
  };

  /**
   * Stops serving. An idle stop first withdraws <socket>.pid and keeps listening a
   * moment: a `start` that read the pid file just before (sh fast path) has its daemon
   * connect within that moment, and then the shim stays.
   */
  async function stop(why: string, idle = false): Promise<number> {
    if (stopping) return stopping;
    stopping = (async () => {
      if (idleTimer) clearTimeout(idleTimer);
      removePidFile();
      if (idle) {
        const opened = connectionsOpened;
        await new Promise((r) => setTimeout(r, STOP_DRAIN_MS));
        // Let the event loop accept what is already queued on the socket: a daemon that
        // connected just now must be counted before deciding, or its connection would be
        // dropped from the backlog when the listener closes.
        await new Promise((r) => setImmediate(r));
        await new Promise((r) => setImmediate(r));
        if (connectionsOpened !== opened || service.taskCount > 0) {
          fs.writeFileSync(pidFile, pidLine, { mode: 0o644 });
          return -1; // keep serving
        }
      }
      log.info('stopping', { reason: why, tasks: service.taskCount });
      await server.shutdown(2000);
      await service.settle(2000);
      for (const c of service.containers()) c.release();
      await publisher.flush(5000);
      publisher.close();
      forwarder.close();
      return 0;
    })();
    const code = await stopping;
    if (code < 0) {
      stopping = undefined;
      shutdownMark = -1;
      if (termRequested) return stop('SIGTERM');
      evaluate();
      return code;
    }
    finished(code);
    return code;
  }

  let termRequested = false;
  const onTerm = (sig: string) => (): void => {
    termRequested = true;
    void stop(sig);
  };
  process.on('SIGTERM', onTerm('SIGTERM'));
  process.on('SIGINT', onTerm('SIGINT'));
  return done;
}

/** Debug: logs each request's duration (the shim's half of berthd's request timings). */
function timedHandlers(handlers: ServiceHandlers, log: Logger): ServiceHandlers {
  const out: ServiceHandlers = {};
  for (const [name, h] of Object.entries(handlers)) {
    out[name] = async (req, ctx) => {
      const t = process.hrtime.bigint();
      try {
        return await h(req, ctx);
      } finally {
        log.debug('request', { method: name, ms: Number(process.hrtime.bigint() - t) / 1e6 });
      }
    };
  }
  return out;
}
