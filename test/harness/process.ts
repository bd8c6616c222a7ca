// Child processes for tests: spawn with captured output, wait for a unix socket,
// stop by PID (SIGTERM, then SIGKILL). Never by name.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import * as fs from 'node:fs';
import * as stream from 'node:stream';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface SpawnedProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Everything the process wrote to stdout and stderr so far, interleaved. */
  output(): string;
  /** Only stderr. */
  stderr(): string;
  /** Only stdout. */
  stdout(): string;
  /** Resolves once the process has exited and its output was read (never rejects). */
  readonly exited: Promise<ExitStatus>;
  /** The exit status, or undefined while it is running. */
  exitStatus(): ExitStatus | undefined;
}

export interface SpawnProcessOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Also append stdout+stderr to this file. */
  logFile?: string;
  /** Written to stdin, which is then closed. Without it stdin is /dev/null. */
  input?: string | Buffer;
  /** Start the child in its own process group (default false). */
  detached?: boolean;
}

/** Spawns command with piped stdout/stderr that are captured in memory (and optionally a file). */
export function spawnProcess(command: string, args: string[], opts: SpawnProcessOptions = {}): SpawnedProcess {
  const spawnOpts: SpawnOptions = {
    cwd: opts.cwd,
    env: opts.env ?? process.env,
    stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    detached: opts.detached ?? false,
  };
  const child = spawn(command, args, spawnOpts);
  const all: Buffer[] = [];
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const log = opts.logFile ? fs.createWriteStream(opts.logFile, { flags: 'a' }) : undefined;
  child.stdout?.on('data', (b: Buffer) => {
    all.push(b);
    out.push(b);
    log?.write(b);
  });
  child.stderr?.on('data', (b: Buffer) => {
    all.push(b);
    err.push(b);
    log?.write(b);
  });
  if (opts.input !== undefined && child.stdin) {
    child.stdin.on('error', () => undefined); // EPIPE if the child does not read stdin
    child.stdin.end(opts.input);
  }
  let status: ExitStatus | undefined;
  // The exit resolves once the log file holds everything the child wrote: a caller that
  // reads the file right after `exited` must see the last lines.
  const closeLog = (done: () => void): void => {
    if (!log) return done();
    log.end();
    stream.finished(log, () => done());
  };
  const exited = new Promise<ExitStatus>((resolve) => {
    let spawnError: Error | undefined;
    child.once('error', (e) => {
      spawnError = e;
      // 'exit' is not emitted when the process could not be spawned at all.
      if (child.pid === undefined) {
        all.push(Buffer.from(`spawn ${command} failed: ${e.message}\n`));
        err.push(Buffer.from(`spawn ${command} failed: ${e.message}\n`));
        status = { code: null, signal: null };
        const st = status;
        closeLog(() => resolve(st));
      }
    });
    // 'exit' gives the status; 'close' also waits for stdout/stderr to drain. A grandchild
    // that inherited the pipes (a shim) can hold them open forever, so wait for 'close'
    // only briefly after 'exit', then let go of the pipes.
    let resolved = false;
    const finish = (): void => {
      if (resolved || !status) return;
      resolved = true;
      if (spawnError) all.push(Buffer.from(`${command}: ${spawnError.message}\n`));
      const st = status;
      closeLog(() => resolve(st));
    };
    child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
      status ??= { code, signal };
      setTimeout(() => {
        if (resolved) return;
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish();
      }, 500).unref();
    });
    child.once('close', (code: number | null, signal: NodeJS.Signals | null) => {
      status ??= { code, signal };
      finish();
    });
  });
  return {
    child,
    pid: child.pid ?? -1,
    output: () => Buffer.concat(all).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    stdout: () => Buffer.concat(out).toString('utf8'),
    exited,
    exitStatus: () => status,
  };
}

/** True if a process with this PID exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/** Polls until pid is gone (or a zombie). Returns false on timeout. */
export async function waitForPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isAlive(pid)) {
    if (Date.now() >= deadline) return false;
    await sleep(25);
  }
  return true;
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  // Never 0, -1 or a process group: those would signal far more than one process.
  if (!Number.isInteger(pid) || pid <= 1) return;
  try {
    process.kill(pid, signal);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ESRCH') throw e;
  }
}

/**
 * Stops a process by PID: SIGTERM, then SIGKILL if it is still there after timeoutMs.
 * Works for any PID; for our own children prefer stopChild (it also returns the exit code).
 */
export async function stopPid(pid: number, timeoutMs = 10_000): Promise<void> {
  if (!isAlive(pid)) return;
  signalPid(pid, 'SIGTERM');
  if (await waitForPidExit(pid, timeoutMs)) return;
  signalPid(pid, 'SIGKILL');
  if (!(await waitForPidExit(pid, 5_000))) throw new Error(`pid ${pid} survived SIGKILL`);
}

