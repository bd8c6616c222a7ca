import { describe, expect, it } from 'vitest';
import { clockRealtimeInto } from '../../src/native/clock';
import { fromWireTimestamp, GO_ZERO_SECONDS, toWireTimestamp } from '../../src/proto/timestamp';
import {
  addWallMs,
  compareWall,
  formatWall,
  laterWall,
  parseWall,
  wallFromMs,
  wallFromNs,
  wallNow,
  wallToMs,
} from '../../src/time/wall';

describe('wall time with nanoseconds', () => {
  it('reads CLOCK_REALTIME: agrees with Date, is never behind it, and has sub-millisecond digits', () => {
    const buf = new Float64Array(2);
    clockRealtimeInto(buf);
    expect(Number.isInteger(buf[0])).toBe(true);
    expect(buf[1]).toBeGreaterThanOrEqual(0);
    expect(buf[1]).toBeLessThan(1e9);
    let subMs = 0;
    for (let i = 0; i < 200; i++) {
      const before = Date.now();
      const t = wallNow();
      const after = Date.now();
      // Date.now() is the same clock floored to milliseconds.
      expect(wallToMs(t)).toBeGreaterThanOrEqual(before);
      expect(wallToMs(t)).toBeLessThanOrEqual(after);
      if (t.nanos % 1_000_000 !== 0) subMs++;
    }
    // A millisecond clock would give 0 here; a nanosecond one almost never a round value.
    expect(subMs).toBeGreaterThan(150);
  });

  it('successive readings never go back (no clock step during the test)', () => {
    let prev = wallNow();
    for (let i = 0; i < 10_000; i++) {
      const t = wallNow();
      expect(compareWall(t, prev)).toBeGreaterThanOrEqual(0);
      prev = t;
    }
  });

  it('formats RFC 3339 with nine fraction digits and parses it back exactly', () => {
    const t = { seconds: 1704164645, nanos: 5_006_007 };
    expect(formatWall(t)).toBe('2024-01-02T03:04:05.005006007Z');
    expect(parseWall(formatWall(t))).toEqual(t);
    expect(formatWall({ seconds: 0, nanos: 0 })).toBe('1970-01-01T00:00:00.000000000Z');
    expect(formatWall({ seconds: -1, nanos: 999_999_999 })).toBe('1969-12-31T23:59:59.999999999Z');
    for (let i = 0; i < 100; i++) {
      const now = wallNow();
      expect(parseWall(formatWall(now))).toEqual(now);
    }
  });

  it('parses what Date, Go and older berth wrote', () => {
    expect(parseWall('2024-01-02T03:04:05.123Z')).toEqual({ seconds: 1704164645, nanos: 123_000_000 });
    expect(parseWall('2024-01-02T03:04:05Z')).toEqual({ seconds: 1704164645, nanos: 0 });
    expect(parseWall('2024-01-02T04:04:05.000000001+01:00')).toEqual({ seconds: 1704164645, nanos: 1 });
    expect(parseWall('2024-01-02T03:04:05.5-00:30')).toEqual({ seconds: 1704164645 + 1800, nanos: 500_000_000 });
    for (const bad of ['', 'now', '2024-01-02', '2024-01-02T03:04:05', '2024-01-02T03:04:05.1234567890Z', '2024-13-02T03:04:05Z']) {
      expect(parseWall(bad), bad).toBeUndefined();
    }
  });

  it('converts from milliseconds and nanoseconds, and adds milliseconds with carries', () => {
    expect(wallFromMs(1500)).toEqual({ seconds: 1, nanos: 500_000_000 });
    expect(wallFromMs(-1500)).toEqual({ seconds: -2, nanos: 500_000_000 });
    expect(wallFromMs(1.000001)).toEqual({ seconds: 0, nanos: 1_000_001 });
    expect(wallFromNs(1_704_164_645_123_456_789n)).toEqual({ seconds: 1704164645, nanos: 123_456_789 });
    expect(wallFromNs(-1n)).toEqual({ seconds: -1, nanos: 999_999_999 });
    const t = { seconds: 10, nanos: 900_000_000 };
    expect(addWallMs(t, 200)).toEqual({ seconds: 11, nanos: 100_000_000 });
    expect(addWallMs(t, 24 * 3600 * 1000)).toEqual({ seconds: 10 + 86400, nanos: 900_000_000 });
    expect(addWallMs({ seconds: 10, nanos: 0 }, -1500)).toEqual({ seconds: 8, nanos: 500_000_000 });
  });

  it('orders instants to the nanosecond', () => {
    const a = { seconds: 5, nanos: 1 };
    const b = { seconds: 5, nanos: 2 };
    expect(compareWall(a, b)).toBeLessThan(0);
    expect(compareWall(b, a)).toBeGreaterThan(0);
    expect(compareWall(a, { ...a })).toBe(0);
    expect(compareWall({ seconds: 4, nanos: 999_999_999 }, a)).toBeLessThan(0);
    expect(laterWall(a, b)).toBe(b);
  });

  it('maps to and from the wire Timestamp, with Go zero time as unset', () => {
    const t = { seconds: 1704164645, nanos: 123_456_789 };
    expect(toWireTimestamp(t)).toEqual(t);
    expect(toWireTimestamp(undefined)).toEqual({ seconds: GO_ZERO_SECONDS, nanos: 0 });
    expect(fromWireTimestamp({ seconds: GO_ZERO_SECONDS, nanos: 0 })).toBeUndefined();
    expect(fromWireTimestamp(null)).toBeUndefined();
    expect(fromWireTimestamp(t)).toEqual(t);
  });
});
