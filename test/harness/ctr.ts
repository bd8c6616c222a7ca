// Drive a daemon (berthd or a private containerd) with the real containerd 1.6 `ctr`.
import { spawn, type ChildProcess } from 'node:child_process';
import { stopChild, spawnProcess, type ExitStatus, type SpawnedProcess } from './process';

export const CTR_BIN = '/usr/bin/ctr';

export interface CtrOptions {
  /** `-n <namespace>`; without it ctr uses "default" (CONTAINERD_NAMESPACE from the caller's env is not inherited). */
  namespace?: string;
  /** Written to ctr's stdin, which is then closed. Without it stdin is empty (EOF at once). */
  input?: string | Buffer;
  /** Kill ctr (SIGKILL, by PID) after this long; default 60 s. The result then has code null. */
  timeoutMs?: number;
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

export interface CtrResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** True if the timeout killed it. */
  timedOut: boolean;
}

function ctrArgv(address: string, args: string[], namespace?: string): string[] {
  const argv = ['-a', address];
  if (namespace !== undefined) argv.push('-n', namespace);
  return argv.concat(args);
}

function ctrEnv(extra?: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  // Only what the test passes explicitly decides where ctr goes and which namespace it uses.
  delete env.CONTAINERD_ADDRESS;
  delete env.CONTAINERD_NAMESPACE;
  delete env.CONTAINERD_SNAPSHOTTER;
  return { ...env, ...extra };
}

/** Runs `/usr/bin/ctr -a <address> [-n ns] ...args` and collects its output. Never rejects on exit≠0. */
export async function ctr(address: string, args: string[], opts: CtrOptions = {}): Promise<CtrResult> {
  const p = spawnProcess(CTR_BIN, ctrArgv(address, args, opts.namespace), {
    env: ctrEnv(opts.env),
    cwd: opts.cwd,
    input: opts.input ?? '',
  });
  const timeoutMs = opts.timeoutMs ?? 60_000;
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 });
  }, timeoutMs);
  const st = await p.exited;
  clearTimeout(timer);
  return { code: st.code, signal: st.signal, stdout: p.stdout(), stderr: p.stderr(), timedOut };
}

/** Like ctr(), but throws (with the command, exit code and stderr) unless ctr exited 0. */
export async function ctrOk(address: string, args: string[], opts: CtrOptions = {}): Promise<CtrResult> {
  const r = await ctr(address, args, opts);
  if (r.code !== 0) {
    const cmd = ['ctr', ...ctrArgv(address, args, opts.namespace)].join(' ');
    const why = r.timedOut ? `timed out after ${opts.timeoutMs ?? 60_000} ms` : `exit ${r.code ?? r.signal}`;
    throw new Error(`${cmd}: ${why}\nstderr: ${r.stderr.trim()}\nstdout: ${r.stdout.trim()}`);
  }
  return r;
}

export interface CtrStream {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Complete stdout lines received so far. */
  lines(): string[];
  stdout(): string;
  stderr(): string;
  /**
   * Resolves with the first stdout line (from the start, including lines already received)
   * matching `match` (substring or RegExp or predicate). Rejects on timeout or if ctr exits first.
   */
  waitForLine(match: string | RegExp | ((line: string) => boolean), timeoutMs?: number): Promise<string>;
  /** Resolves with the next line received after this call (not one already seen). */
  nextLine(timeoutMs?: number): Promise<string>;
  /** Lines as they arrive (starting with those already received); ends when ctr exits. */
  [Symbol.asyncIterator](): AsyncIterator<string>;
  /** Writes to ctr's stdin. */
  write(data: string | Buffer): void;
  /** Closes ctr's stdin. */
  endInput(): void;
  readonly exited: Promise<ExitStatus>;
  /** SIGTERM (SIGKILL after timeoutMs, default 5 s) by PID; resolves with the exit status. */
  stop(timeoutMs?: number): Promise<ExitStatus>;
}

/**
 * Starts a long-running ctr (`ctr events`, `ctr run` with stdin, `ctr tasks attach`…) and
 * returns a handle to read its stdout line by line as it comes. stdin stays open
 * (use write/endInput). The caller must stop() it.
 */
