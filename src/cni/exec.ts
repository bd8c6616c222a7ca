// Running one CNI plugin binary: found by name in the plugin directories (libcni's
// FindInPath), the config on stdin, CNI_* in the environment, the result (or the error
// JSON) on stdout. Bounded: a plugin that hangs is killed after a timeout, and stdout and
// stderr are read up to a limit (a runaway plugin kills neither berthd's memory nor its log).

import { spawn } from 'node:child_process';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
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
function exitText(code: number | null, signal: NodeJS.Signals | null): string {
  return code !== null ? `exit status ${code}` : `signal: ${signal ?? 'unknown'}`;
}

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

/**
 * Runs the plugin at `path` with `env` (added to berthd's own environment, as libcni adds
 * CNI_* to os.Environ()) and `stdin`; resolves with its stdout when it exits 0. A non-zero
 * exit rejects with the plugin's error (CniPluginError); a timeout, too much output or a
 * failure to start rejects with CniPluginExecError.
 */
export function execPlugin(
  path: string,
  env: Readonly<Record<string, string>>,
  stdin: Buffer,
  limits: PluginExecLimits = DEFAULT_EXEC_LIMITS,
): Promise<Buffer> {
  const prefix = limits.execPrefix ?? [];
  const file = prefix.length > 0 ? prefix[0]! : path;
  const args = prefix.length > 0 ? [...prefix.slice(1), path] : [];
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    const stdoutChunks: Buffer[] = [];
    let stdoutSize = 0;
    const stderr = new TailBuffer(limits.maxStderrBytes);
    let failure: CniPluginExecError | undefined;
    let settled = false;

    const kill = (why: CniPluginExecError): void => {
      failure ??= why;
      child.kill('SIGKILL');
      // A child the plugin left behind may hold the pipes open: stop reading them.
      child.stdout.destroy();
      child.stderr.destroy();
    };
    const timer = setTimeout(
      () => kill(new CniPluginExecError(`plugin ${path} did not finish within ${limits.timeoutMs} ms and was killed`)),
      limits.timeoutMs,
    );

    child.stdout.on('data', (chunk: Buffer) => {
      stdoutSize += chunk.length;
      if (stdoutSize > limits.maxStdoutBytes) {
        kill(new CniPluginExecError(`plugin ${path} wrote more than ${limits.maxStdoutBytes} bytes to stdout and was killed`));
        return;
      }
      stdoutChunks.push(chunk);
    });
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    // A plugin may exit without reading its config (EPIPE): its exit status tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(stdin);

    const finish = (err: Error | undefined, out?: Buffer): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (err) reject(err);
      else resolve(out ?? Buffer.alloc(0));
    };
    child.on('error', (err) => {
      finish(new CniPluginExecError(`failed to run plugin ${path}: ${err.message}`));
    });
    // 'exit', not 'close': the pipes may stay open in a grandchild; the plugin's answer is
    // complete once it has exited and its stdout has ended (or was cut off by kill).
    child.on('exit', (code, signal) => {
      const done = (): void => {
        if (failure) return finish(failure);
        const out = Buffer.concat(stdoutChunks);
        if (code === 0) return finish(undefined, out);
        finish(pluginError(exitText(code, signal), out, stderr.bytes()));
      };
      void Promise.all([drained(child.stdout), drained(child.stderr)]).then(done);
    });
  });
}
