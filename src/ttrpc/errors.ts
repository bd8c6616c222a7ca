// Status codes on the ttrpc wire (google.rpc.Status in Response.status) and the one
// place where they map to and from berth's error classes.
//
// Server side: the class → code table of src/errdefs/codes.ts, shared with gRPC.
// Client side: containerd's errdefs.FromGRPC, so a Go-shim error reads the same through
// berth as through containerd ("process already finished: not found").
import { BerthError, UnavailableError } from '../errdefs/errors';
import { StatusError, errorFromStatusCode } from '../errdefs/status';

export { Code, CLASS_CODES } from '../errdefs/codes';
import { Code, CLASS_CODES } from '../errdefs/codes';

/**
 * A status that has no error class of its own in errdefs (Canceled, DeadlineExceeded,
 * ResourceExhausted, Internal, PermissionDenied, ...), or one a handler wants to send
 * with an exact code. Its message is the status message, verbatim.
 */
export class TtrpcStatusError extends StatusError {}

/** The connection to the peer is gone (Go: ttrpc.ErrClosed, "ttrpc: closed"). */
export class TtrpcClosedError extends UnavailableError {
  constructor(detail?: string) {
    super(detail ? `ttrpc: closed: ${detail}` : 'ttrpc: closed');
    this.message = this.context;
  }
}

/** The code and message to put in Response.status for an error thrown by a handler. */
export function statusFromError(err: unknown): { code: number; message: string } {
  if (err instanceof StatusError) return { code: err.code, message: err.message };
  if (err instanceof BerthError) return { code: CLASS_CODES[err.errorClass], message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: Code.Unknown, message };
}

const statusKey = Symbol('ttrpc.status');

/** The status (code and the server's exact message) an error was made from, if any. */
export function statusOf(err: unknown): { code: number; message: string } | undefined {
  if (err === null || typeof err !== 'object') return undefined;
  return (err as { [statusKey]?: { code: number; message: string } })[statusKey];
}

/** A non-OK Response.status as a berth error (errdefs.FromGRPC). */
export function errorFromStatus(code: number, message: string): BerthError {
  const known = errorFromStatusCode(code, message);
  const err = known instanceof StatusError ? new TtrpcStatusError(code, message) : known;
  Object.defineProperty(err, statusKey, { value: { code, message }, enumerable: false });
  return err;
}
