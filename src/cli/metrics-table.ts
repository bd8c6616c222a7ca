// The METRIC/VALUE rows `ctr tasks metrics` prints for a task (containerd 1.6's
// cmd/ctr/commands/tasks/metrics.go): a few headline values of the cgroup v1 or v2 stats,
// under the names of the cgroup files they come from.
import type { TaskMetrics } from '../client/cgroup-metrics';

const MAX_UINT64 = 2n ** 64n - 1n;

/** A uint64 as Go prints it: every digit, also beyond 2^53 (the decoded double's exact
 * value). A double of 2^64 can only come from within 2048 of the largest uint64, which
 * cgroups use for "max" (no limit): printed as that. */
export function u64(n: number): string {
  if (Number.isSafeInteger(n)) return String(n);
  const b = BigInt(Math.trunc(n));
  return (b > MAX_UINT64 ? MAX_UINT64 : b).toString();
}

export function metricRows(m: TaskMetrics): string[][] {
  const rows: string[][] = [];
  if (m.version === 1) {
    const { memory, cpu, pids } = m.metrics;
    if (memory) {
      rows.push(['memory.usage_in_bytes', u64(memory.usage?.usage ?? 0)]);
      rows.push(['memory.limit_in_bytes', u64(memory.usage?.limit ?? 0)]);
      rows.push(['memory.stat.cache', u64(memory.total_cache)]);
    }
    if (cpu) {
      rows.push(['cpuacct.usage', u64(cpu.usage?.total ?? 0)]);
      rows.push(['cpuacct.usage_percpu', `[${(cpu.usage?.per_cpu ?? []).map(u64).join(' ')}]`]);
    }
    if (pids) {
      rows.push(['pids.current', u64(pids.current)]);
      rows.push(['pids.limit', u64(pids.limit)]);
    }
  } else if (m.version === 2) {
    const { pids, cpu, memory } = m.metrics;
    if (pids) rows.push(['pids.current', u64(pids.current)], ['pids.limit', u64(pids.limit)]);
    if (cpu) {
      for (const k of ['usage_usec', 'user_usec', 'system_usec', 'nr_periods', 'nr_throttled', 'throttled_usec'] as const) rows.push([`cpu.${k}`, u64(cpu[k])]);
    }
    if (memory) {
      for (const k of ['usage', 'usage_limit', 'swap_usage', 'swap_limit'] as const) rows.push([`memory.${k}`, u64(memory[k])]);
    }
  }
  return rows;
}
