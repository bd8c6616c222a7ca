// Synchronous file-system calls on byte-string paths (see gopath.ts). Layer apply and
// diff run them on a worker thread (apply.ts), where a blocking syscall costs ~1 µs and
// blocks nothing else; none of them follows a symlink in the final path component.

import * as fs from 'node:fs';
import { lgetxattr, llistxattr, lsetxattr, lutimes, mknod as nativeMknod } from '../native';
import { isNativeError } from '../native';
import { pathBuffer, type BytePath } from './gopath';

const B = pathBuffer;

export const O_CREATE_EXCL =
  fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW; // libuv adds O_CLOEXEC

/** lstat, or undefined if the path does not exist (no exception on the hot path). */
export function lstat(p: BytePath): fs.Stats | undefined {
  return fs.lstatSync(B(p), { throwIfNoEntry: false });
}

/** lstat with bigint fields (nanosecond times). */
export function lstatNs(p: BytePath): fs.BigIntStats | undefined {
  return fs.lstatSync(B(p), { bigint: true, throwIfNoEntry: false });
}

export function readlink(p: BytePath): BytePath {
  return fs.readlinkSync(B(p), { encoding: 'buffer' }).toString('latin1');
}

/** Directory entries as byte strings, sorted bytewise (Go's filepath.Walk order). */
export function readdirSorted(p: BytePath): BytePath[] {
  const names = fs.readdirSync(B(p), { encoding: 'buffer' }).map((b) => b.toString('latin1'));
  return names.sort(byteCompare);
}

export function byteCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Creates a new file; fails with EEXIST if anything (even a dangling symlink) is there. */
export function createExclusive(p: BytePath, mode: number): number {
  return fs.openSync(B(p), O_CREATE_EXCL, mode);
}

export function mkdir(p: BytePath, mode: number): void {
  fs.mkdirSync(B(p), mode);
}

export function symlink(target: BytePath, p: BytePath): void {
  fs.symlinkSync(B(target), B(p));
}

/** link(2): on Linux a symlink `existing` is linked itself, never followed. */
export function link(existing: BytePath, p: BytePath): void {
  fs.linkSync(B(existing), B(p));
}

export function lchown(p: BytePath, uid: number, gid: number): void {
  fs.lchownSync(B(p), uid, gid);
}

/** chmod(2) — follows symlinks: callers make sure `p` is not one. */
export function chmod(p: BytePath, mode: number): void {
  fs.chmodSync(B(p), mode);
}

export function mknod(p: BytePath, mode: number, major: number, minor: number): void {
  nativeMknod(B(p), mode, major, minor);
}

export function setTimes(p: BytePath, atimeSec: number, atimeNsec: number, mtimeSec: number, mtimeNsec: number): void {
  lutimes(B(p), atimeSec, atimeNsec, mtimeSec, mtimeNsec);
}

export function setXattr(p: BytePath, name: string, value: Buffer, flags = 0): void {
  lsetxattr(B(p), name, value, flags);
}

export function getXattr(p: BytePath, name: string): Buffer | null {
  try {
    return lgetxattr(B(p), name);
  } catch (err) {
    if (isNotSupported(err)) return null;
    throw err;
  }
}

/** Attribute names, [] where the file system has none. */
export function listXattrs(p: BytePath): string[] {
  try {
    return llistxattr(B(p));
  } catch (err) {
    if (isNotSupported(err)) return [];
    throw err;
  }
}

export function isNotSupported(err: unknown): boolean {
  return isNativeError(err, 'ENOTSUP') || isNativeError(err, 'EOPNOTSUPP');
}

/** os.RemoveAll: removes `p` and everything below it, never following symlinks; a
 * missing path is fine. */
export function removeAll(p: BytePath): void {
  const st = lstat(p);
  if (!st) return;
  if (!st.isDirectory()) {
    fs.unlinkSync(B(p));
    return;
  }
  removeTree(p);
}

function removeTree(dir: BytePath): void {
  let names: Buffer[];
  try {
    names = fs.readdirSync(B(dir), { encoding: 'buffer' });
  } catch (err) {
    if (isNativeError(err, 'ENOENT')) return;
    throw err;
  }
  for (const n of names) {
    const child = dir + '/' + n.toString('latin1');
    const st = lstat(child);
    if (!st) continue;
    if (st.isDirectory()) removeTree(child);
    else fs.unlinkSync(B(child));
  }
  try {
    fs.rmdirSync(B(dir));
  } catch (err) {
    if (!isNativeError(err, 'ENOENT')) throw err;
  }
}
