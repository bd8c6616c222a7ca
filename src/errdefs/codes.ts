import type { ErrorClass } from './errors';

/** gRPC status codes (google.golang.org/grpc/codes), the same numbers on gRPC and ttrpc. */
export const Code = {
  OK: 0,
  Canceled: 1,
  Unknown: 2,
  InvalidArgument: 3,
  DeadlineExceeded: 4,
  NotFound: 5,
  AlreadyExists: 6,
  PermissionDenied: 7,
  ResourceExhausted: 8,
  FailedPrecondition: 9,
  Aborted: 10,
  OutOfRange: 11,
  Unimplemented: 12,
  Internal: 13,
  Unavailable: 14,
  DataLoss: 15,
  Unauthenticated: 16,
} as const;
export type Code = (typeof Code)[keyof typeof Code];

/** The one table from error class to status code, for gRPC (src/errdefs/grpc.ts) and
 * ttrpc (src/ttrpc/errors.ts) alike. Kept free of @grpc/grpc-js so the shim can load it. */
export const CLASS_CODES: Readonly<Record<ErrorClass, Code>> = {
  'invalid argument': Code.InvalidArgument,
  'not found': Code.NotFound,
  'already exists': Code.AlreadyExists,
  'failed precondition': Code.FailedPrecondition,
  unavailable: Code.Unavailable,
  'not implemented': Code.Unimplemented,
  'out of range': Code.OutOfRange,
  'data loss': Code.DataLoss,
  'resource exhausted': Code.ResourceExhausted,
  canceled: Code.Canceled,
  'deadline exceeded': Code.DeadlineExceeded,
  unknown: Code.Unknown,
};
