// Running one CNI plugin binary: found by name in the plugin directories (libcni's
// FindInPath), the config on stdin, CNI_* in the environment, the result (or the error
// JSON) on stdout. Bounded: a plugin that hangs is killed after a timeout, and stdout and
// stderr are read up to a limit (a runaway plugin kills neither berthd's memory nor its log).

import { accessSync, closeSync, constants as fsConstants } from 'node:fs';
import { stat } from 'node:fs/promises';
import * as net from 'node:net';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { CLD_EXITED, pidfdSendSignal, pipe, spawnWithPidfd, waitPidfd } from '../native';
import { isJsonObject } from './config';
import { CniPluginError, CniPluginExecError, CniPluginNotFoundError } from './errors';

export interface PluginExecLimits {
  /** Kill the plugin (SIGKILL) when it has not exited after this long. */
  timeoutMs: number;
  /** Most stdout bytes read; a plugin writing more is killed. */
  maxStdoutBytes: number;
  /** Most stderr bytes kept (the tail). */
  maxStderrBytes: number;
  /** Run the plugin through this command (e.g. ["nsenter", "--net=/path", "--"]): tests run
   * real plugins in a private network namespace this way; berthd passes nothing. */
  execPrefix?: readonly string[];
}

export const DEFAULT_EXEC_LIMITS: PluginExecLimits = {
  timeoutMs: 60_000,
  maxStdoutBytes: 1 << 20,
  maxStderrBytes: 64 << 10,
};

/** The plugin's path: the first regular file named `type` in dirs, in order. */
export async function findPlugin(type: string, dirs: readonly string[]): Promise<string> {
  if (type === '' || type.includes('/')) throw new CniPluginNotFoundError(type, dirs);
  for (const dir of dirs) {
    const full = join(dir, type);
    try {
      if ((await stat(full)).isFile()) return full;
    } catch {
      // not in this directory
    }
  }
  throw new CniPluginNotFoundError(type, dirs);
}

/** Go's exec.ExitError text, which libcni puts in its messages. */
/** libcni's pluginErr: the plugin's JSON error from stdout, else a message from stderr. */
export function pluginError(exit: string, stdout: Buffer, stderr: Buffer): CniPluginError {
  const errText = stderr.toString('utf8');
  if (stdout.length === 0) {
    if (stderr.length === 0) return new CniPluginError(0, `netplugin failed with no error message: ${exit}`, '', errText);
    return new CniPluginError(0, `netplugin failed: ${JSON.stringify(errText)}`, '', errText);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(stdout.toString('utf8'));
  } catch (err) {
    return new CniPluginError(
      0,
      `netplugin failed but error parsing its diagnostic message ${JSON.stringify(stdout.toString('utf8'))}: ${(err as Error).message}`,
      '',
      errText,
    );
  }
  if (!isJsonObject(parsed)) {
    return new CniPluginError(0, `netplugin failed but its diagnostic message is not an object: ${JSON.stringify(stdout.toString('utf8'))}`, '', errText);
  }
  const code = typeof parsed['code'] === 'number' ? parsed['code'] : 0;
  const msg = typeof parsed['msg'] === 'string' ? parsed['msg'] : '';
  const details = typeof parsed['details'] === 'string' ? parsed['details'] : '';
  return new CniPluginError(code, msg, details, errText);
}

/** Keeps the last `max` bytes written to it. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  constructor(private readonly max: number) {}
  push(chunk: Buffer): void {
    this.chunks.push(chunk);
    this.size += chunk.length;
    while (this.size > this.max && this.chunks.length > 0) {
      const first = this.chunks[0]!;
      const excess = this.size - this.max;
      if (first.length <= excess) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(excess);
        this.size -= excess;
      }
    }
  }
  bytes(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

/** Resolves when a pipe has been read to its end or was destroyed. */
function drained(stream: Readable): Promise<void> {
  if (stream.readableEnded || stream.destroyed) return Promise.resolve();
  return new Promise((resolve) => stream.once('close', () => resolve()));
}

/** Directories of PATH already searched for a bare name (the execPrefix command). */
const onPath = new Map<string, string>();

