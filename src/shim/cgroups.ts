// A container's cgroup: found from its init pid (/proc/<pid>/cgroup), read for Stats
// (io.containerd.cgroups.v1|v2.Metrics, see metrics.ts) and watched for OOM kills.
//
// cgroup v2 (unified /sys/fs/cgroup): stats from memory.current|stat|max|events|swap.*,
// cpu.stat, pids.current|max, io.stat; OOM from memory.events (oom_kill counter),
// watched with inotify (fs.watch) like containerd's oom/v2.
// cgroup v1 (and hybrid hosts, which containerd treats as v1): stats from the memory,
// cpu, cpuacct, pids and blkio hierarchies; OOM through memory.oom_control with an eventfd
// registered in cgroup.event_control (containerd's oom/v1), polled on the event loop.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { eventfd, watchFd, type FdWatcher } from '../native';
import { METRICS_V1, METRICS_V2, V1_MEMORY_STAT_FIELDS, V2_MEMORY_STAT_FIELDS, encodeMetrics, type U64 } from './metrics';

const CGROUP_ROOT = '/sys/fs/cgroup';
const U64_MAX = '18446744073709551615';

export type CgroupRef = { mode: 'v2'; dir: string } | { mode: 'v1'; dirs: Map<string, string> };

let unified: boolean | undefined;
export function isUnified(): boolean {
  unified ??= fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'));
  return unified;
}

/** The cgroup(s) of a process, from /proc/<pid>/cgroup. */
export function cgroupOfPid(pid: number): CgroupRef | undefined {
  let text: string;
  try {
    text = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8');
  } catch {
    return undefined;
  }
  return parseProcCgroup(text, isUnified());
}

export function parseProcCgroup(text: string, unifiedMode: boolean, root = CGROUP_ROOT): CgroupRef | undefined {
  const dirs = new Map<string, string>();
  for (const line of text.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const [, , controllers, p] = m as unknown as [string, string, string, string];
    if (unifiedMode) {
      if (controllers === '') return { mode: 'v2', dir: path.join(root, p) };
      continue;
    }
    if (controllers === '') continue;
    for (const c of controllers.split(',')) {
      if (c.startsWith('name=')) continue;
      const base = fs.existsSync(path.join(root, c)) ? path.join(root, c) : path.join(root, controllers);
      dirs.set(c, path.join(base, p));
    }
  }
  if (unifiedMode) return undefined;
  return dirs.size > 0 ? { mode: 'v1', dirs } : undefined;
}

function readText(p: string): string | undefined {
  try {
    return fs.readFileSync(p, 'utf8');
  } catch {
    return undefined;
  }
}

/** A single-number file; "max" → 2^64-1 (containerd's convention); missing → 0. */
function readU64(p: string): U64 {
  const t = readText(p)?.trim();
  if (t === undefined || t === '') return 0;
  if (t === 'max') return U64_MAX;
  return toU64(t);
}

function toU64(t: string): U64 {
  const n = Number(t);
  if (!Number.isFinite(n) || n < 0) return 0;
  return Number.isSafeInteger(n) ? n : t;
}

/** "key value" lines (memory.stat, cpu.stat, memory.events, memory.oom_control). */
function readKeyValues(p: string): Map<string, U64> {
  const out = new Map<string, U64>();
  for (const line of (readText(p) ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined) out.set(k, toU64(v));
  }
  return out;
}

/** Stats as containerd's shim reports them: the Any type URL and the encoded Metrics. */
export function readStats(ref: CgroupRef): { typeUrl: string; value: Buffer } {
  if (ref.mode === 'v2') return { typeUrl: METRICS_V2, value: encodeMetrics(METRICS_V2, statsV2(ref.dir)) };
  return { typeUrl: METRICS_V1, value: encodeMetrics(METRICS_V1, statsV1(ref.dirs)) };
}

export function statsV2(dir: string): object {
  const f = (name: string): string => path.join(dir, name);
  const cpu = readKeyValues(f('cpu.stat'));
  const mem = readKeyValues(f('memory.stat'));
  const memory: Record<string, U64> = {};
  for (const k of V2_MEMORY_STAT_FIELDS) {
    const v = mem.get(k);
    if (v !== undefined) memory[k] = v;
  }
  memory['usage'] = readU64(f('memory.current'));
  memory['usage_limit'] = readU64(f('memory.max'));
  memory['swap_usage'] = readU64(f('memory.swap.current'));
  memory['swap_limit'] = readU64(f('memory.swap.max'));
  const events = readKeyValues(f('memory.events'));
  const io: object[] = [];
  for (const line of (readText(f('io.stat')) ?? '').split('\n')) {
    const m = /^(\d+):(\d+)\s+(.*)$/.exec(line.trim());
    if (!m) continue;
    const e: Record<string, U64> = { major: Number(m[1]), minor: Number(m[2]) };
    for (const kv of m[3]!.split(/\s+/)) {
      const [k, v] = kv.split('=');
      if (k && v !== undefined && ['rbytes', 'wbytes', 'rios', 'wios'].includes(k)) e[k] = toU64(v);
    }
    io.push(e);
  }
  return {
    pids: { current: readU64(f('pids.current')), limit: readU64(f('pids.max')) },
    cpu: {
      usage_usec: cpu.get('usage_usec') ?? 0,
      user_usec: cpu.get('user_usec') ?? 0,
      system_usec: cpu.get('system_usec') ?? 0,
      nr_periods: cpu.get('nr_periods') ?? 0,
      nr_throttled: cpu.get('nr_throttled') ?? 0,
      throttled_usec: cpu.get('throttled_usec') ?? 0,
    },
    memory,
    io: { usage: io },
    memory_events: {
      low: events.get('low') ?? 0,
      high: events.get('high') ?? 0,
      max: events.get('max') ?? 0,
      oom: events.get('oom') ?? 0,
      oom_kill: events.get('oom_kill') ?? 0,
    },
  };
}

