// The reverse of codes.ts: a status (code and message) a peer sent, as a berth error.
// This is containerd's errdefs.FromGRPC, shared by the ttrpc client (shim answers) and
// the gRPC client library (daemon answers), so both read a status the same way.
import { Code } from './codes';
import { BerthError, UnknownError, errorOfClass, type ErrorClass } from './errors';

const CODE_CLASSES: Partial<Record<number, ErrorClass>> = {
  [Code.InvalidArgument]: 'invalid argument',
  [Code.NotFound]: 'not found',
  [Code.AlreadyExists]: 'already exists',
  [Code.FailedPrecondition]: 'failed precondition',
  [Code.Unavailable]: 'unavailable',
  [Code.Unimplemented]: 'not implemented',
  [Code.OutOfRange]: 'out of range',
  [Code.DataLoss]: 'data loss',
};

/** The error class a status code stands for, if it has one of its own. */
export function classOfCode(code: number): ErrorClass | undefined {
  return CODE_CLASSES[code];
}

/** errdefs' rebaseMessage: drop a trailing ": <class>" so it is not repeated. */
export function rebaseMessage(message: string, cls: string): string {
  if (message === cls) return '';
  return message.endsWith(`: ${cls}`) ? message.slice(0, -(cls.length + 2)) : message;
}

/**
 * A status whose code has no error class of its own (Canceled, DeadlineExceeded,
 * ResourceExhausted, Internal, PermissionDenied, …). Its message is the status message,
 * verbatim, and it keeps the code.
 */
export class StatusError extends BerthError {
  readonly errorClass: ErrorClass;
  constructor(readonly code: number, message: string) {
    // ResourceExhausted keeps its code on the way on (containerd 1.6's errdefs.FromGRPC
    // leaves that status as it came, message and all).
    const cls: ErrorClass =
      code === Code.Canceled ? 'canceled' : code === Code.DeadlineExceeded ? 'deadline exceeded' : code === Code.ResourceExhausted ? 'resource exhausted' : 'unknown';
    super(message, cls);
    this.errorClass = cls;
    this.message = message;
  }
}

/** A non-OK status as a berth error: the class's own error type where the code has one
 * (message rebased as errdefs.FromGRPC does), UnknownError for Unknown, else StatusError. */
export function errorFromStatusCode(code: number, message: string): BerthError {
  const cls = classOfCode(code);
  if (cls !== undefined) return errorOfClass(cls, rebaseMessage(message, cls));
  if (code === Code.Unknown) return new UnknownError(message);
  return new StatusError(code, message);
}
