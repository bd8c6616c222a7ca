// Exits of container processes, without waitpid(-1): the shim is a child subreaper
// (prctl), so a container's init and exec processes become its children once the runc
// process that started them exits. For each such pid (from runc's --pid-file) it opens
// a pidfd, watches it on the event loop and reaps exactly that pid with
// waitid(P_PIDFD) — libuv keeps reaping its own children (runc itself) undisturbed.
//
// A process that exited before it was watched is still a zombie child of ours (nobody
// else may reap it), pidfd_open works on zombies, and the first poll reports it: no exit
// is lost. pidfd_open failing with ESRCH (the pid no longer exists at all) and waitid
// failing with ECHILD (not our child: no subreaper) are reported as exit status 255.
import * as fs from 'node:fs';
import { WNOHANG, isNativeError, pidfdOpen, pidfdSendSignal, waitidPidfd, watchFd, type FdWatcher } from '../native';
import { wallNow, type WallTime } from '../time/wall';

export interface ExitInfo {
  pid: number;
  /** The exit code, or 128 + signal. */
  status: number;
  /** When the shim saw the exit (the pidfd turned readable), with nanoseconds. */
  exitedAt: WallTime;
}

export const UNKNOWN_EXIT_STATUS = 255;

/** Pids with a live WatchedProcess. */
const watchedPids = new Set<number>();
export const isWatchedPid = (pid: number): boolean => watchedPids.has(pid);

export class WatchedProcess {
  private fd: number;
  private watcher: FdWatcher | undefined;
  private done = false;

  /** Starts watching `pid`; `onExit` runs once, on a later tick of the event loop. */
  constructor(readonly pid: number, onExit: (e: ExitInfo) => void, onWarn?: (msg: string) => void) {
    try {
      this.fd = pidfdOpen(pid);
    } catch (err) {
      this.fd = -1;
      this.done = true;
      onWarn?.(`pidfd_open(${pid}): ${(err as Error).message}: exit status unknown`);
      setImmediate(() => onExit({ pid, status: UNKNOWN_EXIT_STATUS, exitedAt: wallNow() }));
      return;
    }
    watchedPids.add(pid);
    this.watcher = watchFd(this.fd, (err) => {
      if (this.done) return;
      let status: number | undefined;
      if (err) {
        onWarn?.(`watching pid ${pid}: ${err.message}`);
        status = UNKNOWN_EXIT_STATUS;
      } else {
        try {
          const r = waitidPidfd(this.fd, WNOHANG);
          if (r) status = r.exitStatus;
        } catch (e) {
          onWarn?.(`waitid(pid ${pid}): ${(e as Error).message}: exit status unknown`);
          status = UNKNOWN_EXIT_STATUS; // ECHILD: readable pidfd = exited, but not ours to reap
        }
      }
      if (status === undefined) return; // spurious wake-up
      const exitedAt = wallNow();
      this.release();
      onExit({ pid, status, exitedAt });
    });
  }

  get exited(): boolean {
    return this.done;
  }

  /** Signals the process through its pidfd (no pid-reuse race). Throws ESRCH once it is gone. */
  signal(sig: number): void {
    if (this.done) throw Object.assign(new Error('ESRCH: process already finished'), { code: 'ESRCH' });
    pidfdSendSignal(this.fd, sig);
  }

  /** Stops watching (the exit callback will not run) and closes the pidfd. */
  release(): void {
    if (this.fd >= 0) watchedPids.delete(this.pid);
    this.done = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.fd >= 0) {
      try {
        fs.closeSync(this.fd);
      } catch {
        // already closed
      }
      this.fd = -1;
    }
  }
}

export function isGone(err: unknown): boolean {
  return isNativeError(err, 'ESRCH') || (err as { code?: string } | null)?.code === 'ESRCH';
}

// ---------------------------------------------------------------------------------
// orphans

/** Pids of the processes the shim itself spawned (runtime commands, loggers): libuv or the
 * command runner reaps those, and must be the one to, or their exit is never seen. */
const ownChildren = new Set<number>();

/** A child the shim spawned and reaps itself through a pidfd; call the result once reaped. */
export function trackPid(pid: number): () => void {
  ownChildren.add(pid);
  return () => ownChildren.delete(pid);
}

export function trackChild(child: { pid?: number; once(event: 'exit', cb: () => void): unknown }): void {
  const pid = child.pid;
  if (pid === undefined) return;
  ownChildren.add(pid);
  child.once('exit', () => ownChildren.delete(pid));
}

/**
 * Reaps zombies that re-parented to the shim and that nobody watches: descendants of a
 * container without its own pid namespace, orphaned after its init exited. (In a private
 * pid namespace orphans go to the container's init instead.) containerd's shim reaps them
 * with waitpid(-1); here the shim's children are listed from
 * /proc/self/task/<tid>/children on SIGCHLD, and a zombie that is neither watched nor one
 * of the shim's own children, and that is still a zombie on the next sweep, is reaped
 * through its pidfd.
 */
export class OrphanReaper {
  private timer: NodeJS.Timeout | undefined;
  private seen = new Set<number>();
  reaped = 0;

  constructor(private readonly isWatched: (pid: number) => boolean = isWatchedPid, private readonly intervalMs = 1000) {}

  start(): void {
    process.on('SIGCHLD', () => this.schedule());
  }

  private schedule(): void {
    if (this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      if (this.sweep() > 0) this.schedule();
    }, this.intervalMs);
    this.timer.unref();
  }

  /** One pass; returns how many candidate zombies remain for the next pass. */
  sweep(): number {
    const zombies = new Set<number>();
    let tids: string[];
    try {
      tids = fs.readdirSync('/proc/self/task');
    } catch {
      return 0;
    }
    for (const tid of tids) {
      let text: string;
      try {
        text = fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8');
      } catch {
        continue;
      }
      for (const s of text.split(' ')) {
        const pid = Number(s);
        if (!pid || ownChildren.has(pid) || this.isWatched(pid) || !isZombie(pid)) continue;
        zombies.add(pid);
      }
    }
    let pending = 0;
    for (const pid of zombies) {
      if (!this.seen.has(pid)) {
        pending++;
        continue;
      }
      try {
        const fd = pidfdOpen(pid);
        try {
          waitidPidfd(fd, WNOHANG);
          this.reaped++;
        } finally {
          fs.closeSync(fd);
        }
      } catch {
        // gone meanwhile
      }
    }
    this.seen = new Set([...zombies].filter((p) => !this.seen.has(p)));
    return pending;
  }
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] === 'Z';
  } catch {
    return false;
  }
}
