// File-system calls Node lacks or gets wrong for layer apply: mknod (whiteouts are
// 0:0 character devices), xattrs that never follow symlinks (trusted.overlay.opaque,
// security.capability, user.*), and utimensat with nanoseconds on symlinks.

import { native, type PathArg } from './binding';
import { AT_SYMLINK_NOFOLLOW } from './constants';

/** mknod(2). `mode` carries the file type (S_IFCHR, S_IFBLK, S_IFIFO, …) and permissions;
 * the umask applies as usual. */
export function mknod(path: PathArg, mode: number, major = 0, minor = 0): void {
  native().mknod(path, mode, major, minor);
}

/** lsetxattr(2). `flags`: 0, XATTR_CREATE or XATTR_REPLACE. */
export function lsetxattr(path: PathArg, name: string, value: Buffer | string, flags = 0): void {
  native().lsetxattr(path, name, value, flags);
}

/** lgetxattr(2): the value, or null if the attribute is not set (ENODATA). */
export function lgetxattr(path: PathArg, name: string): Buffer | null {
  return native().lgetxattr(path, name);
}

/** llistxattr(2): attribute names (only those this process may see). */
export function llistxattr(path: PathArg): string[] {
  return native().llistxattr(path);
}

/** lremovexattr(2). Throws ENODATA if the attribute is not set. */
export function lremovexattr(path: PathArg, name: string): void {
  native().lremovexattr(path, name);
}

/** utimensat(AT_FDCWD, path, [atime, mtime], flags). Nanoseconds may be UTIME_NOW or
 * UTIME_OMIT. Seconds may be bigint for values beyond 2^53. */
export function utimensat(
  path: PathArg,
  atimeSec: number | bigint,
  atimeNsec: number,
  mtimeSec: number | bigint,
  mtimeNsec: number,
  flags = 0,
): void {
  native().utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, flags);
}

/** Set atime/mtime with nanosecond precision without following a final symlink
 * (fs.lutimes rounds to microseconds at best). */
export function lutimes(
  path: PathArg,
  atimeSec: number | bigint,
  atimeNsec: number,
  mtimeSec: number | bigint,
  mtimeNsec: number,
): void {
  native().utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, AT_SYMLINK_NOFOLLOW);
}

/**
 * rm -rf of path on a libuv thread-pool thread: one round trip for the whole tree (fs.rm
 * costs one per entry, with JavaScript on the event loop for each). Never follows
 * symlinks and never crosses a mount point: a mount inside the tree fails it with EBUSY
 * and stays untouched. A missing path is success. After an error the rest of the tree
 * is still removed where possible, and the first error is the one reported.
 */
export function removeTree(path: PathArg): Promise<void> {
  return new Promise((resolve, reject) => {
    native().removeTree(path, (err) => (err ? reject(err) : resolve()));
  });
}
