// `containerd-shim-berth-v1 … start` (reference §10.3): print the address of this
// daemon's shared shim, starting it first if nothing answers there.
//
// Loads node built-ins only. bin/containerd-shim-berth-v1 answers the common case — a
// shim already serving — in sh without starting Node at all; this is the full path:
//   1. connect to the socket (address.ts); if it answers: write <bundle>/address, print it;
//   2. else spawn `main.js serve` detached (own session, cwd /, stdio to <socket>.log),
//      wait for its "ready" line on fd 3 (it listens, writes <socket>.pid, then says so);
//      a concurrent start that lost the race to listen gets "taken" and goes back to 1;
//   3. for a new process only: apply Options.shim_cgroup from the options on stdin and set
//      its oom_score_adj to the daemon's + 1, as containerd's runc shim does.
// With -own-process (berthd, for a task that asks for its own shim cgroup) all of this is
// about the task's own process and socket (address.ts), and shim_cgroup also applies
// when that process already serves.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { isatty } from 'node:tty';
import type { ShimArgs } from './args';
import { logFileOf, pidFileOf, shimSocketPathOf } from './address';
import { shimCgroupFromOptions } from './wire';

const READY_TIMEOUT_MS = 30_000;

export async function startCommand(args: ShimArgs): Promise<number> {
  const sock = shimSocketPathOf(args);
  const address = `unix://${sock}`;
  const bundle = args.bundle || process.cwd();
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await canConnect(sock)) {
      // A task's own shim still serving (its task was recreated with the same id before it
      // went): it is this task's process all the same, so it goes where this task asks.
      if (args.ownProcess) {
        const cg = cgroupOf(readStdinOptions());
        const pid = servingPid(sock);
        if (cg && pid) joinCgroup(cg, pid);
      }
      writeAddress(bundle, address);
      fs.writeSync(1, address);
      return 0;
    }
    const result = await spawnServer(args, sock);
    if (result.kind === 'ready') {
      const cg = cgroupOf(readStdinOptions());
      try {
        if (cg) joinCgroup(cg, result.pid);
      } catch (err) {
        // As containerd's shim start: a task's own process that cannot go where it was
        // asked to is killed (a shared one may already serve someone else).
        if (args.ownProcess) killQuietly(result.pid);
        throw err;
      }
      adjustOomScore(result.pid);
      writeAddress(bundle, address);
      fs.writeSync(1, address);
      return 0;
    }
    // "taken": another start won the race to listen; its shim answers on the next round.
  }
  throw new Error(`shim at ${sock} neither answers nor can be started (see ${logFileOf(sock)})`);
}

/** One connection attempt: true if something accepts on the socket. */
export function canConnect(sock: string, timeoutMs = 2000): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(sock);
    const timer = setTimeout(() => done(false), timeoutMs);
    function done(ok: boolean): void {
      clearTimeout(timer);
      c.removeAllListeners();
      c.on('error', () => undefined);
      c.destroy();
      resolve(ok);
    }
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
  });
}

/** containerd's shim.WriteAddress: <bundle>/address, atomically. */
function writeAddress(bundle: string, address: string): void {
  const tmp = path.join(bundle, '.address');
  fs.writeFileSync(tmp, address, { mode: 0o644 });
  fs.renameSync(tmp, path.join(bundle, 'address'));
}

type SpawnResult = { kind: 'ready'; pid: number } | { kind: 'taken' };

