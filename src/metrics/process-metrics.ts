// Process metrics under the names and help texts of the Go client's process collector
// (containerd serves them): CPU seconds, open and maximum fds, resident and virtual memory,
// the address-space limit and the start time, read from /proc like there. Plus the few
// Node.js runtime figures that have an honest equivalent (prom-client's names): heap size
// and use, external memory, and the version. Nothing pretends to be a Go runtime metric.
import * as fs from 'node:fs';
import type { MetricFamily } from './exposition';
import { renderLabels } from './exposition';

/** USER_HZ: the unit of /proc/<pid>/stat's times on Linux (the Go collector assumes it too). */
const CLOCK_TICKS = 100;
/** An "unlimited" limit, as the Go collector reports it (2^64 - 1 as a float). */
const UNLIMITED = 18446744073709551615;

function readOr(path: string): string | undefined {
  try {
    return fs.readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** /proc/self/stat fields after the command name (which may hold spaces and parentheses). */
export function statFields(stat: string): string[] {
  return stat.slice(stat.lastIndexOf(')') + 2).trim().split(' ');
}

/** The soft value of a /proc/self/limits row ("Max open files", "Max address space"). */
export function softLimit(limits: string, row: string): number | undefined {
  for (const line of limits.split('\n')) {
    if (!line.startsWith(row)) continue;
    const soft = line.slice(row.length).trim().split(/\s+/)[0];
    if (soft === 'unlimited') return UNLIMITED;
    const n = Number(soft);
    return Number.isFinite(n) ? n : undefined;
  }
  return undefined;
}

function bootTimeSeconds(): number | undefined {
  const m = /^btime (\d+)$/m.exec(readOr('/proc/stat') ?? '');
  return m ? Number(m[1]) : undefined;
}

let bootTime: number | undefined;

function gauge(name: string, help: string, value: number | undefined, type: 'gauge' | 'counter' = 'gauge'): MetricFamily {
  return { name, help, type, samples: value === undefined ? [] : [{ labels: '', value }] };
}

export function processFamilies(): MetricFamily[] {
  const stat = readOr('/proc/self/stat');
  // Fields numbered from 3 (state) in proc(5): utime 14, stime 15, starttime 22, vsize 23.
  const f = stat ? statFields(stat) : [];
  const field = (n: number): number | undefined => {
    const v = f[n - 3];
    return v === undefined ? undefined : Number(v);
  };
  const cpu = process.cpuUsage();
  const limits = readOr('/proc/self/limits') ?? '';
  let openFds: number | undefined;
  try {
    openFds = fs.readdirSync('/proc/self/fd').length;
  } catch {
    openFds = undefined;
  }
  bootTime ??= bootTimeSeconds();
  const starttime = field(22);
  return [
    gauge('process_cpu_seconds_total', 'Total user and system CPU time spent in seconds.', (cpu.user + cpu.system) / 1e6, 'counter'),
    gauge('process_open_fds', 'Number of open file descriptors.', openFds),
    gauge('process_max_fds', 'Maximum number of open file descriptors.', softLimit(limits, 'Max open files')),
    gauge('process_virtual_memory_bytes', 'Virtual memory size in bytes.', field(23)),
    gauge('process_virtual_memory_max_bytes', 'Maximum amount of virtual memory available in bytes.', softLimit(limits, 'Max address space')),
    gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', process.memoryUsage.rss()),
    gauge(
      'process_start_time_seconds',
      'Start time of the process since unix epoch in seconds.',
      bootTime !== undefined && starttime !== undefined ? bootTime + starttime / CLOCK_TICKS : undefined,
    ),
  ];
}

const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
const VERSION_LABELS = renderLabels({ version: process.version, major, minor, patch });

export function nodejsFamilies(): MetricFamily[] {
  const mem = process.memoryUsage();
  return [
    gauge('nodejs_heap_size_total_bytes', 'Process heap size from Node.js in bytes.', mem.heapTotal),
    gauge('nodejs_heap_size_used_bytes', 'Process heap size used from Node.js in bytes.', mem.heapUsed),
    gauge('nodejs_external_memory_bytes', 'Node.js external memory size in bytes.', mem.external),
    { name: 'nodejs_version_info', help: 'Node.js version info.', type: 'gauge', samples: [{ labels: VERSION_LABELS, value: 1 }] },
  ];
}