// memory.stat key → Metrics field where the names differ (containerd cgroups/memory.go)
const V1_MEMORY_KEY: Record<string, string> = {
  pgpgin: 'pg_pg_in', pgpgout: 'pg_pg_out', pgfault: 'pg_fault', pgmajfault: 'pg_maj_fault',
  hierarchical_memsw_limit: 'hierarchical_swap_limit',
  total_pgpgin: 'total_pg_pg_in', total_pgpgout: 'total_pg_pg_out', total_pgfault: 'total_pg_fault', total_pgmajfault: 'total_pg_maj_fault',
};

const USER_HZ = 100; // clock ticks of cpuacct.stat (containerd's clockTicks)

export function statsV1(dirs: ReadonlyMap<string, string>): object {
  const out: Record<string, unknown> = {};
  const pids = dirs.get('pids');
  if (pids) out['pids'] = { current: readU64(path.join(pids, 'pids.current')), limit: limitOrZero(readU64(path.join(pids, 'pids.max'))) };
  const cpuacct = dirs.get('cpuacct');
  const cpu = dirs.get('cpu');
  if (cpuacct || cpu) {
    const usage: Record<string, unknown> = {};
    if (cpuacct) {
      usage['total'] = readU64(path.join(cpuacct, 'cpuacct.usage'));
      usage['per_cpu'] = (readText(path.join(cpuacct, 'cpuacct.usage_percpu')) ?? '').trim().split(/\s+/).filter(Boolean).map(toU64);
      const st = readKeyValues(path.join(cpuacct, 'cpuacct.stat'));
      const ns = (v: U64 | undefined): number => Math.round(Number(v ?? 0) * (1e9 / USER_HZ));
      usage['user'] = ns(st.get('user'));
      usage['kernel'] = ns(st.get('system'));
    }
    const th = cpu ? readKeyValues(path.join(cpu, 'cpu.stat')) : new Map<string, U64>();
    out['cpu'] = {
      usage,
      throttling: { periods: th.get('nr_periods') ?? 0, throttled_periods: th.get('nr_throttled') ?? 0, throttled_time: th.get('throttled_time') ?? 0 },
    };
  }
  const mem = dirs.get('memory');
  if (mem) {
    const raw = readKeyValues(path.join(mem, 'memory.stat'));
    const memory: Record<string, unknown> = {};
    const known = new Set<string>(V1_MEMORY_STAT_FIELDS);
    for (const [k, v] of raw) {
      const name = V1_MEMORY_KEY[k] ?? k;
      if (known.has(name)) memory[name] = v;
    }
    const entry = (prefix: string): object => ({
      usage: readU64(path.join(mem, `${prefix}.usage_in_bytes`)),
      max: readU64(path.join(mem, `${prefix}.max_usage_in_bytes`)),
      failcnt: readU64(path.join(mem, `${prefix}.failcnt`)),
      limit: readU64(path.join(mem, `${prefix}.limit_in_bytes`)),
    });
    memory['usage'] = entry('memory');
    memory['swap'] = entry('memory.memsw');
    memory['kernel'] = entry('memory.kmem');
    memory['kernel_tcp'] = entry('memory.kmem.tcp');
    out['memory'] = memory;
    const oom = readKeyValues(path.join(mem, 'memory.oom_control'));
    out['memory_oom_control'] = { oom_kill_disable: oom.get('oom_kill_disable') ?? 0, under_oom: oom.get('under_oom') ?? 0, oom_kill: oom.get('oom_kill') ?? 0 };
  }
  const blkio = dirs.get('blkio');
  if (blkio) {
    const files: [string, string][] = [
      ['io_service_bytes_recursive', 'io_service_bytes_recursive'],
      ['io_serviced_recursive', 'io_serviced_recursive'],
      ['io_queued_recursive', 'io_queued_recursive'],
      ['io_service_time_recursive', 'io_service_time_recursive'],
      ['io_wait_time_recursive', 'io_wait_time_recursive'],
      ['io_merged_recursive', 'io_merged_recursive'],
      ['io_time_recursive', 'time_recursive'],
      ['sectors_recursive', 'sectors_recursive'],
    ];
    const stat: Record<string, object[]> = {};
    const devices = parsePartitions(readText('/proc/partitions') ?? '');
    // containerd falls back to the throttle files when the CFQ ones are empty (other schedulers)
    const cfq = blkioEntries(path.join(blkio, 'blkio.io_serviced_recursive'), devices).length > 0;
    for (const [field, file] of files) {
      const p = cfq ? path.join(blkio, `blkio.${file}`) : path.join(blkio, `blkio.throttle.${file}`);
      if (!cfq && field !== 'io_service_bytes_recursive' && field !== 'io_serviced_recursive') continue;
      stat[field] = blkioEntries(p, devices);
    }
    out['blkio'] = stat;
  }
  return out;
}