function spawnServer(args: ShimArgs, sock: string): Promise<SpawnResult> {
  fs.mkdirSync(path.dirname(sock), { recursive: true, mode: 0o711 });
  const logFd = fs.openSync(logFileOf(sock), 'a', 0o600);
  const script = process.argv[1] ?? path.join(__dirname, 'main.js');
  const argv = [...process.execArgv, ...serveNodeFlags(), script, '-address', args.address];
  if (args.ownProcess) argv.push('-namespace', args.namespace, '-id', args.id, '-own-process');
  if (args.debug) argv.push('-debug');
  argv.push('serve');
  let child: ChildProcess;
  try {
    child = spawn(process.execPath, argv, {
      cwd: '/',
      detached: true,
      stdio: ['ignore', logFd, logFd, 'pipe'],
      env: { ...process.env, BERTH_SHIM_READY_FD: '3' },
    });
  } finally {
    fs.closeSync(logFd);
  }
  const readyPipe = child.stdio[3] as net.Socket | null;
  return new Promise<SpawnResult>((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => finish(new Error(`shim did not become ready within ${READY_TIMEOUT_MS} ms (see ${logFileOf(sock)})`)), READY_TIMEOUT_MS);
    function finish(err: Error | undefined, r?: SpawnResult): void {
      clearTimeout(timer);
      child.removeAllListeners('exit');
      readyPipe?.removeAllListeners('data');
      readyPipe?.destroy();
      child.unref();
      if (err) reject(err);
      else resolve(r!);
    }
    child.once('error', (err) => finish(err));
    child.once('exit', (code, signal) => {
      // "taken" is written before a clean exit; give the pipe a moment to deliver it.
      setTimeout(() => {
        if (/^taken\b/m.test(text)) finish(undefined, { kind: 'taken' });
        else finish(new Error(`shim exited during start-up (code ${code}, signal ${signal}); see ${logFileOf(sock)}`));
      }, 20);
    });
    readyPipe?.on('data', (b: Buffer) => {
      text += b.toString('utf8');
      const ready = /^ready (\d+)$/m.exec(text);
      if (ready) finish(undefined, { kind: 'ready', pid: Number(ready[1]) });
      else if (/^taken$/m.test(text)) finish(undefined, { kind: 'taken' });
    });
    readyPipe?.on('error', () => undefined);
  });
}

/** V8 flags for the long-lived process, which mostly waits and copies bytes in native
 * code: a 1 MiB young generation and no JIT take its RSS from ~57 to ~49 MB with the same
 * latencies (measurements in src/shim/README.md). BERTH_SHIM_NODE_FLAGS replaces them. */
function serveNodeFlags(): string[] {
  const extra = process.env['BERTH_SHIM_NODE_FLAGS'];
  if (extra !== undefined) return extra.split(/\s+/).filter(Boolean);
  return ['--max-semi-space-size=1', '--jitless', '--no-expose-wasm'];
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // gone already
  }
}

function cgroupOf(options: Buffer): string {
  return options.length > 0 ? shimCgroupFromOptions(options) : '';
}

/** The pid in <socket>.pid ("<pid> <starttime>"), or 0. */
function servingPid(sock: string): number {
  try {
    const pid = Number(fs.readFileSync(pidFileOf(sock), 'utf8').trim().split(/\s+/)[0]);
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return 0;
  }
}

/** stdin is read once: a second read would find it empty. */
let stdinOptions: Buffer | undefined;

function readStdinOptions(): Buffer {
  if (stdinOptions) return stdinOptions;
  stdinOptions = readStdinOnce();
  return stdinOptions;
}

function readStdinOnce(): Buffer {
  try {
    if (isatty(0)) return Buffer.alloc(0);
    return fs.readFileSync(0);
  } catch {
    return Buffer.alloc(0);
  }
}

/** Options.shim_cgroup: move the new shim process there (v2: one path; v1: every
 * hierarchy that has it). */
function joinCgroup(cgroup: string, pid: number): void {
  const base = '/sys/fs/cgroup';
  const rel = cgroup.replace(/^\/+/, '');
  if (fs.existsSync(path.join(base, 'cgroup.controllers'))) {
    fs.writeFileSync(path.join(base, rel, 'cgroup.procs'), String(pid));
    return;
  }
  let joined = 0;
  for (const ctrl of fs.readdirSync(base)) {
    const procs = path.join(base, ctrl, rel, 'cgroup.procs');
    if (!fs.existsSync(procs)) continue;
    fs.writeFileSync(procs, String(pid));
    joined++;
  }
  if (joined === 0) throw new Error(`failed to load cgroup ${cgroup}: no such cgroup`);
}

/** The daemon's oom_score_adj + 1 (capped at 1000), like containerd's AdjustOOMScore. */
function adjustOomScore(pid: number): void {
  try {
    const parent = Number(fs.readFileSync(`/proc/${process.ppid}/oom_score_adj`, 'utf8').trim());
    const score = Math.min(1000, (Number.isFinite(parent) ? parent : 0) + 1);
    fs.writeFileSync(`/proc/${pid}/oom_score_adj`, String(score));
  } catch {
    // not permitted (unprivileged) or the process is gone: containerd would fail here;
    // a shared shim keeps going
  }
}
