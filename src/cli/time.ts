import { fromWireTimestamp, type WireTimestamp } from '../proto/timestamp';
import { formatWall } from '../time/wall';

/** A wire timestamp as berth prints times ('-' when unset). */
export function timeText(t: WireTimestamp | null | undefined): string {
  const w = fromWireTimestamp(t);
  return w ? formatWall(w) : '-';
}

/** A time the client library gives as a Date plus the second's nanoseconds, in RFC 3339 with
 * all nine digits ('-' when unset). */
export function dateNanosText(d: Date | undefined, nanos: number): string {
  return d ? `${d.toISOString().slice(0, 19)}.${String(nanos).padStart(9, '0')}Z` : '-';
}
