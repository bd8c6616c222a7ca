import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError } from '../errdefs/errors';
import { fsError } from '../errdefs/fs';
import { flockTry } from '../native/lock';

/** major:minor of an encoded dev_t (glibc's gnu_dev_major/minor). */
function devParts(dev: number): [number, number] {
  const d = BigInt(dev);
  const major = Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
  const minor = Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
  return [major, minor];
}

/**
 * The pid holding a flock on the file (dev, ino), from /proc/locks (the kernel's own
 * record, so it is right even if the pid file could not be written), else undefined.
 */
function flockHolder(dev: number, ino: number): number | undefined {
  let text: string;
  try {
    text = readFileSync('/proc/locks', 'utf8');
  } catch {
    return undefined;
  }
  const [major, minor] = devParts(dev);
  const want = `${major.toString(16).padStart(2, '0')}:${minor.toString(16).padStart(2, '0')}:${ino}`;
  for (const line of text.split('\n')) {
    // "1: FLOCK  ADVISORY  WRITE 1234 08:01:56789 0 EOF"
    const f = line.trim().split(/\s+/);
    if (f[1] === 'FLOCK' && f[5] === want) {
      const pid = Number.parseInt(f[4] ?? '', 10);
      if (pid > 0) return pid;
    }
  }
  return undefined;
}

function pidFromFile(fd: number): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(fd, 'utf8'), 10);
    return pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * One berthd per root. The lock is a kernel lock, flock(2) on <root>/berthd.lock, held on
 * an open descriptor for the daemon's whole life: the kernel drops it the moment berthd
 * dies, however it dies, so a reused pid or an unreaped zombie never blocks a restart.
 * The pid written into the file only informs people (and the refusal message). Taking it
 * writes no new file content that matters, so a full disk does not stop a start.
 * LevelDB's own LOCK is a second guard behind it.
 */
export class RootLock {
  private constructor(
    private readonly path: string,
    private fd: number | undefined,
  ) {}

  static acquire(root: string): RootLock {
    const path = join(root, 'berthd.lock');
    // A few rounds: the file may be unlinked by a stopping berthd between our open and
    // our flock (then we locked an orphan inode and must start over on the new file).
    for (let attempt = 0; attempt < 5; attempt++) {
      let fd: number;
      try {
        // libuv opens with O_CLOEXEC: shims and runc must never inherit (and so hold) the lock.
        fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
      } catch (err) {
        throw fsError(err, 'open', path);
      }
      let keep = false;
      try {
        if (!flockTry(fd, true)) {
          const st = fstatSync(fd);
          const holder = flockHolder(st.dev, st.ino) ?? pidFromFile(fd);
          const who = holder !== undefined ? `another berthd (pid ${holder})` : 'another berthd';
          throw new FailedPreconditionError(
            `${who} is already running on root ${root} (it holds the lock ${path}); stop it first or use another --root`,
          );
        }
        const held = fstatSync(fd);
        let current;
        try {
          current = statSync(path);
        } catch {
          current = undefined;
        }
        if (!current || current.ino !== held.ino || current.dev !== held.dev) continue;
        try {
          ftruncateSync(fd, 0);
          writeSync(fd, `${process.pid}\n`, 0);
        } catch {
          // Informative only (e.g. ENOSPC on a full disk): the flock is what guards the root.
        }
        keep = true;
        return new RootLock(path, fd);
      } finally {
        if (!keep) closeSync(fd);
      }
    }
    throw new FailedPreconditionError(`cannot take the lock ${path}: it keeps being replaced`);
  }

  release(): void {
    if (this.fd === undefined) return;
    // Unlink while still holding the lock, then close: a starter that opened the old
    // file sees the inode is no longer at the path and opens the new one.
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
    closeSync(this.fd);
    this.fd = undefined;
  }
}
