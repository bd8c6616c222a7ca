// Disk-write failures as containerd reports them. Go's os.PathError reads
// "<op> <path>: <errno text>" (e.g. "write /var/lib/containerd/…/data: no space left on
// device") and containerd's services pass such errors through errdefs.ToGRPC unchanged, so
// clients get code Unknown with that text. Node's errors for fd-based calls (write, fsync)
// name no file at all; this is the one place that turns them into containerd's shape.

import { BerthError, UnknownError } from './errors';

/** Go's syscall.Errno texts for the errors a failing disk gives. Only these are rewritten:
 * other errno codes (ENOENT, EEXIST, …) drive logic elsewhere and pass through as they are. */
const DISK_ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EROFS: 'read-only file system',
  EIO: 'input/output error',
  EFBIG: 'file too large',
};

function errnoCode(err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined;
  const code = (err as { code?: unknown }).code;
  return typeof code === 'string' ? code : undefined;
}

/** True if err is a failing-disk errno (ENOSPC, EDQUOT, EROFS, EIO, EFBIG). */
export function isDiskError(err: unknown): boolean {
  const code = errnoCode(err);
  return code !== undefined && code in DISK_ERRNO_TEXT;
}

/**
 * The error to return for a failed file-system call `op` on `path`: a failing-disk errno
 * becomes Unknown "<op> <path>: <Go errno text>" (containerd's text and code); a berth
 * error or any other error is returned unchanged for the caller to throw.
 */
export function fsError(err: unknown, op: string, path: string): unknown {
  if (err instanceof BerthError) return err;
  const code = errnoCode(err);
  const text = code !== undefined ? DISK_ERRNO_TEXT[code] : undefined;
  if (text === undefined) return err;
  return new UnknownError(`${op} ${path}: ${text}`);
}

/**
 * fsError for an error from a path-based Node call (mkdir, mkdtemp, rename, open…), which
 * carries its own syscall and path: the op and file come from the error itself.
 */
export function nodeFsError(err: unknown, fallbackOp: string, fallbackPath: string): unknown {
  const e = err as { syscall?: unknown; path?: unknown; dest?: unknown };
  const op = typeof e.syscall === 'string' ? e.syscall : fallbackOp;
  let path = typeof e.path === 'string' ? e.path : fallbackPath;
  if (typeof e.dest === 'string') path = `${path} ${e.dest}`;
  return fsError(err, op, path);
}

/** Await p; a failing-disk error it rejects with is rewritten by fsError(op, path). */
export async function onPath<T>(op: string, path: string, p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (err) {
    throw fsError(err, op, path);
  }
}

/** LevelDB's texts (leveldb::Status::IOError, from strerror) for the same errors. */
const LEVEL_TEXT: ReadonlyArray<[RegExp, string]> = [
  [/No space left on device/i, 'no space left on device'],
  [/Disk quota exceeded/i, 'disk quota exceeded'],
  [/Read-only file system/i, 'read-only file system'],
  [/Input\/output error/i, 'input/output error'],
];

/** All messages on err and its cause chain, joined: classic-level wraps LevelDB's own
 * status (which names the file) in a cause. */
export function errorChainText(err: unknown): string {
  const parts: string[] = [];
  let e: unknown = err;
  for (let depth = 0; e instanceof Error && depth < 5; depth++) {
    parts.push(e.message);
    e = (e as { cause?: unknown }).cause;
  }
  return parts.join(': ');
}

/**
 * A LevelDB failure under dir as containerd would report its bolt write: a failing disk
 * becomes Unknown "write <file>: <text>", the file being the one LevelDB names (its
 * status reads "IO error: <file>: No space left on device"), else dir. Anything else is
 * returned unchanged.
 */
export function levelError(err: unknown, dir: string): unknown {
  if (err instanceof BerthError) return err;
  const chain = errorChainText(err);
  for (const [re, text] of LEVEL_TEXT) {
    const m = re.exec(chain);
    if (!m) continue;
    const before = chain.slice(0, m.index);
    const file = /(\/[^\s:]+):\s*$/.exec(before)?.[1] ?? dir;
    return new UnknownError(`write ${file}: ${text}`);
  }
  return err;
}
