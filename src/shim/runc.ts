// The OCI runtime CLI (runc, or crun/any runc-compatible binary named by
// Options.binary_name), driven as containerd's go-runc does: global flags
// `--root <root>/<ns> --log <bundle>/log.json --log-format json [--systemd-cgroup]`,
// one process per operation, started by runCommand (posix_spawn, reaped via pidfd). Failures
// carry the last error runc logged to log.json, like containerd's runtimeError.
import { availableParallelism } from 'node:os';
import * as fs from 'node:fs';
import { runCommand, type CommandStdio } from './command';

/** fds 0-2 of a runtime command. */
export type RuntimeStdio = readonly [CommandStdio, CommandStdio, CommandStdio];

export interface RuncConfig {
  /** Binary name or path (PATH lookup). */
  command: string;
  /** --root: the state directory (already including the namespace). */
  root: string;
  /** --log: JSON log file (<bundle>/log.json). */
  log: string;
  systemdCgroup?: boolean;
  criu?: string;
}

/**
 * One shim process drives every container of the daemon, so a burst of creates would
 * start dozens of runtime processes at once on a 2-core machine; they then all crawl.
 * A few at a time (twice the cores) finishes the burst sooner and keeps the shim's event
 * loop responsive. (containerd's one-shim-per-container spreads the same burst over many
 * processes.)
 */
