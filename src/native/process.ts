// Process supervision without waitpid(-1): become a child subreaper, open a pidfd per
// process of interest, watch it on the event loop, and reap exactly that pid with
// waitid(P_PIDFD) — never stealing the exit statuses of libuv's own children.

import { constants as osConstants } from 'os';
import { native, type RawWaitResult } from './binding';
import type { NativeError } from './errors';
import { CLD_EXITED, WNOHANG } from './constants';

export interface WaitResult {
  /** The reaped pid. */
  pid: number;
  /** si_code: CLD_EXITED, CLD_KILLED or CLD_DUMPED (CLD_STOPPED/CLD_CONTINUED only if asked for). */
  code: number;
  /** si_status: the exit code (CLD_EXITED) or the signal number. */
  status: number;
  /** Shell convention: the exit code, or 128 + signal when killed. */
  exitStatus: number;
}

/** prctl(PR_SET_CHILD_SUBREAPER): orphaned descendants are re-parented to this process. */
export function prctlSetChildSubreaper(on = true): void {
  native().prctlSetChildSubreaper(on);
}

/** prctl(PR_GET_CHILD_SUBREAPER). */
export function prctlGetChildSubreaper(): boolean {
  return native().prctlGetChildSubreaper();
}

/** pidfd_open(2): a close-on-exec descriptor for `pid`; close it with fs.closeSync. */
export function pidfdOpen(pid: number, flags = 0): number {
  return native().pidfdOpen(pid, flags);
}

function signalNumber(signal: number | NodeJS.Signals): number {
  if (typeof signal === 'number') return signal;
  const n = osConstants.signals[signal];
  if (n === undefined) throw new TypeError(`unknown signal: ${signal}`);
  return n;
}

/** pidfd_send_signal(2): signal the process without pid-reuse races. */
export function pidfdSendSignal(pidfd: number, signal: number | NodeJS.Signals): void {
  native().pidfdSendSignal(pidfd, signalNumber(signal));
}

/** waitid(P_PIDFD, pidfd, WEXITED | options). Blocks unless `options` has WNOHANG;
 * with WNOHANG returns null while the process is still running. Throws ECHILD if it
 * is not (or no longer) a child of this process. */
export function waitidPidfd(pidfd: number, options = 0): WaitResult | null {
  const r: RawWaitResult | null = native().waitidPidfd(pidfd, options);
  return r && { pid: r.pid, code: r.code, status: r.status, exitStatus: r.exitStatus };
}

export interface SpawnedChild {
  pid: number;
  /** A close-on-exec pidfd for the child: wait with waitPidfd, then close it. */
  pidfd: number;
}

/**
 * posix_spawn(3) of `path` (no PATH search) with fds 0-2 from `stdio` (-1 = /dev/null;
 * otherwise descriptors > 2), an empty signal mask and default signal dispositions.
 * Cheaper than child_process.spawn, which forks the whole Node process and blocks until
 * the child has exec'd; and the child is reaped through its pidfd, outside libuv.
 * Throws (ENOENT, EACCES, ...) when the exec fails.
 */
export function spawnWithPidfd(path: string, argv: readonly string[], env: readonly string[], stdio: readonly [number, number, number]): SpawnedChild {
  return native().spawn(path, argv, env, stdio);
}

/** Sets FD_CLOEXEC on every descriptor >= minFd (default 3); returns how many it changed. */
export function closeOnExecFrom(minFd = 3): number {
  return native().closeOnExecFrom(minFd);
}

/** execve(2): becomes `path` (same pid); returns only by throwing. */
export function execve(path: string, argv: readonly string[], env: readonly string[]): never {
  return native().execve(path, argv, env);
}

/** True if the result is a normal exit (not a signal). */
export function exitedNormally(r: WaitResult): boolean {
  return r.code === CLD_EXITED;
}

// uv_poll event bits (libuv's values on every platform; the addon exports the same names).
/** The fd can be read (or has hung up / failed: then every watched bit is reported). */
export const UV_READABLE = 1;
/** The fd can take a write. */
export const UV_WRITABLE = 2;

export interface FdWatcher {
  /** Stop watching (idempotent). Close the watcher before closing the fd. */
  close(): void;
  /** Wait for `events` (UV_READABLE | UV_WRITABLE) from now on; 0 pauses the watcher
   * without closing it. Ignored once closed. */
  setEvents(events: number): void;
  /** Keep the event loop alive while watching (the default). */
  ref(): void;
  /** Do not keep the event loop alive for this watcher. */
  unref(): void;
}

/**
 * Call `callback` on the event loop whenever `fd` is ready for `events` (default
 * UV_READABLE; level-triggered: it keeps firing until the condition clears, the events
 * change or the watcher is closed). Works for pidfds (readable once the process exits)
 * and any pollable fd not already watched by libuv. libuv takes one watcher per fd: a
 * descriptor both read and written gets one watcher whose events follow what its users
 * wait for (see setEvents).
 */
export function watchFd(fd: number, callback: (err: NativeError | null, events: number) => void, events: number = UV_READABLE): FdWatcher {
  const w = native().watchFd(fd, callback as (err: Error | null, events: number) => void, events);
  return {
    close: () => w.close(),
    setEvents: (e: number) => w.setEvents(e),
    ref: () => w.ref(),
    unref: () => w.unref(),
  };
}

/**
 * Resolve with the exit of the process behind `pidfd` (which must be a child of this
 * process, directly or by re-parenting to this subreaper), reaping exactly that pid.
 * Does not close the pidfd. `opts.ref=false` lets the process exit while waiting.
 */
export function waitPidfd(pidfd: number, opts: { ref?: boolean } = {}): Promise<WaitResult> {
  return new Promise<WaitResult>((resolve, reject) => {
    let done = false;
    let watcher: FdWatcher | undefined;
    const finish = (err: Error | null, r?: WaitResult) => {
      done = true;
      watcher?.close();
      if (err) reject(err);
      else resolve(r!);
    };
    const poll = (err: NativeError | null) => {
      if (done) return;
      if (err) return finish(err);
      try {
        const r = waitidPidfd(pidfd, WNOHANG);
        if (r) finish(null, r);
      } catch (e) {
        finish(e as Error);
      }
    };
    watcher = watchFd(pidfd, poll);
    if (opts.ref === false) watcher.unref();
  });
}
