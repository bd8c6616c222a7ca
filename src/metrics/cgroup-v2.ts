// containerd 1.6's cgroups v2 task metrics (metrics/cgroups/v2: pids, cpu, memory, io),
// over io.containerd.cgroups.v2.Metrics. Names, units, help texts and labels are
// containerd's; every metric is a gauge there.
import { field, list, num, sub, type CgroupMetric } from './cgroup-metric';

/** A memory.stat value (MemoryStat field) under containerd's name; unit "bytes" throughout, as there. */
function memoryStat(name: string, help?: string): CgroupMetric {
  return { name: `memory_${name}`, unit: 'bytes', help: help ?? `The ${name} amount`, values: field('memory', name) };
}

function io(name: 'rbytes' | 'wbytes' | 'rios' | 'wios', unit: CgroupMetric['unit'], help: string): CgroupMetric {
  return {
    name: `io_${name}`,
    unit,
    help,
    labels: ['major', 'minor'],
    values: (s) => {
      const stat = sub(s, 'io');
      if (!stat) return undefined;
      return list(stat, 'usage').map((e) => ({ v: num(e, name), l: [String(num(e, 'major')), String(num(e, 'minor'))] }));
    },
  };
}

export const CGROUP_V2_METRICS: readonly CgroupMetric[] = [
  { name: 'pids', unit: 'limit', help: 'The limit to the number of pids allowed (cgroup v2)', values: field('pids', 'limit') },
  { name: 'pids', unit: 'current', help: 'The current number of pids (cgroup v2)', values: field('pids', 'current') },

  { name: 'cpu_usage_usec', unit: 'microseconds', help: 'Total cpu usage (cgroup v2)', values: field('cpu', 'usage_usec') },
  { name: 'cpu_user_usec', unit: 'microseconds', help: 'Current cpu usage in user space (cgroup v2)', values: field('cpu', 'user_usec') },
  { name: 'cpu_system_usec', unit: 'microseconds', help: 'Current cpu usage in kernel space (cgroup v2)', values: field('cpu', 'system_usec') },
  { name: 'cpu_nr_periods', unit: 'total', help: 'Current cpu number of periods (only if controller is enabled)', values: field('cpu', 'nr_periods') },
  {
    name: 'cpu_nr_throttled',
    unit: 'total',
    help: 'Total number of times tasks have been throttled (only if controller is enabled)',
    values: field('cpu', 'nr_throttled'),
  },
  {
    name: 'cpu_throttled_usec',
    unit: 'microseconds',
    help: 'Total time duration for which tasks have been throttled. (only if controller is enabled)',
    values: field('cpu', 'throttled_usec'),
  },

  memoryStat('usage', 'Current memory usage (cgroup v2)'),
  memoryStat('usage_limit', 'Current memory usage limit (cgroup v2)'),
  memoryStat('swap_usage', 'Current swap usage (cgroup v2)'),
  memoryStat('swap_limit', 'Current swap usage limit (cgroup v2)'),
  memoryStat('file_mapped'),
  memoryStat('file_dirty'),
  memoryStat('file_writeback'),
  memoryStat('pgactivate'),
  memoryStat('pgdeactivate'),
  memoryStat('pgfault'),
  memoryStat('pgmajfault'),
  memoryStat('pglazyfree'),
  memoryStat('pgrefill'),
  memoryStat('pglazyfreed'),
  memoryStat('pgscan'),
  memoryStat('pgsteal'),
  memoryStat('inactive_anon'),
  memoryStat('active_anon'),
  memoryStat('inactive_file'),
  memoryStat('active_file'),
  memoryStat('unevictable'),
  memoryStat('anon'),
  memoryStat('file'),
  memoryStat('kernel_stack'),
  memoryStat('slab'),
  memoryStat('sock'),
  memoryStat('shmem'),
  memoryStat('anon_thp'),
  memoryStat('slab_reclaimable'),
  memoryStat('slab_unreclaimable'),
  memoryStat('workingset_refault'),
  memoryStat('workingset_activate'),
  memoryStat('workingset_nodereclaim'),
  memoryStat('thp_fault_alloc'),
  memoryStat('thp_collapse_alloc'),
  // Under the memory collector in containerd, but read from memory.events.
  { name: 'memory_oom', unit: 'total', help: 'The number of times a container has received an oom event', values: field('memory_events', 'oom') },

  io('rbytes', 'bytes', 'IO bytes read'),
  io('wbytes', 'bytes', 'IO bytes written'),
  io('rios', 'total', 'Number of read IOs'),
  io('wios', 'total', 'Number of write IOs'),
];
