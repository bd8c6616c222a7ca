// containerd 1.6's cgroups v1 task metrics (metrics/cgroups/v1: pids, cpu, memory, hugetlb,
// blkio), over io.containerd.cgroups.v1.Metrics as berth's shim and containerd's runc shim
// report it. Names, units, help texts and labels are containerd's, so dashboards and
// alerts written for containerd read berthd unchanged. Every metric is a gauge there.
import { field, list, num, str, sub, type CgroupMetric, type CgroupValue, type Decoded } from './cgroup-metric';

/** A memory.stat counter (MemoryStat field) under containerd's metric name. */
function memoryStat(name: string, statField: string, help: string): CgroupMetric {
  return { name: `memory_${name}`, unit: 'bytes', help, values: field('memory', statField) };
}

/** The four values of a MemoryEntry (usage, swap, kernel, kernel_tcp). */
function memoryEntry(name: string, entryField: string, title: string): CgroupMetric[] {
  return [
    { name: `memory_${name}_failcnt`, unit: 'total', help: `The ${title} failcnt`, values: field('memory', entryField, 'failcnt') },
    { name: `memory_${name}_limit`, unit: 'bytes', help: `The ${name === 'usage' ? 'memory' : title} limit`, values: field('memory', entryField, 'limit') },
    { name: `memory_${name}_max`, unit: 'bytes', help: `The ${name === 'usage' ? 'memory' : title} maximum usage`, values: field('memory', entryField, 'max') },
    { name: `memory_${name}_usage`, unit: 'bytes', help: `The ${name === 'usage' ? 'memory' : title} usage`, values: field('memory', entryField, 'usage') },
  ];
}

function hugetlb(name: string, unit: CgroupMetric['unit'], help: string, entryField: string): CgroupMetric {
  return {
    name: `hugetlb_${name}`,
    unit,
    help,
    labels: ['page'],
    values: (s) => list(s, 'hugetlb').map((e) => ({ v: num(e, entryField), l: [str(e, 'pagesize')] })),
  };
}

function blkio(name: string, unit: CgroupMetric['unit'], entriesField: string): CgroupMetric {
  return {
    name: `blkio_${name}`,
    unit,
    help: `The blkio ${name.replace(/_/g, ' ')}`,
    labels: ['op', 'device', 'major', 'minor'],
    values: (s): CgroupValue[] | undefined => {
      const b = sub(s, 'blkio');
      if (!b) return undefined;
      return list(b, entriesField).map((e) => ({ v: num(e, 'value'), l: [str(e, 'op'), str(e, 'device'), String(num(e, 'major')), String(num(e, 'minor'))] }));
    },
  };
}

function perCpu(s: Decoded): CgroupValue[] | undefined {
  const cpu = sub(s, 'cpu');
  if (!cpu) return undefined;
  const v = sub(cpu, 'usage')?.['per_cpu'];
  const all = Array.isArray(v) ? v : [];
  return all.map((x, i) => ({ v: Number(x), l: [String(i)] }));
}

