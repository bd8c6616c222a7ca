// Wall-clock instants with nanoseconds: the one type berth uses for every time it stores
// or sends (created/updated/started/exited/event timestamps).
//
// Why not Date: it holds milliseconds, so "now" comes out up to 1 ms before the real
// wall clock, i.e. earlier than a Go client's time.Now() read just before its call;
// containerd's content and snapshot suites reject that ("unexpected updated at time").
// WallTime has google.protobuf.Timestamp's shape, so the wire conversion is a copy.

import { clockRealtimeInto } from '../native/clock';

/** An instant: whole seconds since the Unix epoch plus nanoseconds (0..999999999). */
export interface WallTime {
  readonly seconds: number;
  readonly nanos: number;
}

const NS_PER_MS = 1_000_000;
const NS_PER_S = 1_000_000_000;

/** Where clock readings land (see clockRealtimeInto); module state is per thread. */
const reading = new Float64Array(2);

type Clock = () => WallTime;

function realtimeClock(): WallTime {
  clockRealtimeInto(reading);
  return { seconds: reading[0] as number, nanos: reading[1] as number };
}

/** Without the addon (pure unit tests on a machine that has not built it) only Date is
 * left: milliseconds, so not fit for the guarantees above. berthd and the shim need the
 * addon anyway (mounts, pidfds), so they always read the real clock. */
function dateClock(): WallTime {
  return wallFromMs(Date.now());
}

let clock: Clock = (): WallTime => {
  // First call decides, once: probe the addon, then stick with what works.
  try {
    clockRealtimeInto(reading);
    clock = realtimeClock;
  } catch {
    clock = dateClock;
  }
  return clock();
};

/** The wall clock now (CLOCK_REALTIME, what Go's time.Now() reads), with nanoseconds. */
export function wallNow(): WallTime {
  return clock();
}

export function wallFromMs(ms: number): WallTime {
  const seconds = Math.floor(ms / 1000);
  // Fractional milliseconds (fs.Stats.mtimeMs) keep what they have, to the nanosecond.
  const nanos = Math.min(NS_PER_S - 1, Math.round((ms - seconds * 1000) * NS_PER_MS));
  return { seconds, nanos };
}

/** From nanoseconds since the epoch (fs.BigIntStats.mtimeNs and the like). */
export function wallFromNs(ns: bigint): WallTime {
  const s = ns / 1_000_000_000n;
  let nanos = Number(ns - s * 1_000_000_000n);
  let seconds = Number(s);
  if (nanos < 0) {
    nanos += NS_PER_S;
    seconds -= 1;
  }
  return { seconds, nanos };
}

/** Milliseconds since the epoch, rounded down (for Date and timer arithmetic). */
export function wallToMs(t: WallTime): number {
  return t.seconds * 1000 + Math.floor(t.nanos / NS_PER_MS);
}

/** Negative, zero or positive as a is before, equal to or after b. */
export function compareWall(a: WallTime, b: WallTime): number {
  return a.seconds !== b.seconds ? a.seconds - b.seconds : a.nanos - b.nanos;
}

/** The later of two instants. */
export function laterWall(a: WallTime, b: WallTime): WallTime {
  return compareWall(a, b) >= 0 ? a : b;
}

/** t plus a whole number of milliseconds (TTLs). */
export function addWallMs(t: WallTime, ms: number): WallTime {
  const total = t.nanos + (ms % 1000) * NS_PER_MS;
  const carry = Math.floor(total / NS_PER_S);
  return { seconds: t.seconds + Math.trunc(ms / 1000) + carry, nanos: total - carry * NS_PER_S };
}

/**
 * RFC 3339 in UTC with exactly nine fraction digits ("2024-01-02T15:04:05.123456789Z"):
 * how berth stores times (metadata records, ingest files). Fixed width, so stored
 * strings compare as the instants do; Go's time.Parse(time.RFC3339, …) reads it.
 */
export function formatWall(t: WallTime): string {
  // toISOString gives "YYYY-MM-DDTHH:MM:SS.mmmZ"; keep the seconds part, add the nanos.
  const base = new Date(t.seconds * 1000).toISOString();
  return `${base.slice(0, base.length - 5)}.${String(t.nanos).padStart(9, '0')}Z`;
}

const RFC3339 = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/;

/**
 * Parse RFC 3339 with 0-9 fraction digits and a Z or ±hh:mm zone (what formatWall,
 * Date.toISOString and Go's MarshalText write). Undefined if s is not such a time.
 */
export function parseWall(s: string): WallTime | undefined {
  const m = RFC3339.exec(s);
  if (!m) return undefined;
  const ms = Date.parse(`${m[1] as string}${m[3] as string}`);
  if (Number.isNaN(ms)) return undefined;
  const frac = m[2] ?? '';
  return { seconds: ms / 1000, nanos: frac === '' ? 0 : Number(frac.padEnd(9, '0')) };
}
