import type { Labels } from './records';
import type { Stored } from './db';
import { formatWall, parseWall, type WallTime } from '../time/wall';

// Helpers to read and write JSON records (namespaces, leases, images, content, snapshots).
// Times are stored as RFC 3339 with nine fraction digits (schema 2; schema 1 stored
// Date.toISOString's milliseconds, rewritten on open: see migrations.ts).

export function labelsFrom(s: Stored, field = 'labels'): Labels {
  return { ...((s[field] as Labels | undefined) ?? {}) };
}

const EPOCH: WallTime = { seconds: 0, nanos: 0 };

/** The stored time in field; the epoch when it is missing or unreadable (as before). */
export function timeFrom(s: Stored, field: string): WallTime {
  const v = s[field];
  return (typeof v === 'string' ? parseWall(v) : undefined) ?? EPOCH;
}

/** How a time is stored. */
export function storeTime(t: WallTime): string {
  return formatWall(t);
}
