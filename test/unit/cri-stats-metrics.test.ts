// CRI cpu and memory usage from cgroup v1 and v2 metrics (src/cri/stats_metrics.ts):
// the same figures from either version's field names and units, and usage_nano_cores
// from the previous sample.
import { describe, expect, it } from 'vitest';
import { CpuSamples, usageFromMetrics } from '../../src/cri/stats_metrics';
import { encodeMessage } from '../../src/proto/registry';
import { METRICS_V1, METRICS_V2 } from '../../src/shim/metrics';

const MiB = 1024 * 1024;

describe('usageFromMetrics', () => {
  it('reads cgroup v1 metrics: working set is usage less inactive file pages', () => {
    const value = encodeMessage(METRICS_V1, {
      cpu: { usage: { total: 2_000_000_000 } },
      memory: { usage: { usage: 50 * MiB, limit: 100 * MiB }, total_inactive_file: 10 * MiB, total_rss: 30 * MiB, total_pg_fault: 7, total_pg_maj_fault: 2 },
    });
    const samples = new CpuSamples();
    const first = usageFromMetrics('c1', { type_url: METRICS_V1, value }, 1_000_000_000n, samples);
    expect(first.cpu).toEqual({ timestamp: '1000000000', usage_core_nano_seconds: { value: '2000000000' }, usage_nano_cores: { value: '0' } });
    expect(first.memory).toEqual({
      timestamp: '1000000000',
      working_set_bytes: { value: String(40 * MiB) },
      available_bytes: { value: String(60 * MiB) },
      usage_bytes: { value: String(50 * MiB) },
      rss_bytes: { value: String(30 * MiB) },
      page_faults: { value: '7' },
      major_page_faults: { value: '2' },
    });
    // One more second of wall time and half a second more CPU: half a core.
    const v2 = encodeMessage(METRICS_V1, { cpu: { usage: { total: 2_500_000_000 } } });
    const second = usageFromMetrics('c1', { type_url: `types.googleapis.com/${METRICS_V1}`, value: v2 }, 2_000_000_000n, samples);
    expect(second.cpu?.usage_nano_cores).toEqual({ value: '500000000' });
    expect(second.memory).toBeNull();
  });

  it('reads cgroup v2 metrics in the same units (usage_usec in µs, anon as rss); no limit gives 0 available', () => {
    const value = encodeMessage(METRICS_V2, {
      cpu: { usage_usec: 3_000_000 },
      memory: { usage: 50 * MiB, usage_limit: '18446744073709551615', inactive_file: 60 * MiB, anon: 20 * MiB, pgfault: 9, pgmajfault: 1 },
    });
    const u = usageFromMetrics('p1', { type_url: METRICS_V2, value }, 5n, new CpuSamples());
    expect(u.cpu?.usage_core_nano_seconds).toEqual({ value: '3000000000' });
    expect(u.memory).toMatchObject({
      working_set_bytes: { value: '0' },
      available_bytes: { value: '0' },
      usage_bytes: { value: String(50 * MiB) },
      rss_bytes: { value: String(20 * MiB) },
      page_faults: { value: '9' },
      major_page_faults: { value: '1' },
    });
  });

  it('refuses a metrics type it does not know', () => {
    expect(() => usageFromMetrics('x', { type_url: 'example.Other', value: Buffer.alloc(0) }, 1n, new CpuSamples())).toThrow(/unexpected metrics type/);
  });
});
