// The cgroup metrics messages Tasks.Metrics / shim Stats carry in an Any:
// io.containerd.cgroups.v1.Metrics and io.containerd.cgroups.v2.Metrics, defined in
// proto/cgroups (containerd/cgroups' stats/v1 and v2/stats, checked by the contract test):
// encoded and decoded here with protobufjs over berth's registry, uint64 as decimal
// strings so values beyond 2^53 ("max") keep every digit.
import type * as protobuf from 'protobufjs/light';
import { root } from '../proto/registry';

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
