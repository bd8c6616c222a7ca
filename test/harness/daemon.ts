// A daemon under test: one long-running child listening on a unix socket, with its own
// temp dir, captured logs, stop/kill/restart by PID, and a cleanup that leaves nothing
// behind (processes, mounts, files).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  killProcessesUsing,
  pidsUsingPath,
  spawnProcess,
  stopChild,
  waitForSocket,
  type SpawnedProcess,
} from './process';
import { unmountBelow, type TempRoot } from './tempdir';

export interface DaemonHandle {
  /** The gRPC unix socket path. */
  readonly address: string;
  /** PID of the current process (changes on restart). */
  readonly pid: number;
  /** Everything the daemon wrote to stdout/stderr, across restarts. */
  logs(): string;
  /** True while the current process is running. */
  running(): boolean;
  /** SIGTERM (SIGKILL after timeoutMs); resolves with the exit code (null if killed by a signal). */
  stop(timeoutMs?: number): Promise<number | null>;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Stops (SIGTERM, SIGKILL after a timeout) if running, then starts again with the same arguments. */
  restart(): Promise<void>;
  /** Stops the daemon, kills what it left running under its dirs, unmounts, removes its temp dir. */
  cleanup(): Promise<void>;
}

export interface DaemonSpec {
  /** For messages: "berthd", "containerd". */
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  address: string;
  /** Temp dir owned by this handle (removed on cleanup), if any. */
  tempRoot?: TempRoot;
  /** Dirs to unmount below on cleanup (root, state…), even when they are not in tempRoot. */
  mountDirs: string[];
  /** stdout+stderr are appended here too. */
  logFile?: string;
  startTimeoutMs?: number;
  stopTimeoutMs?: number;
  /** Runs during cleanup while the daemon may still be up (e.g. delete leftover tasks). */
  beforeStop?: (h: DaemonHandle) => Promise<void>;
  /** Runs during cleanup after the daemon and its leftovers are gone, before the temp dir is removed. */
  afterStop?: () => Promise<void>;
}

function isBelowTmp(p: string): boolean {
  const base = fs.realpathSync(os.tmpdir());
  const r = path.resolve(p);
  return r.startsWith(base + '/') && r.length > base.length + 4;
}

const CTR_FIFO_DIR = /^\/run\/containerd\/fifo\/\d+(?=\/)/;

/** /run/containerd/fifo/<n> dirs that pid has open files in. */
function ctrFifoDirsOf(pid: number): string[] {
  const out: string[] = [];
  let fds: string[] = [];
  try {
    fds = fs.readdirSync(`/proc/${pid}/fd`);
  } catch {
    return out;
  }
  for (const fd of fds) {
    try {
      const m = CTR_FIFO_DIR.exec(fs.readlinkSync(`/proc/${pid}/fd/${fd}`));
      if (m && !out.includes(m[0])) out.push(m[0]);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/** Starts the daemon and waits until its socket accepts connections. */
export async function startDaemon(spec: DaemonSpec): Promise<DaemonHandle> {
  const prior: string[] = [];
  let proc: SpawnedProcess | undefined;
  let cleaned = false;
  const stopTimeoutMs = spec.stopTimeoutMs ?? 10_000;

  const launch = async (): Promise<void> => {
    proc = spawnProcess(spec.command, spec.args, { env: spec.env, logFile: spec.logFile });
    await waitForSocket(spec.address, {
      timeoutMs: spec.startTimeoutMs ?? 20_000,
      process: proc,
      what: spec.name,
    });
  };

  const current = (): SpawnedProcess => {
    if (!proc) throw new Error(`${spec.name} was never started`);
    return proc;
  };

  const handle: DaemonHandle = {
    address: spec.address,
    get pid(): number {
      return current().pid;
    },
    logs: () => prior.join('') + (proc ? proc.output() : ''),
    running: () => proc !== undefined && proc.exitStatus() === undefined,
    async stop(timeoutMs = stopTimeoutMs): Promise<number | null> {
      const st = await stopChild(current(), { timeoutMs });
      return st.code;
    },
    async kill(): Promise<void> {
      await stopChild(current(), { signal: 'SIGKILL', timeoutMs: 5_000 });
    },
    async restart(): Promise<void> {
      const p = current();
      await stopChild(p, { timeoutMs: stopTimeoutMs });
      prior.push(p.output(), `\n----- ${spec.name} restarted -----\n`);
      await launch();
    },
    async cleanup(): Promise<void> {
      if (cleaned) return;
      cleaned = true;
      const errors: string[] = [];
      const attempt = async (what: string, fn: () => Promise<unknown>): Promise<void> => {
        try {
          await fn();
        } catch (e) {
          errors.push(`${what}: ${e instanceof Error ? e.message : String(e)}`);
        }
      };
      if (spec.beforeStop && handle.running()) await attempt('beforeStop', () => spec.beforeStop!(handle));
      if (proc) await attempt(`stop ${spec.name}`, () => stopChild(current(), { timeoutMs: stopTimeoutMs }));
      const dirs = [...new Set<string>([...spec.mountDirs, ...(spec.tempRoot ? [spec.tempRoot.path] : [])])].filter(isBelowTmp);
      // ctr creates its stdio FIFOs in /run/containerd/fifo/<n>/ on the client side; they
      // outlive a task that was never deleted. Find ours through the leftovers' open fds.
      const fifoDirs = new Set<string>();
      for (const d of dirs) {
        for (const pid of pidsUsingPath(d)) for (const f of ctrFifoDirsOf(pid)) fifoDirs.add(f);
      }
      for (const d of dirs) await attempt(`kill processes using ${d}`, () => killProcessesUsing(d));
      for (const f of fifoDirs) await attempt(`remove ${f}`, () => fs.promises.rm(f, { recursive: true, force: true }));
      if (spec.afterStop) await attempt('afterStop', spec.afterStop);
      for (const d of spec.mountDirs) {
        if (fs.existsSync(d)) await attempt(`unmount below ${d}`, () => unmountBelow(d));
      }
      if (spec.tempRoot) await attempt(`remove ${spec.tempRoot.path}`, () => spec.tempRoot!.cleanup());
      if (errors.length > 0) throw new Error(`${spec.name} cleanup: ${errors.join('; ')}`);
    },
  };

  try {
    await launch();
  } catch (err) {
    // Do not leave a half-started daemon or its temp dir behind; the error carries its output.
    await handle.cleanup().catch(() => undefined);
    throw err;
  }
  return handle;
}
