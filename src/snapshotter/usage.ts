// Disk usage of a directory tree, as containerd's continuity fs.DiskUsage computes it:
// walk without following symlinks (the root included), count each inode once (by
// dev+ino, so hard links count once), and sum st_blocks * 512 — allocated bytes, not
// st_size (sparse files count what they occupy, directories their blocks).

import { promises as fsp } from 'fs';
import type { Usage } from './snapshotter';

/** A small semaphore: at most `n` tasks run at once. */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly n: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active >= this.n) await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.active++;
    try {
      return await fn();
    } finally {
      this.active--;
      const next = this.waiting.shift();
      if (next) next();
    }
  }
}

const BLOCK_UNIT = 512n;
const SLASH = Buffer.from('/');

/** Usage of the tree at `root` (containerd's fs.DiskUsage). */
export async function diskUsage(root: string, parallel = 16): Promise<Usage> {
  const seen = new Set<string>();
  let size = 0n;
  const limit = new Limiter(parallel);

  const account = (st: { dev: bigint; ino: bigint; blocks: bigint }): void => {
    const id = `${st.dev}:${st.ino}`;
    if (seen.has(id)) return;
    seen.add(id);
    size += st.blocks * BLOCK_UNIT;
  };

  // names as raw bytes: non-UTF-8 names must not be mangled
  const walkDir = async (dir: Buffer): Promise<void> => {
    const names = await limit.run(() => fsp.readdir(dir, { encoding: 'buffer' }));
    await Promise.all(
      names.map(async (name) => {
        const p = Buffer.concat([dir, SLASH, name]);
        const st = await limit.run(() => fsp.lstat(p, { bigint: true }));
        account(st);
        if (st.isDirectory()) await walkDir(p);
      }),
    );
  };

  const st = await fsp.lstat(root, { bigint: true });
  account(st);
  if (st.isDirectory()) await walkDir(Buffer.from(root));
  return { size: Number(size), inodes: seen.size };
}
