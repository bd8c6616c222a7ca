/** google.protobuf.Timestamp as decoded by the registry. */
export interface WireTimestamp {
  seconds: number;
  nanos: number;
}

/** Go peers send the zero time.Time as this many seconds; it means "unset" (reference §1.3). */
export const GO_ZERO_SECONDS = -62135596800;

export function toWireTimestamp(d: Date | undefined): WireTimestamp {
  if (!d) return { seconds: GO_ZERO_SECONDS, nanos: 0 };
  const ms = d.getTime();
  const seconds = Math.floor(ms / 1000);
  return { seconds, nanos: (ms - seconds * 1000) * 1_000_000 };
}

export function fromWireTimestamp(t: WireTimestamp | null | undefined): Date | undefined {
  if (!t || t.seconds <= GO_ZERO_SECONDS) return undefined;
  return new Date(t.seconds * 1000 + Math.floor(t.nanos / 1_000_000));
}
