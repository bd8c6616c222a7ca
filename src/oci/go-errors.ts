// Errors of file-system calls worded as Go's os.PathError words them, "<op> <path>: <errno
// text>": containerd's spec options return those texts (through CRI, to kubelet and
// crictl), and the conformance test compares them with containerd's.
import { UnknownError } from '../errdefs/errors';

/** Go's syscall.Errno texts for the errors reading a rootfs or /dev can give. */
const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  ENOTDIR: 'not a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ELOOP: 'too many levels of symbolic links',
  EISDIR: 'is a directory',
  EIO: 'input/output error',
  ENAMETOOLONG: 'file name too long',
};

/** A failed file-system call on a path; `notExist` is Go's os.IsNotExist of it. */
export class PathError extends UnknownError {
  readonly notExist: boolean;
  /** The errno name (ENOENT…), when the call failed with one. */
  readonly errno: string | undefined;
  constructor(op: string, path: string, err: unknown) {
    const code = (err as NodeJS.ErrnoException).code;
    super(`${op} ${path}: ${(code !== undefined ? ERRNO_TEXT[code] : undefined) ?? (err as Error).message}`);
    this.errno = code;
    this.notExist = code === 'ENOENT';
  }
}
