// Error classes mirroring containerd's errdefs. Every layer throws these; the
// gRPC adapter (src/errdefs/grpc.ts) is the one place that maps them to status
// codes, so Go clients' errdefs.IsNotFound etc. see what they expect.

export type ErrorClass =
  | 'invalid argument'
  | 'not found'
  | 'already exists'
  | 'failed precondition'
  | 'unavailable'
  | 'not implemented'
  | 'out of range'
  | 'data loss'
  | 'resource exhausted'
  | 'canceled'
  | 'deadline exceeded'
  | 'unknown';

/** Base of every error berth returns to a client. The message follows containerd's
 * convention "<context>: <class text>" so logs and clients read the same words. */
export abstract class BerthError extends Error {
  abstract readonly errorClass: ErrorClass;
  /** The context part alone, without the class suffix. */
  readonly context: string;
  constructor(context: string, classText: ErrorClass) {
    // These errors are answers to clients (NotFound drives unpack, Get probes…), not bugs:
    // skip the stack trace V8 would capture for each of them.
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    super(context ? `${context}: ${classText}` : classText);
    Error.stackTraceLimit = limit;
    this.context = context;
  }
}

export class InvalidArgumentError extends BerthError {
  readonly errorClass = 'invalid argument' as const;
  constructor(context: string) { super(context, 'invalid argument'); }
}
export class NotFoundError extends BerthError {
  readonly errorClass = 'not found' as const;
  constructor(context: string) { super(context, 'not found'); }
}
export class AlreadyExistsError extends BerthError {
  readonly errorClass = 'already exists' as const;
  constructor(context: string) { super(context, 'already exists'); }
}
export class FailedPreconditionError extends BerthError {
  readonly errorClass = 'failed precondition' as const;
  constructor(context: string) { super(context, 'failed precondition'); }
}
export class UnavailableError extends BerthError {
  readonly errorClass = 'unavailable' as const;
  constructor(context: string) { super(context, 'unavailable'); }
}
export class NotImplementedError extends BerthError {
  readonly errorClass = 'not implemented' as const;
  constructor(context: string) { super(context, 'not implemented'); }
}
export class OutOfRangeError extends BerthError {
  readonly errorClass = 'out of range' as const;
  constructor(context: string) { super(context, 'out of range'); }
}
export class DataLossError extends BerthError {
  readonly errorClass = 'data loss' as const;
  constructor(context: string) { super(context, 'data loss'); }
}
/** A bound berthd keeps was reached (pending tokens, a subscriber's backlog…): the client
 * may try again once it has used or released what it holds. containerd/errdefs'
 * ErrResourceExhausted, code ResourceExhausted. */
export class ResourceExhaustedError extends BerthError {
  readonly errorClass = 'resource exhausted' as const;
  constructor(context: string) { super(context, 'resource exhausted'); }
}
/** An error whose message is passed through verbatim with code Unknown (containerd
 * does this for e.g. subscription filter errors). */
export class UnknownError extends BerthError {
  readonly errorClass = 'unknown' as const;
  constructor(message: string) {
    super(message, 'unknown');
    this.message = message;
  }
}

/** Send the context alone, without the class suffix: containerd builds some statuses
 * directly (status.Errorf) and clients see exactly that text. */
export function verbatim<E extends BerthError>(err: E): E {
  err.message = err.context;
  return err;
}

const CONSTRUCTORS: Record<ErrorClass, new (context: string) => BerthError> = {
  'invalid argument': InvalidArgumentError,
  'not found': NotFoundError,
  'already exists': AlreadyExistsError,
  'failed precondition': FailedPreconditionError,
  unavailable: UnavailableError,
  'not implemented': NotImplementedError,
  'out of range': OutOfRangeError,
  'data loss': DataLossError,
  'resource exhausted': ResourceExhaustedError,
  canceled: UnknownError,
  'deadline exceeded': UnknownError,
  unknown: UnknownError,
};

/** A berth error of the given class (canceled / deadline exceeded have no class of their
 * own here and come out as UnknownError). */
export function errorOfClass(cls: ErrorClass, context: string): BerthError {
  return new CONSTRUCTORS[cls](context);
}

/** Go's fmt.Errorf("<prefix>: %w", err) for berth errors: same class, prefixed context. */
export function wrapContext(prefix: string, err: BerthError): BerthError {
  return err instanceof UnknownError ? new UnknownError(`${prefix}: ${err.message}`) : errorOfClass(err.errorClass, `${prefix}: ${err.context}`);
}

/** Run fn; a berth error it throws comes back wrapped with prefix (wrapContext). */
export function withContext<T>(prefix: string, fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof BerthError) throw wrapContext(prefix, err);
    throw err;
  }
}

/** A call ran out of its time (Go's context.DeadlineExceeded, which containerd's errdefs
 * sends as DeadlineExceeded): e.g. an ExecSync whose timeout passed. */
export class DeadlineExceededError extends BerthError {
  readonly errorClass = 'deadline exceeded' as const;
  constructor(context: string) { super(context, 'deadline exceeded'); }
}
