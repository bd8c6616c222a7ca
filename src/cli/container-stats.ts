// What `berth stats` shows for a task, computed as docker's CLI computes `docker stats`
// (cli/command/container/stats_helpers.go) from two samples of the task's cgroup metrics:
// - CPU %: CPU time used between the samples over the wall time between them, × 100 (100%
//   = one CPU busy; docker divides by the host's CPU time delta and multiplies by the
//   number of CPUs, which is the same ratio). Wall time comes from the daemon's sample
//   timestamps, so the time the calls took does not count.
// - MEM USAGE: usage minus inactive file pages (docker's "usage without cache": cgroup v1's
//   total_inactive_file, v2's inactive_file); LIMIT: the cgroup's limit, or this host's
//   memory when that is larger ("no limit"), as dockerd reports it; MEM % of that limit.
import type { TaskMetrics } from '../client/cgroup-metrics';

/** The cumulative values of one sample. */
export interface StatsSample {
  id: string;
  /** CPU time used so far, in nanoseconds. */
  cpuNs: number;
  /** When the sample was taken, in nanoseconds (any epoch shared by the samples). */
  atNs: number;
  memoryUsage: number;
  memoryLimit: number;
  pids: number;
}

export interface StatsRow {
  id: string;
  cpuPercent: number;
  memoryUsage: number;
  memoryLimit: number;
  memoryPercent: number;
  pids: number;
}

/** A sample from decoded metrics; `localNs` stands in for a missing daemon timestamp. */
export function sampleOf(m: TaskMetrics, hostMemory: number, localNs: number): StatsSample | undefined {
  const atNs = m.timestamp ? Math.floor(m.timestamp.getTime() / 1000) * 1e9 + m.nanos : localNs;
  const noCache = (usage: number, inactiveFile: number): number => (inactiveFile < usage ? usage - inactiveFile : usage);
  const capped = (limit: number): number => (hostMemory > 0 && (limit === 0 || limit > hostMemory) ? hostMemory : limit);
  if (m.version === 1) {
    const { cpu, memory, pids } = m.metrics;
    const usage = memory?.usage?.usage ?? 0;
    return {
      id: m.id,
      cpuNs: cpu?.usage?.total ?? 0,
      atNs,
      memoryUsage: noCache(usage, memory?.total_inactive_file ?? 0),
      memoryLimit: capped(memory?.usage?.limit ?? 0),
      pids: pids?.current ?? 0,
    };
  }
  if (m.version === 2) {
    const { cpu, memory, pids } = m.metrics;
    return {
      id: m.id,
      cpuNs: (cpu?.usage_usec ?? 0) * 1000,
      atNs,
      memoryUsage: noCache(memory?.usage ?? 0, memory?.inactive_file ?? 0),
      memoryLimit: capped(memory?.usage_limit ?? 0),
      pids: pids?.current ?? 0,
    };
  }
  return undefined;
}

/** The row for `cur`, its CPU % against the previous sample of the same task (0 without). */
export function statsRow(cur: StatsSample, prev: StatsSample | undefined): StatsRow {
  let cpuPercent = 0;
  if (prev) {
    const wall = cur.atNs - prev.atNs;
    const cpu = cur.cpuNs - prev.cpuNs;
    if (wall > 0 && cpu > 0) cpuPercent = (cpu / wall) * 100;
  }
  return {
    id: cur.id,
    cpuPercent,
    memoryUsage: cur.memoryUsage,
    memoryLimit: cur.memoryLimit,
    memoryPercent: cur.memoryLimit > 0 ? (cur.memoryUsage / cur.memoryLimit) * 100 : 0,
    pids: cur.pids,
  };
}

/** Sizes as docker's units.BytesSize: binary units, four significant digits ("1.539MiB"). */
export function bytesSize(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let v = n;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${Number(v.toPrecision(4))}${units[u]}`;
}

export const STATS_HEADER = ['CONTAINER ID', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'PIDS'] as const;

export function statsCells(r: StatsRow): string[] {
  return [r.id, `${r.cpuPercent.toFixed(2)}%`, `${bytesSize(r.memoryUsage)} / ${bytesSize(r.memoryLimit)}`, `${r.memoryPercent.toFixed(2)}%`, String(r.pids)];
}
