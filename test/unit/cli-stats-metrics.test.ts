// Logic of `berth tasks metrics`, `stats` and `logs` that these cgroup v1 hosts cannot show
// end to end: cgroup v2 metrics decoded from bytes built here field by field (tags written
// by hand, so the field numbers of proto/cgroups/v2 are checked too), docker's stats
// arithmetic, ctr's rows, docker's size format, and --tail's backwards scan.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Writer } from 'protobufjs/minimal';
import { afterAll, describe, expect, it } from 'vitest';
import { decodeTaskMetrics, type TaskMetrics } from '../../src/client/cgroup-metrics';
import { bytesSize, sampleOf, statsCells, statsRow } from '../../src/cli/container-stats';
import { metricRows, u64 } from '../../src/cli/metrics-table';
import { tailOffset } from '../../src/cli/commands/logs';

const MAX_U64 = '18446744073709551615';

/** A message field (wire type 2) holding `inner`'s bytes. */
function sub(w: Writer, field: number, inner: (w: Writer) => void): void {
  w.uint32((field << 3) | 2).fork();
  inner(w);
  w.ldelim();
}
const u = (w: Writer, field: number, v: number | string): Writer => w.uint32(field << 3).uint64(v);

/** io.containerd.cgroups.v2.Metrics as a v2 shim would send it. */
function v2Bytes(o: { usageUsec: number; memUsage: number; inactiveFile: number; limit: number | string; pids: number; pidsLimit: number }): Buffer {
  const w = Writer.create();
  sub(w, 1, (x) => (u(x, 1, o.pids), u(x, 2, o.pidsLimit)));
  sub(w, 2, (x) => (u(x, 1, o.usageUsec), u(x, 2, 700), u(x, 3, 300), u(x, 4, 10), u(x, 5, 2), u(x, 6, 55)));
  sub(w, 4, (x) => (u(x, 1, 4096), u(x, 13, o.inactiveFile), u(x, 32, o.memUsage), u(x, 33, o.limit), u(x, 34, 0), u(x, 35, MAX_U64)));
  sub(w, 6, (x) => sub(x, 1, (e) => (u(e, 1, 8), u(e, 2, 16), u(e, 3, 4096), u(e, 4, 8192), u(e, 5, 1), u(e, 6, 2))));
  sub(w, 7, (x) => (u(x, 1, 0), u(x, 2, 0), x.uint32((3 << 3) | 2).string('2MB')));
  sub(w, 8, (x) => (u(x, 4, 1), u(x, 5, 1)));
  return Buffer.from(w.finish());
}

function v2Metric(id: string, seconds: number, bytes: Buffer, type = 'io.containerd.cgroups.v2.Metrics'): TaskMetrics {
  return decodeTaskMetrics({ id, timestamp: { seconds, nanos: 500 }, data: { type_url: type, value: bytes } });
}

