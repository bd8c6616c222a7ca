import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { BerthError } from './errors';
import { CLASS_CODES } from './codes';


/** The single place where berth errors become gRPC statuses. Anything that is not a
 * BerthError is a bug or an unexpected system failure: Unknown, with its message. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: Status; details: string } {
  if (err instanceof BerthError) {
    return { code: CLASS_CODES[err.errorClass] as number as Status, details: err.message, metadata: new Metadata() };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: Status.UNKNOWN, details: message, metadata: new Metadata() };
}

export function grpcCodeOf(err: unknown): Status {
  return toServiceError(err).code;
}