/**
 * Stops a child we spawned, by its PID: sends `signal` (default SIGTERM), then SIGKILL
 * after timeoutMs. Resolves with its exit status once it has been reaped.
 */
export async function stopChild(
  p: SpawnedProcess,
  opts: { timeoutMs?: number; signal?: NodeJS.Signals } = {},
): Promise<ExitStatus> {
  const done = p.exitStatus();
  if (done) return done;
  const timeoutMs = opts.timeoutMs ?? 10_000;
  signalPid(p.pid, opts.signal ?? 'SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), timeoutMs);
  });
  const first = await Promise.race([p.exited, timedOut]);
  clearTimeout(timer);
  if (first !== 'timeout') return first;
  signalPid(p.pid, 'SIGKILL');
  return p.exited;
}

/** Tries one connection to a unix socket; resolves true if it was accepted. */
export function canConnect(socketPath: string, timeoutMs = 1_000): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ path: socketPath });
    const timer = setTimeout(() => finish(false), timeoutMs);
    function finish(ok: boolean): void {
      clearTimeout(timer);
      sock.removeAllListeners();
      sock.on('error', () => undefined);
      sock.destroy();
      resolve(ok);
    }
    sock.once('connect', () => finish(true));
    sock.once('error', () => finish(false));
  });
}

export interface WaitForSocketOptions {
  timeoutMs?: number;
  intervalMs?: number;
  /** Give up early (reject) if this process exits before the socket accepts connections. */
  process?: SpawnedProcess;
  /** Name used in error messages. */
  what?: string;
}

/** Polls with net.connect until the unix socket accepts a connection. */
export async function waitForSocket(socketPath: string, opts: WaitForSocketOptions = {}): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const intervalMs = opts.intervalMs ?? 50;
  const what = opts.what ?? 'process';
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (opts.process?.exitStatus()) {
      const st = await opts.process.exited; // and its last output
      throw new Error(
        `${what} exited (code ${st.code}, signal ${st.signal}) before ${socketPath} accepted connections; output:\n` +
          opts.process!.output(),
      );
    }
    if (await canConnect(socketPath)) return;
    if (Date.now() >= deadline) {
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what} socket ${socketPath}` +
          (opts.process ? `; output so far:\n${opts.process.output()}` : ''),
      );
    }
    await sleep(intervalMs);
  }
}

/** PIDs whose command line mentions `dir`, or whose root or cwd is at or below it. */
export function pidsUsingPath(dir: string): number[] {
  const base = fs.realpathSync(os.tmpdir());
  dir = path.resolve(dir);
  if (!dir.startsWith(base + '/') || dir.length < base.length + 4) {
    throw new Error(`refusing to look for processes using ${dir}: not a temp dir below ${base}`);
  }
  const parentOf = new Map<number, number>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const ppid = readPpid(Number(name));
    if (ppid !== undefined) parentOf.set(Number(name), ppid);
  }
  const ancestors = new Set<number>();
  for (let p: number | undefined = process.pid; p !== undefined && p > 1 && !ancestors.has(p); p = parentOf.get(p)) {
    ancestors.add(p);
  }
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  const below = (p: string): boolean => p === dir || p.startsWith(prefix);
  const hits = new Set<number>();
  for (const pid of parentOf.keys()) {
    if (ancestors.has(pid)) continue;
    try {
      const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      let hit = cmdline.split('\0').some((a) => a.includes(dir));
      for (const link of ['root', 'cwd']) {
        if (hit) break;
        try {
          hit = below(fs.readlinkSync(`/proc/${pid}/${link}`));
        } catch {
          // gone, or a kernel thread
        }
      }
      if (hit) hits.add(pid);
    } catch {
      // process vanished while we looked
    }
  }
  // Descendants too: container processes (children of a shim) see only their own root.
  const out: number[] = [];
  for (const pid of parentOf.keys()) {
    if (ancestors.has(pid)) continue;
    const seen = new Set<number>();
    for (let p: number | undefined = pid; p !== undefined && p > 1 && !seen.has(p); p = parentOf.get(p)) {
      if (hits.has(p)) {
        if (isAlive(pid)) out.push(pid);
        break;
      }
      seen.add(p);
    }
  }
  return out;
}

function readPpid(pid: number): number | undefined {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * SIGKILLs every process (other than this one) that refers to `dir` by command line,
 * root or cwd — shims and containers a daemon under test left behind. Targets PIDs found
 * through the unique temp path, never process names. Returns the PIDs it killed.
 */
export async function killProcessesUsing(dir: string, timeoutMs = 5_000): Promise<number[]> {
  const pids = pidsUsingPath(dir);
  for (const pid of pids) signalPid(pid, 'SIGKILL');
  for (const pid of pids) await waitForPidExit(pid, timeoutMs);
  return pids;
}