describe('cgroup v2 metrics', () => {
  const bytes = v2Bytes({ usageUsec: 2_000_000, memUsage: 10 << 20, inactiveFile: 2 << 20, limit: 64 << 20, pids: 3, pidsLimit: 100 });

  it('decode by type URL into the typed v2 message, absent parts null', () => {
    const m = v2Metric('c1', 1000, bytes);
    expect(m.version).toBe(2);
    if (m.version !== 2) return;
    expect(m.timestamp?.getTime()).toBe(1_000_000);
    expect(m.nanos).toBe(500);
    expect(m.metrics.pids).toEqual({ current: 3, limit: 100 });
    expect(m.metrics.cpu).toEqual({ usage_usec: 2_000_000, user_usec: 700, system_usec: 300, nr_periods: 10, nr_throttled: 2, throttled_usec: 55 });
    expect(m.metrics.memory).toMatchObject({ anon: 4096, inactive_file: 2 << 20, usage: 10 << 20, usage_limit: 64 << 20, swap_usage: 0, file: 0 });
    expect(u64(m.metrics.memory!.swap_limit)).toBe(MAX_U64);
    expect(m.metrics.io).toEqual({ usage: [{ major: 8, minor: 16, rbytes: 4096, wbytes: 8192, rios: 1, wios: 2 }] });
    expect(m.metrics.hugetlb).toEqual([{ current: 0, max: 0, pagesize: '2MB' }]);
    expect(m.metrics.memory_events).toEqual({ low: 0, high: 0, max: 0, oom: 1, oom_kill: 1 });
    expect(m.metrics.rdma).toBeNull();
    // A host prefix on the type URL is accepted; an unknown type stays raw.
    expect(v2Metric('c1', 1, bytes, 'type.googleapis.com/io.containerd.cgroups.v2.Metrics').version).toBe(2);
    const other = v2Metric('c1', 1, bytes, 'io.microsoft.Statistics');
    expect(other.version === 0 && other.raw.equals(bytes)).toBe(true);
  });

  it('ctr\'s rows for v2 (cmd/ctr/commands/tasks/metrics.go, printCgroup2MetricsTable)', () => {
    expect(metricRows(v2Metric('c1', 1, bytes))).toEqual([
      ['pids.current', '3'],
      ['pids.limit', '100'],
      ['cpu.usage_usec', '2000000'],
      ['cpu.user_usec', '700'],
      ['cpu.system_usec', '300'],
      ['cpu.nr_periods', '10'],
      ['cpu.nr_throttled', '2'],
      ['cpu.throttled_usec', '55'],
      ['memory.usage', String(10 << 20)],
      ['memory.usage_limit', String(64 << 20)],
      ['memory.swap_usage', '0'],
      ['memory.swap_limit', MAX_U64],
    ]);
  });

  it('stats: CPU % over the daemon\'s sample times, usage without inactive file, limit capped at the host', () => {
    const host = 8 * 2 ** 30;
    const a = sampleOf(v2Metric('c1', 1000, bytes), host, 0)!;
    const later = v2Bytes({ usageUsec: 2_000_000 + 1_500_000, memUsage: 10 << 20, inactiveFile: 2 << 20, limit: 64 << 20, pids: 3, pidsLimit: 100 });
    const b = sampleOf(v2Metric('c1', 1002, later), host, 0)!;
    const row = statsRow(b, a);
    // 1.5 s of CPU in 2 s of wall time.
    expect(row.cpuPercent).toBeCloseTo(75, 6);
    expect(row.memoryUsage).toBe(8 << 20);
    expect(row.memoryLimit).toBe(64 << 20);
    expect(row.memoryPercent).toBeCloseTo(12.5, 6);
    expect(row.pids).toBe(3);
    expect(statsCells(row)).toEqual(['c1', '75.00%', '8MiB / 64MiB', '12.50%', '3']);
    // No previous sample: 0%. "max" as the limit: the host's memory.
    expect(statsRow(b, undefined).cpuPercent).toBe(0);
    const unlimited = sampleOf(v2Metric('c1', 1, v2Bytes({ usageUsec: 1, memUsage: 100, inactiveFile: 200, limit: MAX_U64, pids: 1, pidsLimit: 0 })), host, 0)!;
    expect([unlimited.memoryLimit, unlimited.memoryUsage]).toEqual([host, 100]);
  });
});

describe('formats', () => {
  it('sizes as docker\'s units.BytesSize', () => {
    expect([0, 1023, 1024, 290816, 1.5 * 2 ** 20, 123456789, 64 << 20, 1.5 * 2 ** 30].map(bytesSize)).toEqual(['0B', '1023B', '1KiB', '284KiB', '1.5MiB', '117.7MiB', '64MiB', '1.5GiB']);
  });

  it('uint64 values beyond 2^53 in full', () => {
    expect(u64(2 ** 63 - 4096)).toBe('9223372036854771712');
    expect(u64(12)).toBe('12');
  });
});

describe('logs --tail', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tail-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const tailOf = (text: string, n: number): string => {
    const f = path.join(dir, 'log');
    fs.writeFileSync(f, text);
    const fd = fs.openSync(f, 'r');
    try {
      return text.slice(tailOffset(fd, fs.fstatSync(fd).size, n));
    } finally {
      fs.closeSync(fd);
    }
  };

  it('counts lines from the end, a final line without a newline included', () => {
    expect(tailOf('a\nb\nc\n', 2)).toBe('b\nc\n');
    expect(tailOf('a\nb\nc', 2)).toBe('b\nc');
    expect(tailOf('a\nb\nc\n', 5)).toBe('a\nb\nc\n');
    expect(tailOf('a\nb\n', 0)).toBe('');
    expect(tailOf('', 3)).toBe('');
    expect(tailOf('\n\n', 1)).toBe('\n');
  });

  it('across read chunks', () => {
    const lines = Array.from({ length: 20000 }, (_, i) => `line ${i} ${'x'.repeat(i % 50)}`);
    const text = `${lines.join('\n')}\n`;
    expect(tailOf(text, 3000)).toBe(`${lines.slice(-3000).join('\n')}\n`);
  });
});
