// A task's cgroup statistics as Tasks.Metrics returns them: an Any holding containerd/
// cgroups' io.containerd.cgroups.v1.Metrics (cgroup v1 hosts) or io.containerd.cgroups.v2.
// Metrics (unified hierarchy), decoded with proto/cgroups. The types are declared here so
// the package's public declarations stand alone (see records.ts); cgroup-metrics-contract.ts
// makes the compiler check them against the generated ones. uint64 values are numbers:
// exact up to 2^53, and so for every page-aligned size (a v1 "no limit" is 2^63 - 4096).
import type { TaskMetric } from './records';
// The client's wire table, not the protobufjs registry: loading that costs `berth run` ~55 ms.
import { decodeWire } from '../proto/wire-table';

export const CGROUPS_V1_METRICS = 'io.containerd.cgroups.v1.Metrics';
export const CGROUPS_V2_METRICS = 'io.containerd.cgroups.v2.Metrics';

type Counters<K extends string> = { [P in K]: number };

export type CgroupV1MemoryStat = Counters<
  | 'cache' | 'rss' | 'rss_huge' | 'mapped_file' | 'dirty' | 'writeback' | 'pg_pg_in' | 'pg_pg_out' | 'pg_fault' | 'pg_maj_fault'
  | 'inactive_anon' | 'active_anon' | 'inactive_file' | 'active_file' | 'unevictable' | 'hierarchical_memory_limit'
  | 'hierarchical_swap_limit' | 'total_cache' | 'total_rss' | 'total_rss_huge' | 'total_mapped_file' | 'total_dirty'
  | 'total_writeback' | 'total_pg_pg_in' | 'total_pg_pg_out' | 'total_pg_fault' | 'total_pg_maj_fault' | 'total_inactive_anon'
  | 'total_active_anon' | 'total_inactive_file' | 'total_active_file' | 'total_unevictable'
> & {
  usage: CgroupV1MemoryEntry | null;
  swap: CgroupV1MemoryEntry | null;
  kernel: CgroupV1MemoryEntry | null;
  kernel_tcp: CgroupV1MemoryEntry | null;
};
export type CgroupV1MemoryEntry = Counters<'limit' | 'usage' | 'max' | 'failcnt'>;
export type CgroupV1BlkIOEntry = Counters<'major' | 'minor' | 'value'> & { op: string; device: string };
export interface CgroupRdmaEntry {
  device: string;
  hca_handles: number;
  hca_objects: number;
}
export interface CgroupRdmaStat {
  current: CgroupRdmaEntry[];
  limit: CgroupRdmaEntry[];
}

/** io.containerd.cgroups.v1.Metrics: absent parts (a controller not mounted) are null. */
export interface CgroupV1Metrics {
  hugetlb: Array<Counters<'usage' | 'max' | 'failcnt'> & { pagesize: string }>;
  pids: Counters<'current' | 'limit'> | null;
  cpu: {
    /** Nanoseconds (cpuacct). */
    usage: Counters<'total' | 'kernel' | 'user'> & { per_cpu: number[] } | null;
    throttling: Counters<'periods' | 'throttled_periods' | 'throttled_time'> | null;
  } | null;
  memory: CgroupV1MemoryStat | null;
  blkio: {
    [K in
      | 'io_service_bytes_recursive' | 'io_serviced_recursive' | 'io_queued_recursive' | 'io_service_time_recursive'
      | 'io_wait_time_recursive' | 'io_merged_recursive' | 'io_time_recursive' | 'sectors_recursive']: CgroupV1BlkIOEntry[];
  } | null;
  rdma: CgroupRdmaStat | null;
  network: Array<Counters<'rx_bytes' | 'rx_packets' | 'rx_errors' | 'rx_dropped' | 'tx_bytes' | 'tx_packets' | 'tx_errors' | 'tx_dropped'> & { name: string }>;
  cgroup_stats: Counters<'nr_sleeping' | 'nr_running' | 'nr_stopped' | 'nr_uninterruptible' | 'nr_io_wait'> | null;
  memory_oom_control: Counters<'oom_kill_disable' | 'under_oom' | 'oom_kill'> | null;
}

export type CgroupV2MemoryStat = Counters<
  | 'anon' | 'file' | 'kernel_stack' | 'slab' | 'sock' | 'shmem' | 'file_mapped' | 'file_dirty' | 'file_writeback' | 'anon_thp'
  | 'inactive_anon' | 'active_anon' | 'inactive_file' | 'active_file' | 'unevictable' | 'slab_reclaimable' | 'slab_unreclaimable'
  | 'pgfault' | 'pgmajfault' | 'workingset_refault' | 'workingset_activate' | 'workingset_nodereclaim' | 'pgrefill' | 'pgscan'
  | 'pgsteal' | 'pgactivate' | 'pgdeactivate' | 'pglazyfree' | 'pglazyfreed' | 'thp_fault_alloc' | 'thp_collapse_alloc'
  | 'usage' | 'usage_limit' | 'swap_usage' | 'swap_limit'
>;

/** io.containerd.cgroups.v2.Metrics: absent parts are null. */
export interface CgroupV2Metrics {
  pids: Counters<'current' | 'limit'> | null;
  /** Microseconds (cpu.stat). */
  cpu: Counters<'usage_usec' | 'user_usec' | 'system_usec' | 'nr_periods' | 'nr_throttled' | 'throttled_usec'> | null;
  memory: CgroupV2MemoryStat | null;
  rdma: CgroupRdmaStat | null;
  io: { usage: Array<Counters<'major' | 'minor' | 'rbytes' | 'wbytes' | 'rios' | 'wios'>> } | null;
  hugetlb: Array<Counters<'current' | 'max'> & { pagesize: string }>;
  memory_events: Counters<'low' | 'high' | 'max' | 'oom' | 'oom_kill'> | null;
}

interface TaskMetricsBase {
  /** The task (container) id. */
  id: string;
  /** When the daemon took the sample. */
  timestamp: Date | undefined;
  /** Nanoseconds within the second of `timestamp`. */
  nanos: number;
  /** The Any's type URL. */
  type: string;
}

/** A task's metrics, decoded by their type: cgroup v1 or v2, or kept raw (another platform's). */
export type TaskMetrics =
  | (TaskMetricsBase & { version: 1; metrics: CgroupV1Metrics })
  | (TaskMetricsBase & { version: 2; metrics: CgroupV2Metrics })
  | (TaskMetricsBase & { version: 0; raw: Buffer });

/** Decodes one Tasks.Metrics entry by its type URL (with or without a host prefix). */
export function decodeTaskMetrics(m: TaskMetric): TaskMetrics {
  const t = m.timestamp;
  const base: TaskMetricsBase = {
    id: m.id,
    timestamp: t ? new Date(t.seconds * 1000 + Math.floor(t.nanos / 1e6)) : undefined,
    nanos: t?.nanos ?? 0,
    type: m.data?.type_url ?? '',
  };
  const name = base.type.slice(base.type.lastIndexOf('/') + 1);
  const value = m.data?.value ?? Buffer.alloc(0);
  if (name === CGROUPS_V1_METRICS) return { ...base, version: 1, metrics: decodeWire<CgroupV1Metrics>(CGROUPS_V1_METRICS, value) };
  if (name === CGROUPS_V2_METRICS) return { ...base, version: 2, metrics: decodeWire<CgroupV2Metrics>(CGROUPS_V2_METRICS, value) };
  return { ...base, version: 0, raw: value };
}