class Slots {
  private free: number;
  private readonly waiting: Array<() => void> = [];
  constructor(n: number) {
    this.free = n;
  }
  acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.waiting.push(resolve));
  }
  release(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

const RUNTIME_SLOTS = Math.max(2, availableParallelism() * 2);
const runtimeSlots = new Slots(RUNTIME_SLOTS);

export class RuncError extends Error {
  constructor(message: string, readonly output: string, readonly exitCode: number) {
    super(message);
  }
}

interface RunOptions {
  /** stdio for the runtime process; default: ignore stdin, capture stdout+stderr. */
  stdio?: RuntimeStdio;
  /** Written to stdin (which is then closed). */
  input?: Buffer | string;
  /** Keep stdout apart from stderr (ps). */
  separateStdout?: boolean;
}

export interface RunResult {
  code: number;
  stdout: string;
  output: string;
}

/**
 * The runtime binary's environment: the shim's own, without NOTIFY_SOCKET (runc treats it
 * specially, for systemd; containerd filters it out too), and with GOMAXPROCS=1 unless
 * the environment sets it.
 *
 * Why GOMAXPROCS=1: every runc command is a short Go program, and `runc create` also
 * runs `runc init` (runc passes GOMAXPROCS on to it). Go starts a scheduler thread per
 * CPU, and on a small machine idle ones spinning for work take CPU from the container
 * being set up and from the daemon. runc's work is sequential, so one P costs it
 * nothing: `runc create` of a busybox bundle on a 2-core VM took 30.3 ms against 33.0 ms
 * (means of 50), and `ctr run --rm` through berthd (medians over 4 fresh daemons)
 * 87 ms against 90 ms. The container's own processes get the spec's environment, not this.
 */
export function runtimeEnvironment(env: NodeJS.ProcessEnv): string[] {
  const out = Object.entries(env)
    .filter(([k, v]) => k !== 'NOTIFY_SOCKET' && v !== undefined)
    .map(([k, v]) => `${k}=${v as string}`);
  if (env['GOMAXPROCS'] === undefined) out.push('GOMAXPROCS=1');
  return out;
}

let runtimeEnv: string[] | undefined;
function env(): string[] {
  runtimeEnv ??= runtimeEnvironment(process.env);
  return runtimeEnv;
}

/** Called after every runtime command (debug timings); set once by the serving shim. */
let onRuntimeCommand: ((args: readonly string[], ms: number, code: number) => void) | undefined;
export function traceRuntimeCommands(fn: typeof onRuntimeCommand): void {
  onRuntimeCommand = fn;
}

export class Runc {
  constructor(readonly cfg: RuncConfig) {}

  private globalArgs(): string[] {
    const a = ['--root', this.cfg.root, '--log', this.cfg.log, '--log-format', 'json'];
    if (this.cfg.systemdCgroup) a.push('--systemd-cgroup');
    if (this.cfg.criu) a.push('--criu', this.cfg.criu);
    return a;
  }

  /** Runs the runtime once; at most RUNTIME_SLOTS of them at a time across the shim. */
  async run(args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    await runtimeSlots.acquire();
    try {
      if (!onRuntimeCommand) return await this.runNow(args, opts);
      const t = process.hrtime.bigint();
      const r = await this.runNow(args, opts);
      onRuntimeCommand(args, Number(process.hrtime.bigint() - t) / 1e6, r.code);
      return r;
    } finally {
      runtimeSlots.release();
    }
  }

  private async runNow(args: readonly string[], opts: RunOptions): Promise<RunResult> {
    const stdio: RuntimeStdio = opts.stdio ?? [opts.input !== undefined ? 'pipe' : 'ignore', 'pipe', 'pipe'];
    const r = await runCommand(this.cfg.command, [...this.globalArgs(), ...args], { stdio, input: opts.input, env: env() });
    // Callers read stdout apart from stderr only when they parse it (ps).
    if (opts.separateStdout) return { code: r.code, stdout: r.stdout, output: r.stderr };
    return { code: r.code, stdout: '', output: r.stdout + r.stderr };
  }

  /** Runs and throws a RuncError (message from log.json when there is one) on failure. */
  async runOrThrow(what: string, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
    const r = await this.run(args, opts);
    if (r.code !== 0) throw this.error(what, r);
    return r;
  }

  /** containerd's runtimeError: the runtime's last logged error, else how the command failed. */
  error(what: string, r: RunResult): RuncError {
    const failed = r.output.trim() || `${this.cfg.command} did not terminate successfully: exit status ${r.code}`;
    const logged = lastLoggedError(this.cfg.log);
    if (logged.error) return new RuncError(`${what}: unable to retrieve OCI runtime error (${logged.error}): ${failed}`, r.output, r.code);
    return new RuncError(`${what}: ${logged.msg || failed}`, r.output, r.code);
  }

  create(id: string, bundle: string, o: { pidFile: string; consoleSocket?: string; noPivot?: boolean; noNewKeyring?: boolean; stdio?: RuntimeStdio }): Promise<RunResult> {
    const a = ['create', '--bundle', bundle, '--pid-file', o.pidFile];
    if (o.consoleSocket) a.push('--console-socket', o.consoleSocket);
    if (o.noPivot) a.push('--no-pivot');
    if (o.noNewKeyring) a.push('--no-new-keyring');
    a.push(id);
    return this.runOrThrow('OCI runtime create failed', a, { stdio: o.stdio });
  }

  start(id: string): Promise<RunResult> {
    return this.runOrThrow('OCI runtime start failed', ['start', id]);
  }

  exec(id: string, processJson: string, o: { pidFile: string; consoleSocket?: string; stdio?: RuntimeStdio }): Promise<RunResult> {
    const a = ['exec', '--process', processJson];
    if (o.consoleSocket) a.push('--console-socket', o.consoleSocket);
    a.push('--detach', '--pid-file', o.pidFile, id);
    return this.runOrThrow('OCI runtime exec failed', a, { stdio: o.stdio });
  }

  delete(id: string, force = false): Promise<RunResult> {
    return this.run(force ? ['delete', '--force', id] : ['delete', id]);
  }

  kill(id: string, signal: number, all = false): Promise<RunResult> {
    return this.run(all ? ['kill', '--all', id, String(signal)] : ['kill', id, String(signal)]);
  }

  pause(id: string): Promise<RunResult> {
    return this.runOrThrow('OCI runtime pause failed', ['pause', id]);
  }

  resume(id: string): Promise<RunResult> {
    return this.runOrThrow('OCI runtime resume failed', ['resume', id]);
  }

  async ps(id: string): Promise<number[]> {
    const r = await this.run(['ps', '--format', 'json', id], { separateStdout: true });
    if (r.code !== 0) throw this.error('failed to list pids', r);
    const v: unknown = JSON.parse(r.stdout.trim() || '[]');
    return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : [];
  }

  update(id: string, resourcesJson: Buffer | string): Promise<RunResult> {
    return this.runOrThrow('OCI runtime update failed', ['update', '--resources', '-', id], { input: resourcesJson });
  }

  checkpoint(id: string, o: { imagePath: string; workPath: string; leaveRunning: boolean; openTcp?: boolean; externalUnixSockets?: boolean; terminal?: boolean; fileLocks?: boolean; emptyNamespaces?: string[]; cgroupsMode?: string }): Promise<RunResult> {
    const a = ['checkpoint', '--image-path', o.imagePath, '--work-path', o.workPath];
    if (o.openTcp) a.push('--tcp-established');
    if (o.externalUnixSockets) a.push('--ext-unix-sk');
    if (o.terminal) a.push('--shell-job');
    if (o.fileLocks) a.push('--file-locks');
    if (o.cgroupsMode) a.push('--manage-cgroups-mode', o.cgroupsMode);
    for (const ns of o.emptyNamespaces ?? []) a.push('--empty-ns', ns);
    if (o.leaveRunning) a.push('--leave-running');
    a.push(id);
    return this.runOrThrow('OCI runtime checkpoint failed', a);
  }
}

/** The message of the last "error" entry runc wrote to its JSON log (go-runc's getLastRuntimeError), or why the log could not be read. */
export function lastLoggedError(logPath: string): { msg: string; error?: string } {
  let text: string;
  try {
    text = fs.readFileSync(logPath, 'utf8');
  } catch (err) {
    // Go's text for the failed open (the runtime never ran, e.g. it could not be found)
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message;
    return { msg: '', error: `open ${logPath}: ${why}` };
  }
  let msg = '';
  for (const line of text.split('\n')) {
    if (!line.includes('"error"')) continue;
    try {
      const e = JSON.parse(line) as { level?: string; msg?: string };
      if (e.level === 'error' && typeof e.msg === 'string') msg = e.msg.trim();
    } catch {
      // not JSON (crun may log plain text)
    }
  }
  return { msg };
}

/** containerd's checkKillError: is this runtime kill failure "process already finished"? */
export function killErrorKind(output: string): 'finished' | 'no-container' | 'other' {
  const o = output.toLowerCase();
  if (o.includes('process already finished') || o.includes('container not running') || o.includes('no such process')) return 'finished';
  if (o.includes('does not exist')) return 'no-container';
  return 'other';
}