/** A bare name found on PATH (posix_spawn does not search); a path is used as is. */
function resolveCommand(name: string): string {
  if (name.includes('/')) return name;
  const cached = onPath.get(name);
  if (cached !== undefined) return cached;
  for (const dir of (process.env['PATH'] ?? '').split(':')) {
    const candidate = join(dir === '' ? '.' : dir, name);
    try {
      accessSync(candidate, fsConstants.X_OK);
      onPath.set(name, candidate);
      return candidate;
    } catch {
      // not here
    }
  }
  return name; // the spawn fails with ENOENT, reported as a failure to run
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/** Node's name for a signal number (what child_process reported), else the number. */
function signalName(n: number): string {
  for (const [name, v] of Object.entries(osConstants.signals)) if (v === n) return name;
  return String(n);
}

/**
 * Runs the plugin at `path` with `env` (added to berthd's own environment, as libcni adds
 * CNI_* to os.Environ()) and `stdin`; resolves with its stdout when it exits 0. A non-zero
 * exit rejects with the plugin's error (CniPluginError); a timeout, too much output or a
 * failure to start rejects with CniPluginExecError.
 *
 * Started with posix_spawn and reaped through a pidfd (src/native), not child_process:
 * libuv forks all of berthd (its page tables) and blocks the event loop until the child
 * has exec'd, ~1.5-2 ms per plugin against ~0.1 ms; a pod's ADD runs three plugins, two
 * of them one after the other, on the path RunPodSandbox waits on.
 */
export function execPlugin(
  path: string,
  env: Readonly<Record<string, string>>,
  stdin: Buffer,
  limits: PluginExecLimits = DEFAULT_EXEC_LIMITS,
): Promise<Buffer> {
  const prefix = limits.execPrefix ?? [];
  const argv = prefix.length > 0 ? [...prefix, path] : [path];
  const file = resolveCommand(argv[0]!);
  const childEnv = Object.entries({ ...process.env, ...env })
    .filter((e): e is [string, string] => e[1] !== undefined)
    .map(([k, v]) => `${k}=${v}`);
  return new Promise((resolve, reject) => {
    const pipes: Array<[number, number]> = [];
    let child: { pid: number; pidfd: number };
    try {
      for (let i = 0; i < 3; i++) pipes.push(pipe());
      child = spawnWithPidfd(file, argv, childEnv, [pipes[0]![0], pipes[1]![1], pipes[2]![1]]);
    } catch (err) {
      for (const [r, w] of pipes) {
        closeQuiet(r);
        closeQuiet(w);
      }
      reject(new CniPluginExecError(`failed to run plugin ${path}: ${(err as Error).message}`));
      return;
    }
    // The child has its own copies of its ends.
    closeQuiet(pipes[0]![0]);
    closeQuiet(pipes[1]![1]);
    closeQuiet(pipes[2]![1]);
    const stdinPipe = new net.Socket({ fd: pipes[0]![1], readable: false, writable: true });
    const stdoutPipe = new net.Socket({ fd: pipes[1]![0], readable: true, writable: false });
    const stderrPipe = new net.Socket({ fd: pipes[2]![0], readable: true, writable: false });
    const stdoutChunks: Buffer[] = [];
    let stdoutSize = 0;
    const stderr = new TailBuffer(limits.maxStderrBytes);
    let failure: CniPluginExecError | undefined;
    let settled = false;
    let reaped = false;

    const kill = (why: CniPluginExecError): void => {
      failure ??= why;
      if (!reaped) {
        try {
          pidfdSendSignal(child.pidfd, 'SIGKILL');
        } catch {
          // exited meanwhile
        }
      }
      // A child the plugin left behind may hold the pipes open: stop reading them.
      stdoutPipe.destroy();
      stderrPipe.destroy();
    };
    const timer = setTimeout(
      () => kill(new CniPluginExecError(`plugin ${path} did not finish within ${limits.timeoutMs} ms and was killed`)),
      limits.timeoutMs,
    );

    stdoutPipe.on('data', (chunk: Buffer) => {
      stdoutSize += chunk.length;
      if (stdoutSize > limits.maxStdoutBytes) {
        kill(new CniPluginExecError(`plugin ${path} wrote more than ${limits.maxStdoutBytes} bytes to stdout and was killed`));
        return;
      }
      stdoutChunks.push(chunk);
    });
    stderrPipe.on('data', (chunk: Buffer) => stderr.push(chunk));
    stdoutPipe.on('error', () => undefined);
    stderrPipe.on('error', () => undefined);
    // A plugin may exit without reading its config (EPIPE): its exit status tells.
    stdinPipe.on('error', () => undefined);
    stdinPipe.end(stdin);

    const finish = (err: Error | undefined, out?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(out ?? Buffer.alloc(0));
    };
    // Its exit, not its pipes' close: the pipes may stay open in a grandchild; the plugin's
    // answer is complete once it has exited and its stdout has ended (or was cut off by kill).
    waitPidfd(child.pidfd).then(
      (r) => {
        reaped = true;
        closeQuiet(child.pidfd);
        const exit = r.code === CLD_EXITED ? `exit status ${r.status}` : `signal: ${signalName(r.status)}`;
        const done = (): void => {
          if (failure) return finish(failure);
          const out = Buffer.concat(stdoutChunks);
          if (r.code === CLD_EXITED && r.status === 0) return finish(undefined, out);
          finish(pluginError(exit, out, stderr.bytes()));
        };
        void Promise.all([drained(stdoutPipe), drained(stderrPipe)]).then(done);
      },
      (err: unknown) => {
        reaped = true;
        closeQuiet(child.pidfd);
        stdoutPipe.destroy();
        stderrPipe.destroy();
        finish(new CniPluginExecError(`failed to wait for plugin ${path}: ${(err as Error).message}`));
      },
    );
  });
}
