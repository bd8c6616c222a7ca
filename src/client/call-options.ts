/** What every call of the client library accepts. */
export interface CallOptions {
  /** Cancels the call: it rejects with the signal's reason and the stream is reset. */
  signal?: AbortSignal;
  /** A deadline for the call in milliseconds, sent as grpc-timeout and enforced here. */
  timeoutMs?: number;
}

/** The request headers containerd reads on every call. */
export interface CallScope {
  namespace?: string;
  lease?: string;
}
