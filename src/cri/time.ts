// CRI times are int64 nanoseconds since the epoch; a JS number holds only 2^53, so they
// live as bigint here and go on the wire as decimal strings (the codec takes those for
// int64 fields and writes them exactly).
import { wallNow, type WallTime } from '../time/wall';

/** Nanoseconds since the epoch, now. */
export function nowNanos(): bigint {
  return wallToNanos(wallNow());
}

export function wallToNanos(t: WallTime): bigint {
  return BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos);
}

/** A wire Timestamp (seconds may be Go's zero time, then 0 = unset). */
export function timestampToNanos(t: { seconds: number; nanos: number } | null | undefined): bigint {
  if (!t || t.seconds <= 0) return 0n;
  return BigInt(t.seconds) * 1_000_000_000n + BigInt(t.nanos);
}

/** For an int64 wire field. */
export function nanosToWire(n: bigint): string {
  return n.toString();
}

/** RFC 3339 with nanoseconds, as Go's time.RFC3339Nano prints a UTC time (trailing zeros
 * of the fraction dropped, no fraction at all when it is zero). */
export function rfc3339Nano(t: WallTime): string {
  const iso = new Date(t.seconds * 1000).toISOString(); // 2006-01-02T15:04:05.000Z
  const base = iso.slice(0, 19);
  if (t.nanos === 0) return `${base}Z`;
  const frac = String(t.nanos).padStart(9, '0').replace(/0+$/, '');
  return `${base}.${frac}Z`;
}