export const CGROUP_V1_METRICS: readonly CgroupMetric[] = [
  { name: 'pids', unit: 'limit', help: 'The limit to the number of pids allowed', values: field('pids', 'limit') },
  { name: 'pids', unit: 'current', help: 'The current number of pids', values: field('pids', 'current') },

  { name: 'cpu_total', unit: 'nanoseconds', help: 'The total cpu time', values: field('cpu', 'usage', 'total') },
  { name: 'cpu_kernel', unit: 'nanoseconds', help: 'The total kernel cpu time', values: field('cpu', 'usage', 'kernel') },
  { name: 'cpu_user', unit: 'nanoseconds', help: 'The total user cpu time', values: field('cpu', 'usage', 'user') },
  { name: 'per_cpu', unit: 'nanoseconds', help: 'The total cpu time per cpu', labels: ['cpu'], values: perCpu },
  { name: 'cpu_throttle_periods', unit: 'total', help: 'The total cpu throttle periods', values: field('cpu', 'throttling', 'periods') },
  { name: 'cpu_throttled_periods', unit: 'total', help: 'The total cpu throttled periods', values: field('cpu', 'throttling', 'throttled_periods') },
  { name: 'cpu_throttled_time', unit: 'nanoseconds', help: 'The total cpu throttled time', values: field('cpu', 'throttling', 'throttled_time') },

  memoryStat('cache', 'cache', 'The cache amount used'),
  memoryStat('rss', 'rss', 'The rss amount used'),
  memoryStat('rss_huge', 'rss_huge', 'The rss_huge amount used'),
  memoryStat('mapped_file', 'mapped_file', 'The mapped_file amount used'),
  memoryStat('dirty', 'dirty', 'The dirty amount'),
  memoryStat('writeback', 'writeback', 'The writeback amount'),
  // containerd reports the page-event counters under the "bytes" unit too.
  memoryStat('pgpgin', 'pg_pg_in', 'The pgpgin amount'),
  memoryStat('pgpgout', 'pg_pg_out', 'The pgpgout amount'),
  memoryStat('pgfault', 'pg_fault', 'The pgfault amount'),
  memoryStat('pgmajfault', 'pg_maj_fault', 'The pgmajfault amount'),
  memoryStat('inactive_anon', 'inactive_anon', 'The inactive_anon amount'),
  memoryStat('active_anon', 'active_anon', 'The active_anon amount'),
  memoryStat('inactive_file', 'inactive_file', 'The inactive_file amount'),
  memoryStat('active_file', 'active_file', 'The active_file amount'),
  memoryStat('unevictable', 'unevictable', 'The unevictable amount'),
  memoryStat('hierarchical_memory_limit', 'hierarchical_memory_limit', 'The hierarchical_memory_limit amount'),
  memoryStat('hierarchical_memsw_limit', 'hierarchical_swap_limit', 'The hierarchical_memsw_limit amount'),
  memoryStat('total_cache', 'total_cache', 'The total_cache amount used'),
  memoryStat('total_rss', 'total_rss', 'The total_rss amount used'),
  memoryStat('total_rss_huge', 'total_rss_huge', 'The total_rss_huge amount used'),
  memoryStat('total_mapped_file', 'total_mapped_file', 'The total_mapped_file amount used'),
  memoryStat('total_dirty', 'total_dirty', 'The total_dirty amount'),
  memoryStat('total_writeback', 'total_writeback', 'The total_writeback amount'),
  memoryStat('total_pgpgin', 'total_pg_pg_in', 'The total_pgpgin amount'),
  memoryStat('total_pgpgout', 'total_pg_pg_out', 'The total_pgpgout amount'),
  memoryStat('total_pgfault', 'total_pg_fault', 'The total_pgfault amount'),
  memoryStat('total_pgmajfault', 'total_pg_maj_fault', 'The total_pgmajfault amount'),
  memoryStat('total_inactive_anon', 'total_inactive_anon', 'The total_inactive_anon amount'),
  memoryStat('total_active_anon', 'total_active_anon', 'The total_active_anon amount'),
  memoryStat('total_inactive_file', 'total_inactive_file', 'The total_inactive_file amount'),
  memoryStat('total_active_file', 'total_active_file', 'The total_active_file amount'),
  memoryStat('total_unevictable', 'total_unevictable', 'The total_unevictable amount'),
  ...memoryEntry('usage', 'usage', 'usage'),
  ...memoryEntry('swap', 'swap', 'swap'),
  ...memoryEntry('kernel', 'kernel', 'kernel'),
  ...memoryEntry('kerneltcp', 'kernel_tcp', 'kerneltcp'),

  hugetlb('usage', 'bytes', 'The hugetlb usage', 'usage'),
  hugetlb('failcnt', 'total', 'The hugetlb failcnt', 'failcnt'),
  hugetlb('max', 'bytes', 'The hugetlb maximum usage', 'max'),

  blkio('io_merged_recursive', 'total', 'io_merged_recursive'),
  blkio('io_queued_recursive', 'total', 'io_queued_recursive'),
  blkio('io_service_bytes_recursive', 'bytes', 'io_service_bytes_recursive'),
  blkio('io_service_time_recursive', 'total', 'io_service_time_recursive'),
  blkio('io_serviced_recursive', 'total', 'io_serviced_recursive'),
  blkio('io_time_recursive', 'total', 'io_time_recursive'),
  blkio('sectors_recursive', 'total', 'sectors_recursive'),
];
