import { fromWireTimestamp, type WireTimestamp } from '../proto/timestamp';
import { formatWall } from '../time/wall';

/** A wire timestamp as berth prints times ('-' when unset). */
export function timeText(t: WireTimestamp | null | undefined): string {
  const w = fromWireTimestamp(t);
  return w ? formatWall(w) : '-';
}
