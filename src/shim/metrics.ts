// The cgroup metrics messages Tasks.Metrics / shim Stats carry in an Any:
// io.containerd.cgroups.v1.Metrics and io.containerd.cgroups.v2.Metrics. They are not part
// of berth's proto/ contract (containerd takes them from github.com/containerd/cgroups),
// so they are defined here, in code, with the field numbers of cgroups' stats/v1 and
// v2/stats metrics.proto. Only the messages the shim fills are defined; a decoder
// skips the rest as unknown fields.
import * as protobuf from 'protobufjs/light';

const u64 = (id: number) => ({ type: 'uint64', id });
const str = (id: number) => ({ type: 'string', id });
const msg = (type: string, id: number) => ({ type, id });
const rep = (type: string, id: number) => ({ type, id, rule: 'repeated' });

function fields(names: readonly string[], first = 1): Record<string, { type: string; id: number }> {
  const out: Record<string, { type: string; id: number }> = {};
  names.forEach((n, i) => (out[n] = u64(first + i)));
  return out;
}

export const V1_MEMORY_STAT_FIELDS = [
  'cache', 'rss', 'rss_huge', 'mapped_file', 'dirty', 'writeback', 'pg_pg_in', 'pg_pg_out', 'pg_fault', 'pg_maj_fault',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'hierarchical_memory_limit',
  'hierarchical_swap_limit', 'total_cache', 'total_rss', 'total_rss_huge', 'total_mapped_file', 'total_dirty',
  'total_writeback', 'total_pg_pg_in', 'total_pg_pg_out', 'total_pg_fault', 'total_pg_maj_fault', 'total_inactive_anon',
  'total_active_anon', 'total_inactive_file', 'total_active_file', 'total_unevictable',
] as const;

export const V2_MEMORY_STAT_FIELDS = [
  'anon', 'file', 'kernel_stack', 'slab', 'sock', 'shmem', 'file_mapped', 'file_dirty', 'file_writeback', 'anon_thp',
  'inactive_anon', 'active_anon', 'inactive_file', 'active_file', 'unevictable', 'slab_reclaimable', 'slab_unreclaimable',
  'pgfault', 'pgmajfault', 'workingset_refault', 'workingset_activate', 'workingset_nodereclaim', 'pgrefill', 'pgscan',
  'pgsteal', 'pgactivate', 'pgdeactivate', 'pglazyfree', 'pglazyfreed', 'thp_fault_alloc', 'thp_collapse_alloc',
  'usage', 'usage_limit', 'swap_usage', 'swap_limit',
] as const;

const descriptor = {
  nested: {
    io: { nested: { containerd: { nested: { cgroups: { nested: {
      v1: {
        nested: {
          Metrics: {
            fields: {
              hugetlb: rep('HugetlbStat', 1), pids: msg('PidsStat', 2), cpu: msg('CPUStat', 3), memory: msg('MemoryStat', 4),
              blkio: msg('BlkIOStat', 5), memory_oom_control: msg('MemoryOomControl', 9),
            },
          },
          HugetlbStat: { fields: { usage: u64(1), max: u64(2), failcnt: u64(3), pagesize: str(4) } },
          PidsStat: { fields: { current: u64(1), limit: u64(2) } },
          CPUStat: { fields: { usage: msg('CPUUsage', 1), throttling: msg('Throttle', 2) } },
          CPUUsage: { fields: { total: u64(1), kernel: u64(2), user: u64(3), per_cpu: { type: 'uint64', id: 4, rule: 'repeated', options: { packed: true } } } },
          Throttle: { fields: { periods: u64(1), throttled_periods: u64(2), throttled_time: u64(3) } },
          MemoryStat: {
            fields: {
              ...fields(V1_MEMORY_STAT_FIELDS),
              usage: msg('MemoryEntry', 33), swap: msg('MemoryEntry', 34), kernel: msg('MemoryEntry', 35), kernel_tcp: msg('MemoryEntry', 36),
            },
          },
          MemoryEntry: { fields: { limit: u64(1), usage: u64(2), max: u64(3), failcnt: u64(4) } },
          MemoryOomControl: { fields: { oom_kill_disable: u64(1), under_oom: u64(2), oom_kill: u64(3) } },
          BlkIOStat: {
            fields: {
              io_service_bytes_recursive: rep('BlkIOEntry', 1), io_serviced_recursive: rep('BlkIOEntry', 2),
              io_queued_recursive: rep('BlkIOEntry', 3), io_service_time_recursive: rep('BlkIOEntry', 4),
              io_wait_time_recursive: rep('BlkIOEntry', 5), io_merged_recursive: rep('BlkIOEntry', 6),
              io_time_recursive: rep('BlkIOEntry', 7), sectors_recursive: rep('BlkIOEntry', 8),
            },
          },
          BlkIOEntry: { fields: { op: str(1), device: str(2), major: u64(3), minor: u64(4), value: u64(5) } },
        },
      },
      v2: {
        nested: {
          Metrics: {
            fields: {
              pids: msg('PidsStat', 1), cpu: msg('CPUStat', 2), memory: msg('MemoryStat', 4), io: msg('IOStat', 6),
              hugetlb: rep('HugeTlbStat', 7), memory_events: msg('MemoryEvents', 8),
            },
          },
          PidsStat: { fields: { current: u64(1), limit: u64(2) } },
          CPUStat: { fields: fields(['usage_usec', 'user_usec', 'system_usec', 'nr_periods', 'nr_throttled', 'throttled_usec']) },
          MemoryStat: { fields: fields(V2_MEMORY_STAT_FIELDS) },
          MemoryEvents: { fields: fields(['low', 'high', 'max', 'oom', 'oom_kill']) },
          IOStat: { fields: { usage: rep('IOEntry', 1) } },
          IOEntry: { fields: fields(['major', 'minor', 'rbytes', 'wbytes', 'rios', 'wios']) },
          HugeTlbStat: { fields: { current: u64(1), max: u64(2), pagesize: str(3) } },
        },
      },
    } } } } } },
  },
};

const root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);

export const METRICS_V1 = 'io.containerd.cgroups.v1.Metrics';
export const METRICS_V2 = 'io.containerd.cgroups.v2.Metrics';

/** A uint64 value: a number, or a decimal string for values beyond 2^53 ("max" = 2^64-1). */
export type U64 = number | string;

export function metricsType(name: typeof METRICS_V1 | typeof METRICS_V2): protobuf.Type {
  return root.lookupType(name);
}

/** Encodes a plain object with the message's field names (uint64 as number or decimal
 * string). Zero scalars are left out, as Go's marshaller does; sub-messages stay. */
export function encodeMetrics(name: typeof METRICS_V1 | typeof METRICS_V2, obj: object): Buffer {
  const t = metricsType(name);
  return Buffer.from(t.encode(t.fromObject(pruneZeros(obj) as Record<string, unknown>)).finish());
}

function pruneZeros(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(pruneZeros);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    if (x === 0 || x === '0' || x === '' || x === undefined || (Array.isArray(x) && x.length === 0)) continue;
    out[k] = pruneZeros(x);
  }
  return out;
}

/** Decodes (tests, debugging): uint64 as decimal strings. */
export function decodeMetrics(name: typeof METRICS_V1 | typeof METRICS_V2, bytes: Uint8Array): Record<string, unknown> {
  const t = metricsType(name);
  return t.toObject(t.decode(bytes), { longs: String, defaults: false }) as Record<string, unknown>;
}
