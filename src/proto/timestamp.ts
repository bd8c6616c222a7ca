import type { WallTime } from '../time/wall';

/** google.protobuf.Timestamp as decoded by the registry. */
export interface WireTimestamp {
  seconds: number;
  nanos: number;
}

/** Go peers send the zero time.Time as this many seconds; it means "unset" (reference §1.3). */
export const GO_ZERO_SECONDS = -62135596800;

/** The one conversion to the wire: WallTime already has the Timestamp's shape, so this
 * copies (the registry may keep the object) and maps "unset" to Go's zero time. */
export function toWireTimestamp(t: WallTime | undefined): WireTimestamp {
  if (!t) return { seconds: GO_ZERO_SECONDS, nanos: 0 };
  return { seconds: t.seconds, nanos: t.nanos };
}

/** A received Timestamp, or undefined for a missing one or Go's zero time. */
export function fromWireTimestamp(t: WireTimestamp | null | undefined): WallTime | undefined {
  if (!t || t.seconds <= GO_ZERO_SECONDS) return undefined;
  return { seconds: t.seconds, nanos: t.nanos };
}
