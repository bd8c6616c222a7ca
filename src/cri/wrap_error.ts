// Go's fmt.Errorf("<what>: %w", err) for the CRI layer: the class (and so the gRPC code)
// of a berth error is kept, anything else becomes Unknown with its message.
import { BerthError, UnknownError, wrapContext } from '../errdefs/errors';

export function wrapErr(what: string, err: unknown): Error {
  if (err instanceof BerthError) return wrapContext(what, err);
  const msg = err instanceof Error ? err.message : String(err);
  return new UnknownError(`${what}: ${msg}`);
}
