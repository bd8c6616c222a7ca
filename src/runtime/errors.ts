// Error handling between berthd and its shims, following containerd: a shim's ttrpc
// status becomes an errdefs class (errdefs.FromGRPC: codes without a class — Unknown,
// Internal, … — read "<message>: unknown"), and the runtime wraps it with its context
// ("failed to create shim task: …") without changing the class.
import {
  BerthError,
  UnknownError,
  wrapContext,
} from '../errdefs/errors';
import { Code, TtrpcClosedError, TtrpcStatusError } from '../ttrpc';

export class DeadlineExceededError extends TtrpcStatusError {
  constructor(message: string) {
    super(Code.DeadlineExceeded, message);
  }
}

/** The connection to the shim is gone (Go: ttrpc.ErrClosed). */
export function isClosed(err: unknown): boolean {
  return err instanceof TtrpcClosedError;
}

/** errdefs.FromGRPC for an error returned by a shim call. */
export function fromShim(err: unknown): Error {
  if (err instanceof TtrpcClosedError) return new UnknownError('ttrpc: closed: unknown');
  if (err instanceof TtrpcStatusError) {
    if (err.errorClass === 'unknown') return new UnknownError(`${err.message}: unknown`);
    return err;
  }
  if (err instanceof UnknownError) return new UnknownError(`${err.message}: unknown`);
  if (err instanceof Error) return err;
  return new Error(String(err));
}

/** fmt.Errorf("<prefix>: %w", err): same class, prefixed message. */
export function wrapError(prefix: string, err: unknown): Error {
  if (err instanceof TtrpcStatusError) {
    return err.errorClass === 'unknown' ? new UnknownError(`${prefix}: ${err.message}`) : new TtrpcStatusError(err.code, `${prefix}: ${err.message}`);
  }
  if (err instanceof BerthError) return wrapContext(prefix, err);
  const message = err instanceof Error ? err.message : String(err);
  return new UnknownError(`${prefix}: ${message}`);
}