export function ctrSpawn(address: string, args: string[], opts: Omit<CtrOptions, 'input' | 'timeoutMs'> = {}): CtrStream {
  const child = spawn(CTR_BIN, ctrArgv(address, args, opts.namespace), {
    env: ctrEnv(opts.env),
    cwd: opts.cwd,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const pid = child.pid ?? -1;
  const received: string[] = [];
  let partial = '';
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  type Waiter = { from: number; test: (l: string) => boolean; resolve: (l: string) => void; reject: (e: Error) => void };
  let waiters: Waiter[] = [];
  let status: ExitStatus | undefined;

  const deliver = (): void => {
    waiters = waiters.filter((w) => {
      for (let i = w.from; i < received.length; i++) {
        const line = received[i]!;
        if (w.test(line)) {
          w.resolve(line);
          return false;
        }
      }
      w.from = received.length;
      return true;
    });
  };
  child.stdout.on('data', (b: Buffer) => {
    out.push(b);
    partial += b.toString('utf8');
    const parts = partial.split('\n');
    partial = parts.pop() ?? '';
    received.push(...parts);
    deliver();
  });
  child.stderr.on('data', (b: Buffer) => err.push(b));
  child.stdin.on('error', () => undefined);

  const exited = new Promise<ExitStatus>((resolve) => {
    const finish = (code: number | null, signal: NodeJS.Signals | null): void => {
      if (status) return;
      if (partial !== '') {
        received.push(partial);
        partial = '';
        deliver();
      }
      status = { code, signal };
      const why = `ctr ${args.join(' ')} exited (code ${code}, signal ${signal}); stderr: ${Buffer.concat(err).toString('utf8').trim()}`;
      for (const w of waiters) w.reject(new Error(why));
      waiters = [];
      resolve(status);
    };
    child.once('error', (e) => {
      err.push(Buffer.from(e.message));
      if (child.pid === undefined) finish(null, null);
    });
    child.once('close', finish);
  });

  const addWaiter = (from: number, test: (l: string) => boolean, timeoutMs: number, what: string): Promise<string> =>
    new Promise<string>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const w: Waiter = {
        from,
        test,
        resolve: (l) => {
          clearTimeout(timer);
          resolve(l);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      waiters.push(w);
      deliver();
      if (!waiters.includes(w)) return;
      if (status) {
        waiters = waiters.filter((x) => x !== w);
        reject(new Error(`ctr ${args.join(' ')} already exited (code ${status.code}) without ${what}; stdout:\n${received.join('\n')}`));
        return;
      }
      timer = setTimeout(() => {
        waiters = waiters.filter((x) => x !== w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what} from ctr ${args.join(' ')}; stdout so far:\n${received.join('\n')}`));
      }, timeoutMs);
    });

  // Reuse the process helpers' stop logic through a SpawnedProcess view of the child.
  const view: SpawnedProcess = {
    child,
    pid,
    output: () => Buffer.concat(out).toString('utf8') + Buffer.concat(err).toString('utf8'),
    stderr: () => Buffer.concat(err).toString('utf8'),
    stdout: () => Buffer.concat(out).toString('utf8'),
    exited,
    exitStatus: () => status,
  };

  return {
    child,
    pid,
    lines: () => received.slice(),
    stdout: view.stdout,
    stderr: view.stderr,
    waitForLine(match, timeoutMs = 15_000) {
      const test =
        typeof match === 'string' ? (l: string) => l.includes(match) : match instanceof RegExp ? (l: string) => match.test(l) : match;
      return addWaiter(0, test, timeoutMs, `a line matching ${String(match)}`);
    },
    nextLine(timeoutMs = 15_000) {
      return addWaiter(received.length, () => true, timeoutMs, 'the next line');
    },
    [Symbol.asyncIterator](): AsyncIterator<string> {
      let i = 0;
      return {
        next: async (): Promise<IteratorResult<string>> => {
          if (i < received.length) return { value: received[i++]!, done: false };
          if (status) return { value: undefined, done: true };
          try {
            const line = await addWaiter(i, () => true, 2 ** 31 - 1, 'a line');
            i++;
            return { value: line, done: false };
          } catch {
            return i < received.length ? { value: received[i++]!, done: false } : { value: undefined, done: true };
          }
        },
      };
    },
    write(data) {
      child.stdin.write(data);
    },
    endInput() {
      child.stdin.end();
    },
    exited,
    stop(timeoutMs = 5_000) {
      return stopChild(view, { timeoutMs });
    },
  };
}
