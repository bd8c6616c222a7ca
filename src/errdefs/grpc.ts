import { status as Status, type ServiceError, Metadata } from '@grpc/grpc-js';
import { BerthError, type ErrorClass } from './errors';

const CODES: Record<ErrorClass, Status> = {
  'invalid argument': Status.INVALID_ARGUMENT,
  'not found': Status.NOT_FOUND,
  'already exists': Status.ALREADY_EXISTS,
  'failed precondition': Status.FAILED_PRECONDITION,
  unavailable: Status.UNAVAILABLE,
  'not implemented': Status.UNIMPLEMENTED,
  'out of range': Status.OUT_OF_RANGE,
  'data loss': Status.DATA_LOSS,
  canceled: Status.CANCELLED,
  'deadline exceeded': Status.DEADLINE_EXCEEDED,
  unknown: Status.UNKNOWN,
};

/** The single place where berth errors become gRPC statuses. Anything that is not a
 * BerthError is a bug or an unexpected system failure: Unknown, with its message. */
export function toServiceError(err: unknown): Partial<ServiceError> & { code: Status; details: string } {
  if (err instanceof BerthError) {
    return { code: CODES[err.errorClass], details: err.message, metadata: new Metadata() };
  }
  const message = err instanceof Error ? err.message : String(err);
  return { code: Status.UNKNOWN, details: message, metadata: new Metadata() };
}

export function grpcCodeOf(err: unknown): Status {
  return toServiceError(err).code;
}
