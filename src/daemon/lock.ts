import { linkSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError } from '../errdefs/errors';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * One berthd per root. The lock is a pid file created atomically (written under a
 * temporary name, then hard-linked into place, which fails if it exists). A lock left by
 * a dead process is stale and taken over. LevelDB's own LOCK (a kernel file lock) is the
 * second guard should two starts race over a stale file.
 */
export class RootLock {
  private constructor(private readonly path: string) {}

  static acquire(root: string): RootLock {
    const path = join(root, 'berthd.lock');
    const tmp = `${path}.${process.pid}`;
    writeFileSync(tmp, `${process.pid}\n`, { mode: 0o600 });
    try {
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          linkSync(tmp, path);
          return new RootLock(path);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const holder = Number.parseInt(readFileSync(path, 'utf8'), 10);
          if (Number.isFinite(holder) && holder !== process.pid && alive(holder)) {
            throw new FailedPreconditionError(
              `another berthd (pid ${holder}) is already running on root ${root}; stop it first or use another --root`,
            );
          }
          unlinkSync(path); // stale: its owner is gone
        }
      }
      throw new FailedPreconditionError(`cannot take the lock ${path}`);
    } finally {
      unlinkSync(tmp);
    }
  }

  release(): void {
    try {
      unlinkSync(this.path);
    } catch {
      // already gone
    }
  }
}
