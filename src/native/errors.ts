// Errors thrown by the addon: like Node's own system errors, `.code` is the errno
// name ('EPERM'), `.errno` the (positive) errno number, `.syscall` the call, and
// `.path`/`.dest` the call's path arguments. Message shape:
//   mount(/src, /dst): EPERM: Operation not permitted

export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  path?: string;
  dest?: string;
}

/** True if `err` is an addon (or Node system) error, optionally with this errno code. */
export function isNativeError(err: unknown, code?: string): err is NativeError {
  if (!(err instanceof Error)) return false;
  const c = (err as Partial<NativeError>).code;
  if (typeof c !== 'string') return false;
  return code === undefined || c === code;
}
