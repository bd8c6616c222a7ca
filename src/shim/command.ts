// Short-lived helper programs of the shim (the OCI runtime CLI: `runc create`, `start`,
// `delete`, ...), started with posix_spawn and reaped through a pidfd.
//
// Why not child_process.spawn: libuv forks the whole shim (tens of MB of page tables) and
// blocks the event loop until the child has exec'd — about 2 ms per runtime command
// here, three commands per `ctr run`, all on the path a user waits on. posix_spawn
// (vfork-style) costs a fraction of that, and the pidfd lets the shim reap exactly this
// child without libuv's SIGCHLD handling.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { isNativeError, pipe, spawnWithPidfd, waitPidfd } from '../native';
import { trackPid } from './reaper';

/** A child's fd 0, 1 or 2: /dev/null, a pipe read (or written) by the shim, or a descriptor to pass. */
export type CommandStdio = 'ignore' | 'pipe' | number;

export interface CommandOptions {
  stdio: readonly [CommandStdio, CommandStdio, CommandStdio];
  /** Written to the stdin pipe, which is then closed. */
  input?: Buffer | string;
  /** The child's environment, as KEY=VALUE strings. */
  env: readonly string[];
}

export interface CommandResult {
  /** The exit code, 128 + signal if killed, -1 if the program could not be started. */
  code: number;
  /** What the child wrote to a stdout pipe. */
  stdout: string;
  /** What it wrote to a stderr pipe, or why it could not be started. */
  stderr: string;
}

/** Names already found on PATH (a runtime binary is looked up once, as go-runc's callers do). */
const found = new Map<string, string>();

function isExecutableFile(p: string): boolean {
  try {
    const st = fs.statSync(p);
    if (!st.isFile()) return false;
    fs.accessSync(p, fs.constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Go's exec.Command resolution: a name with a slash is used as is; a bare name is searched
 * on PATH. Throws with Go's message, which containerd's users see in errors.
 */
export function lookPath(name: string, pathEnv = process.env['PATH'] ?? ''): string {
  if (name.includes('/')) return name;
  const cached = found.get(name);
  if (cached !== undefined) return cached;
  for (const dir of pathEnv.split(':')) {
    const candidate = path.join(dir === '' ? '.' : dir, name);
    if (isExecutableFile(candidate)) {
      found.set(name, candidate);
      return candidate;
    }
  }
  throw new Error(`exec: ${JSON.stringify(name)}: executable file not found in $PATH`);
}

function closeQuiet(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** Collects everything read from a pipe until EOF. */
function drain(fd: number): Promise<string> {
  return new Promise((resolve) => {
    const s = new net.Socket({ fd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    s.on('data', (b: Buffer) => chunks.push(b));
    s.once('error', () => undefined);
    s.once('close', () => resolve(Buffer.concat(chunks).toString('utf8')));
  });
}

function spawnOnce(command: string, file: string, args: readonly string[], fds: [number, number, number], env: readonly string[]): { pid: number; pidfd: number } {
  try {
    return spawnWithPidfd(file, [command, ...args], env, fds);
  } catch (err) {
    if (isNativeError(err, 'ENOENT') && found.get(command) === file) {
      found.delete(command); // moved or removed since it was found: look again once
      return spawnWithPidfd(lookPath(command), [command, ...args], env, fds);
    }
    throw err;
  }
}

/** Runs `command args…` to completion. Never rejects: a start failure is code -1. */
export async function runCommand(command: string, args: readonly string[], opts: CommandOptions): Promise<CommandResult> {
  const childFds: [number, number, number] = [-1, -1, -1];
  const ours: Array<number | undefined> = [undefined, undefined, undefined];
  const opened: number[] = [];
  let child: { pid: number; pidfd: number };
  try {
    opts.stdio.forEach((s, i) => {
      if (s === 'ignore') return;
      if (typeof s === 'number') {
        childFds[i] = s;
        return;
      }
      const [r, w] = pipe();
      opened.push(r, w);
      childFds[i] = i === 0 ? r : w;
      ours[i] = i === 0 ? w : r;
    });
    child = spawnOnce(command, lookPath(command), args, childFds, opts.env);
  } catch (err) {
    for (const fd of opened) closeQuiet(fd);
    const e = err as Error & { syscall?: string; path?: string };
    const msg = e.syscall === 'posix_spawn' ? `fork/exec ${e.path ?? command}: ${e.message.replace(/^.*: [A-Z0-9]+: /, '').toLowerCase()}` : e.message;
    return { code: -1, stdout: '', stderr: msg };
  }
  const untrack = trackPid(child.pid);
  // The child has its own copies now.
  opts.stdio.forEach((s, i) => {
    if (s === 'pipe') closeQuiet(childFds[i] as number);
  });
  const stdinFd = ours[0];
  if (stdinFd !== undefined) {
    const w = new net.Socket({ fd: stdinFd, readable: false, writable: true });
    w.once('error', () => undefined); // the child may exit without reading
    w.end(opts.input ?? '');
  }
  const out = ours[1] !== undefined ? drain(ours[1]) : Promise.resolve('');
  const errOut = ours[2] !== undefined ? drain(ours[2]) : Promise.resolve('');
  let code: number;
  try {
    code = (await waitPidfd(child.pidfd)).exitStatus;
  } catch {
    code = -1;
  } finally {
    closeQuiet(child.pidfd);
    untrack();
  }
  // A runtime never hands its captured pipes to a longer-lived child, so these end now.
  return { code, stdout: await out, stderr: await errOut };
}