function limitOrZero(v: U64): U64 {
  return v === U64_MAX ? 0 : v;
}

/**
 * "major:minor" → "/dev/<name>" from /proc/partitions (two header lines, then "major minor
 * #blocks name"), the first name of a number winning, as containerd/cgroups names the
 * device of a blkio entry.
 */
export function parsePartitions(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const line of text.split('\n').slice(2)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 4 || !/^\d+$/.test(f[0]!) || !/^\d+$/.test(f[1]!)) continue;
    const key = `${Number(f[0])}:${Number(f[1])}`;
    if (!out.has(key)) out.set(key, path.join('/dev', f[3]!));
  }
  return out;
}

function blkioEntries(p: string, devices: ReadonlyMap<string, string>): object[] {
  const out: object[] = [];
  for (const line of (readText(p) ?? '').split('\n')) {
    const parts = line.trim().split(/\s+/);
    if (parts.length < 2 || parts[0] === 'Total') continue;
    const dev = /^(\d+):(\d+)$/.exec(parts[0]!);
    if (!dev) continue;
    const [op, value] = parts.length === 3 ? [parts[1]!, parts[2]!] : ['', parts[1]!];
    out.push({ op, device: devices.get(`${Number(dev[1])}:${Number(dev[2])}`) ?? '', major: Number(dev[1]), minor: Number(dev[2]), value: toU64(value) });
  }
  return out;
}

// ---------------------------------------------------------------------------------
// OOM

/** Calls `onOom` each time the kernel OOM-kills in the cgroup, until closed or the cgroup goes away. */
export function watchOom(ref: CgroupRef, onOom: () => void, warn: (msg: string) => void): { close(): void } | undefined {
  return ref.mode === 'v2' ? watchOomV2(ref.dir, onOom, warn) : watchOomV1(ref.dirs.get('memory'), onOom, warn);
}

function oomKills(dir: string): number {
  const v = readKeyValues(path.join(dir, 'memory.events')).get('oom_kill');
  return Number(v ?? 0);
}

function watchOomV2(dir: string, onOom: () => void, warn: (msg: string) => void): { close(): void } | undefined {
  const file = path.join(dir, 'memory.events');
  if (!fs.existsSync(file)) return undefined;
  let last = oomKills(dir);
  let watcher: fs.FSWatcher;
  try {
    watcher = fs.watch(file, { persistent: false }, () => {
      const now = oomKills(dir);
      if (now > last) onOom();
      last = now;
    });
  } catch (err) {
    warn(`watch ${file}: ${(err as Error).message}`);
    return undefined;
  }
  watcher.on('error', () => watcher.close());
  return { close: () => watcher.close() };
}

function watchOomV1(dir: string | undefined, onOom: () => void, warn: (msg: string) => void): { close(): void } | undefined {
  if (!dir) return undefined;
  const control = path.join(dir, 'memory.oom_control');
  let efd = -1;
  let ofd = -1;
  let w: FdWatcher | undefined;
  const close = (): void => {
    w?.close();
    w = undefined;
    for (const fd of [efd, ofd]) {
      if (fd >= 0) {
        try {
          fs.closeSync(fd);
        } catch {
          // closed
        }
      }
    }
    efd = ofd = -1;
  };
  try {
    efd = eventfd();
    ofd = fs.openSync(control, 'r');
    fs.writeFileSync(path.join(dir, 'cgroup.event_control'), `${efd} ${ofd}`);
  } catch (err) {
    warn(`oom notification for ${dir}: ${(err as Error).message}`);
    close();
    return undefined;
  }
  const buf = Buffer.alloc(8);
  w = watchFd(efd, (err) => {
    if (err) return close();
    try {
      fs.readSync(efd, buf, 0, 8, null);
    } catch {
      return; // EAGAIN: spurious
    }
    // the eventfd also fires when the cgroup is removed
    if (!fs.existsSync(control)) return close();
    onOom();
  });
  w.unref();
  return { close };
}
