// Running a shim binary's `start` and `delete` commands (containerd runtime/v2/binary.go,
// runtime/v2/shim/util.go Command):
//
//   cwd  <bundle>
//   argv <shim> -namespace NS -address <grpc socket> -publish-binary <berthd> -id ID [-debug] start
//        <shim> -namespace NS -address <grpc socket> -publish-binary <berthd> -id ID -bundle <bundle> delete
//   env  berthd's environment + GOMAXPROCS=2 + TTRPC_ADDRESS=<grpc socket>.ttrpc
//   own session/process group (berthd's signals never reach it)
//
// start: stdin = the shim options as an encoded google.protobuf.Any (empty if none);
//        stdout+stderr combined = the shim's ttrpc address; exit 0.
// delete: stdout = an encoded containerd.task.v2.DeleteResponse; stderr = warnings.
import { spawn } from 'node:child_process';
import { closeOnExecFrom } from '../native';
import { encodeMessage, decodeMessage } from '../proto/registry';
import type { AnyValue } from '../metadata/records';
import { DeadlineExceededError } from './errors';
import type { Bundle } from './bundle';
import type { DeleteResponse__Output } from '../generated/types/containerd/task/v2/DeleteResponse';

export interface ShimCommandConfig {
  /** Absolute path of the shim binary. */
  binary: string;
  /** berthd's gRPC socket path. */
  address: string;
  /** Where shims forward events (TTRPC_ADDRESS). */
  ttrpcAddress: string;
  /** -publish-binary: a program implementing `--address A publish --topic T --namespace NS`. */
  publishBinary: string;
  /** Pass -debug to `start`. */
  debug: boolean;
  /** Environment (default process.env). */
  env?: NodeJS.ProcessEnv;
}

export interface CommandResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: Buffer;
  /** stdout and stderr interleaved as received. */
  combined: Buffer;
}

/** What a shim's `delete` reports. */
export interface ShimExit {
  pid: number;
  exitStatus: number;
  exitedAt: { seconds: number; nanos: number } | null;
}

/** Go's exec.ExitError text: "exit status 1" or "signal: killed". */
function exitText(r: Pick<CommandResult, 'code' | 'signal'>): string {
  if (r.signal) return `signal: ${r.signal === 'SIGKILL' ? 'killed' : r.signal === 'SIGTERM' ? 'terminated' : r.signal}`;
  return `exit status ${r.code ?? -1}`;
}

/**
 * Runs a command to completion, collecting its output. Resolves when it has exited; a
 * grandchild holding the pipes open (a daemonized shim that kept them) does not delay
 * the result for more than a moment.
 */
export function runCommand(
  binary: string,
  args: string[],
  opts: { cwd: string; env: NodeJS.ProcessEnv; input?: Buffer; timeoutMs: number },
): Promise<CommandResult> {
  return new Promise((resolve, reject) => {
    let child;
    try {
      // A shim outlives berthd: it must not inherit berthd's own files (LevelDB opens its
      // logs, lock and tables without close-on-exec).
      try {
        closeOnExecFrom(3);
      } catch {
        // no native addon (some unit tests): nothing to protect in such a process
      }
      child = spawn(binary, args, { cwd: opts.cwd, env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } catch (err) {
      reject(spawnError(binary, err));
      return;
    }
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const all: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      all.push(b);
    });
    child.stderr.on('data', (b: Buffer) => {
      err.push(b);
      all.push(b);
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? Buffer.alloc(0));
    let done = false;
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        if (child.pid) process.kill(child.pid, 'SIGKILL');
      } catch {
        // gone already
      }
    }, opts.timeoutMs);
    let status: { code: number | null; signal: NodeJS.Signals | null } | undefined;
    const finish = (): void => {
      if (done || !status) return;
      done = true;
      clearTimeout(timer);
      if (timedOut) {
        reject(new DeadlineExceededError(`${binary} ${args[args.length - 1] ?? ''}: timed out after ${opts.timeoutMs}ms`));
        return;
      }
      resolve({ ...status, stdout: Buffer.concat(out), stderr: Buffer.concat(err), combined: Buffer.concat(all) });
    };
    child.once('error', (e) => {
      if (child.pid === undefined && !done) {
        done = true;
        clearTimeout(timer);
        reject(spawnError(binary, e));
      }
    });
    child.once('exit', (code, signal) => {
      status ??= { code, signal };
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
        finish();
      }, 200).unref();
    });
    child.once('close', (code, signal) => {
      status ??= { code, signal };
      finish();
    });
  });
}

function spawnError(binary: string, err: unknown): Error {
  const code = (err as NodeJS.ErrnoException).code;
  const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
  return new Error(`fork/exec ${binary}: ${why}`);
}

export class ShimCommand {
  constructor(
    private readonly bundle: Bundle,
    readonly config: ShimCommandConfig,
  ) {}

  private baseArgs(): string[] {
    return ['-namespace', this.bundle.namespace, '-address', this.config.address, '-publish-binary', this.config.publishBinary];
  }

  private env(): NodeJS.ProcessEnv {
    return { ...(this.config.env ?? process.env), GOMAXPROCS: '2', TTRPC_ADDRESS: this.config.ttrpcAddress };
  }

  /**
   * `start`: launches the shim; resolves to the address it printed. ownProcess: berth's
   * shim only, which then starts a process for this task alone (`-own-process`).
   */
  async start(options: AnyValue | undefined, timeoutMs = 60_000, ownProcess = false): Promise<string> {
    const args = [...this.baseArgs(), '-id', this.bundle.id];
    if (this.config.debug) args.push('-debug');
    if (ownProcess) args.push('-own-process');
    args.push('start');
    const input = options ? encodeMessage('google.protobuf.Any', { type_url: options.typeUrl, value: options.value }) : undefined;
    const r = await runCommand(this.config.binary, args, { cwd: this.bundle.path, env: this.env(), input, timeoutMs });
    const text = r.combined.toString('utf8');
    if (r.code !== 0) throw new Error(`${text}: ${exitText(r)}`);
    const address = text.trim();
    if (address === '') throw new Error(`${this.config.binary} start printed no address`);
    return address;
  }

  /** `delete`: cleans up after a dead shim; resolves to the exit it reports. */
  async delete(timeoutMs = 5_000): Promise<{ exit: ShimExit; warnings: string }> {
    const args = [...this.baseArgs(), '-id', this.bundle.id, '-bundle', this.bundle.path, 'delete'];
    const r = await runCommand(this.config.binary, args, { cwd: this.bundle.path, env: this.env(), timeoutMs });
    const warnings = r.stderr.toString('utf8');
    if (r.code !== 0) throw new Error(`${warnings}: ${exitText(r)}`);
    const res = decodeMessage<DeleteResponse__Output>('containerd.task.v2.DeleteResponse', r.stdout);
    return { exit: { pid: res.pid, exitStatus: res.exit_status, exitedAt: res.exited_at }, warnings };
  }
}
