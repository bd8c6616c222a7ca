// Full-fidelity tree copy for the native snapshotter (containerd's continuity
// fs.CopyDir, plus what it loses): file types (regular, dir, symlink, char/block
// devices, fifos, sockets), owners, permission bits incl. setuid/setgid/sticky, xattrs
// (never following symlinks), hard links kept as hard links within the tree, and
// nanosecond atime/mtime on everything — directories' times are applied after their
// children are created, so they survive (containerd sets them first and loses them).
// Names are handled as raw bytes (Buffers), so non-UTF-8 names copy unchanged.

import { constants as fsc, promises as fsp, type BigIntStats } from 'fs';
import { isNativeError, lgetxattr, llistxattr, lsetxattr, lutimes, mknod } from '../native';
import { Limiter } from './usage';

export interface CopyOptions {
  /** Concurrent file operations (default 16). */
  parallel?: number;
  /** Called for an xattr that could not be copied and was skipped. */
  onXattrSkipped?: (path: Buffer, name: string, err: unknown) => void;
}

const SLASH = Buffer.from('/');

function child(dir: Buffer, name: Buffer): Buffer {
  return Buffer.concat([dir, SLASH, name]);
}

const NS = 1_000_000_000n;

function splitNs(ns: bigint): [bigint, number] {
  let sec = ns / NS;
  let nsec = ns % NS;
  if (nsec < 0n) {
    sec -= 1n;
    nsec += NS;
  }
  return [sec, Number(nsec)];
}

/** glibc's major()/minor() of a dev_t. */
export function devMajor(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn));
}
export function devMinor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & ~0xffn));
}

function xattrSkippable(name: string, err: unknown): boolean {
  // security.* usually cannot be copied (moby/buildkit#1189); filesystems or file types
  // that refuse a namespace (user.* on symlinks and devices) are not fatal either.
  return (
    name.startsWith('security.') ||
    isNativeError(err, 'ENOTSUP') ||
    isNativeError(err, 'EOPNOTSUPP') ||
    isNativeError(err, 'EPERM')
  );
}

class TreeCopier {
  private readonly limit: Limiter;
  /** dev:ino of multiply-linked sources → the copy's path, once it is complete. */
  private readonly links = new Map<string, Promise<Buffer>>();

  constructor(private readonly opts: CopyOptions) {
    this.limit = new Limiter(opts.parallel ?? 16);
  }

  private copyXattrs(src: Buffer, dst: Buffer): void {
    let names: string[];
    try {
      names = llistxattr(src);
    } catch (err) {
      if (isNativeError(err, 'ENOTSUP') || isNativeError(err, 'EOPNOTSUPP')) return;
      throw err;
    }
    for (const name of names) {
      try {
        const value = lgetxattr(src, name);
        if (value !== null) lsetxattr(dst, name, value, 0);
      } catch (err) {
        if (!xattrSkippable(name, err)) throw err;
        this.opts.onXattrSkipped?.(dst, name, err);
      }
    }
  }

  /** Owner, mode, xattrs, times: in that order (chown clears setuid bits and
   * security.capability; times last). */
  private async applyMeta(dst: Buffer, st: BigIntStats, src: Buffer): Promise<void> {
    await fsp.lchown(dst, Number(st.uid), Number(st.gid));
    if (!st.isSymbolicLink()) await fsp.chmod(dst, Number(st.mode & 0o7777n));
    this.copyXattrs(src, dst);
    const [as, an] = splitNs(st.atimeNs);
    const [ms, mn] = splitNs(st.mtimeNs);
    lutimes(dst, as, an, ms, mn);
  }

  async copyDir(src: Buffer, dst: Buffer, st: BigIntStats, create: boolean): Promise<void> {
    if (create) await this.limit.run(() => fsp.mkdir(dst, { mode: 0o700 }));
    const names = await this.limit.run(() => fsp.readdir(src, { encoding: 'buffer' }));
    await Promise.all(names.map((name) => this.copyEntry(child(src, name), child(dst, name))));
    await this.limit.run(() => this.applyMeta(dst, st, src));
  }

  private async copyEntry(src: Buffer, dst: Buffer): Promise<void> {
    const st = await this.limit.run(() => fsp.lstat(src, { bigint: true }));
    if (st.isDirectory()) return this.copyDir(src, dst, st, true);

    if (st.nlink > 1n) {
      const id = `${st.dev}:${st.ino}`;
      const first = this.links.get(id);
      if (first) {
        const target = await first;
        await this.limit.run(() => fsp.link(target, dst));
        return;
      }
      const done = this.limit.run(() => this.copyLeaf(src, dst, st)).then(() => dst);
      this.links.set(id, done);
      await done;
      return;
    }
    await this.limit.run(() => this.copyLeaf(src, dst, st));
  }

  private async copyLeaf(src: Buffer, dst: Buffer, st: BigIntStats): Promise<void> {
    if (st.isFile()) {
      // reflink where the file system can, else an in-kernel copy
      await fsp.copyFile(src, dst, fsc.COPYFILE_FICLONE);
    } else if (st.isSymbolicLink()) {
      const target = await fsp.readlink(src, { encoding: 'buffer' });
      await fsp.symlink(target, dst);
    } else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO() || st.isSocket()) {
      const dev = st.isCharacterDevice() || st.isBlockDevice() ? st.rdev : 0n;
      mknod(dst, Number(st.mode & 0o177777n), devMajor(dev), devMinor(dev));
    } else {
      return; // unknown type: skipped, as containerd does
    }
    await this.applyMeta(dst, st, src);
  }
}

/**
 * Copy the tree at `src` into `dst`. `dst` may exist (an empty directory: it takes
 * `src`'s root metadata) or not (it is created).
 */
export async function copyTree(src: string | Buffer, dst: string | Buffer, opts: CopyOptions = {}): Promise<void> {
  const s = Buffer.isBuffer(src) ? src : Buffer.from(src);
  const d = Buffer.isBuffer(dst) ? dst : Buffer.from(dst);
  const st = await fsp.stat(s, { bigint: true });
  if (!st.isDirectory()) throw new Error(`source ${s.toString()} is not directory`);
  let exists = false;
  try {
    const dt = await fsp.stat(d);
    if (!dt.isDirectory()) throw new Error(`cannot copy to non-directory: ${d.toString()}`);
    exists = true;
  } catch (err) {
    if (!isNativeError(err, 'ENOENT')) throw err;
  }
  await new TreeCopier(opts).copyDir(s, d, st, !exists);
}
