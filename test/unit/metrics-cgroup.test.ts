// Per-task cgroup metrics (src/metrics/cgroup-v1.ts, cgroup-v2.ts, task-metrics.ts):
// - the definitions against containerd v1.6.20's own metrics/cgroups/v1 and v2 sources in
//   Go's module cache (name, unit, help, labels), so that a drift is a failure;
// - cgroup v2 end to end over fixture files (these hosts are v1): the shim's reader turns
//   them into io.containerd.cgroups.v2.Metrics, the collector into text; every v2 family
//   present with the values of the files; promtool finds nothing but the naming findings
//   containerd's own names carry;
// - v1 the same way (hugetlb from a hand-made message: the shim does not read it);
// - a scrape's bound: a stuck shim is left out after the timeout, exited tasks and
//   unknown types are left out, and no more stats calls run at once than allowed; a large
//   scrape gives the event loop turns;
// - the daemon's task source: every namespace's tasks, labelled with their runtime.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errdefs/errors';
import { silentLogger } from '../../src/log/logger';
import { fullName, type CgroupMetric } from '../../src/metrics/cgroup-metric';
import { CGROUP_V1_METRICS } from '../../src/metrics/cgroup-v1';
import { CGROUP_V2_METRICS } from '../../src/metrics/cgroup-v2';
import { encodeText, encodeTextYielding } from '../../src/metrics/exposition';
import { TaskMetrics, type MonitoredTask, type TaskStatsAny } from '../../src/metrics/task-metrics';
import { daemonTaskSource } from '../../src/metrics/task-source';
import { parsePartitions, statsV1, statsV2 } from '../../src/shim/cgroups';
import { METRICS_V1, METRICS_V2, encodeMetrics } from '../../src/shim/metrics';
import { goModuleDirSync } from '../harness/go';
import { promtoolCheck } from '../harness/prometheus';

const CONTAINERD = goModuleDirSync('github.com/containerd/containerd') ?? '/nonexistent/github.com/containerd/containerd';

interface GoMetric {
  full: string;
  help: string;
  labels: string[];
  type: string;
}

/** The metric definitions of containerd's metrics/cgroups/<version>/*.go: the struct literals' fields. */
function containerdMetrics(version: 'v1' | 'v2'): GoMetric[] {
  const dir = path.join(CONTAINERD, 'metrics', 'cgroups', version);
  const out: GoMetric[] = [];
  const units: Record<string, string> = { 'metrics.Nanoseconds': 'nanoseconds', 'metrics.Bytes': 'bytes', 'metrics.Total': 'total', 'metrics.Seconds': 'seconds' };
  const re = /name:\s*"([^"]+)",\s*help:\s*"([^"]+)",\s*unit:\s*([^\n]+?),\s*vt:\s*prometheus\.(\w+),\s*(?:labels:\s*\[\]string\{([^}]*)\},)?/g;
  for (const f of fs.readdirSync(dir).filter((n) => n.endsWith('.go') && !n.endsWith('_test.go'))) {
    for (const m of fs.readFileSync(path.join(dir, f), 'utf8').matchAll(re)) {
      const [, name = '', help = '', unitExpr = '', vt = '', labels] = m;
      const unit = units[unitExpr] ?? /^metrics\.Unit\("([^"]+)"\)$/.exec(unitExpr)?.[1];
      if (unit === undefined) throw new Error(`unknown unit ${unitExpr} in ${f}`);
      out.push({ full: `container_${name}_${unit}`, help, labels: labels ? [...labels.matchAll(/"([^"]+)"/g)].map((x) => x[1] as string) : [], type: vt === 'GaugeValue' ? 'gauge' : vt });
    }
  }
  return out.sort((a, b) => a.full.localeCompare(b.full));
}

function ours(table: readonly CgroupMetric[]): GoMetric[] {
  return table.map((m) => ({ full: fullName(m), help: m.help, labels: [...(m.labels ?? [])], type: 'gauge' })).sort((a, b) => a.full.localeCompare(b.full));
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'metrics-cgroup-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function files(base: string, content: Record<string, string>): string {
  fs.mkdirSync(base, { recursive: true });
  for (const [f, v] of Object.entries(content)) fs.writeFileSync(path.join(base, f), v);
  return base;
}

/** A task of runtime io.containerd.runc.v2, or of none known (`runtime` null). */
function task(id: string, namespace: string, stats: MonitoredTask['stats'], runtime: string | null = 'io.containerd.runc.v2'): MonitoredTask {
  return { id, namespace, runtime: runtime ?? undefined, stats };
}

const fixed = (any: TaskStatsAny | null) => async (): Promise<TaskStatsAny | null> => any;

async function scrape(tasks: MonitoredTask[], opts: { timeoutMs?: number; concurrency?: number } = {}): Promise<string> {
  const m = new TaskMetrics({ tasks: async () => tasks }, { timeoutMs: opts.timeoutMs ?? 2000, concurrency: opts.concurrency ?? 4, log: silentLogger });
  return encodeText(await m.families());
}

function line(text: string, family: string, labels: string): number | undefined {
  const l = text.split('\n').find((x) => x.startsWith(`${family}{${labels}} `));
  return l === undefined ? undefined : Number(l.slice(l.lastIndexOf(' ') + 1));
}

/** The findings promtool has for containerd's own names (units other than seconds, _total on gauges). */
const CONTAINERD_NAMING = /^container_\w+ (non-counter metrics should not have "_total" suffix|use base unit "seconds" instead of "(nanoseconds|microseconds)")$/;

describe('definitions', () => {
  it('are containerd 1.6.20\'s cgroups v1 metrics: names, units, help, labels', () => {
    const theirs = containerdMetrics('v1');
    expect(theirs.length).toBeGreaterThan(60);
    expect(ours(CGROUP_V1_METRICS)).toEqual(theirs);
  });

  it('are containerd 1.6.20\'s cgroups v2 metrics: names, units, help, labels', () => {
    const theirs = containerdMetrics('v2');
    expect(theirs.length).toBeGreaterThan(40);
    expect(ours(CGROUP_V2_METRICS)).toEqual(theirs);
  });
});

describe('cgroup v2 (fixture files)', () => {
  it('writes every v2 family with the values of the files, labelled like containerd', async () => {
    const memoryStat = [
      'anon 4096', 'file 8192', 'kernel_stack 16384', 'slab 32768', 'sock 1', 'shmem 2', 'file_mapped 3', 'file_dirty 4', 'file_writeback 5',
      'anon_thp 6', 'inactive_anon 7', 'active_anon 8', 'inactive_file 9', 'active_file 10', 'unevictable 11', 'slab_reclaimable 12',
      'slab_unreclaimable 13', 'pgfault 14', 'pgmajfault 15', 'workingset_refault 16', 'workingset_activate 17', 'workingset_nodereclaim 18',
      'pgrefill 19', 'pgscan 20', 'pgsteal 21', 'pgactivate 22', 'pgdeactivate 23', 'pglazyfree 24', 'pglazyfreed 25', 'thp_fault_alloc 26',
      'thp_collapse_alloc 27',
    ].join('\n');
    const d = files(path.join(dir, 'v2'), {
      'memory.current': '1048576\n',
      'memory.max': 'max\n',
      'memory.swap.current': '512\n',
      'memory.swap.max': '2097152\n',
      'memory.stat': `${memoryStat}\n`,
      'memory.events': 'low 0\nhigh 0\nmax 3\noom 2\noom_kill 1\n',
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 7\nnr_throttled 3\nthrottled_usec 250\n',
      'pids.current': '3\n',
      'pids.max': '100\n',
      'io.stat': '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=2 rios=3 wios=4\n',
    });
    const any = { type_url: METRICS_V2, value: encodeMetrics(METRICS_V2, statsV2(d)) };
    const text = await scrape([task('web', 'k8s.io', fixed(any)), task('db', 'default', fixed({ ...any, type_url: `types.containerd.io/${METRICS_V2}` }), null)]);
    const web = 'container_id="web",namespace="k8s.io",runtime="io.containerd.runc.v2"';
    expect(line(text, 'container_memory_usage_bytes', web)).toBe(1048576);
    expect(line(text, 'container_memory_usage_limit_bytes', web)).toBe(18446744073709551615);
    expect(line(text, 'container_memory_swap_usage_bytes', web)).toBe(512);
    expect(line(text, 'container_memory_swap_limit_bytes', web)).toBe(2097152);
    expect(line(text, 'container_memory_anon_bytes', web)).toBe(4096);
    expect(line(text, 'container_memory_thp_collapse_alloc_bytes', web)).toBe(27);
    expect(line(text, 'container_memory_oom_total', web)).toBe(2);
    expect(line(text, 'container_cpu_usage_usec_microseconds', web)).toBe(1500);
    expect(line(text, 'container_cpu_user_usec_microseconds', web)).toBe(1000);
    expect(line(text, 'container_cpu_system_usec_microseconds', web)).toBe(500);
    expect(line(text, 'container_cpu_nr_periods_total', web)).toBe(7);
    expect(line(text, 'container_cpu_nr_throttled_total', web)).toBe(3);
    expect(line(text, 'container_cpu_throttled_usec_microseconds', web)).toBe(250);
    expect(line(text, 'container_pids_current', web)).toBe(3);
    expect(line(text, 'container_pids_limit', web)).toBe(100);
    expect(line(text, 'container_io_rbytes_bytes', 'container_id="web",major="8",minor="0",namespace="k8s.io",runtime="io.containerd.runc.v2"')).toBe(4096);
    expect(line(text, 'container_io_wios_total', 'container_id="web",major="253",minor="1",namespace="k8s.io",runtime="io.containerd.runc.v2"')).toBe(4);
    // A task whose runtime is unknown has no runtime label (the type URL's prefix does not matter).
    expect(line(text, 'container_memory_usage_bytes', 'container_id="db",namespace="default"')).toBe(1048576);
    // Every family containerd's v2 collector defines, once, as a gauge, with its help text.
    for (const m of CGROUP_V2_METRICS) {
      expect(text).toContain(`# HELP ${fullName(m)} ${m.help}\n# TYPE ${fullName(m)} gauge\n`);
    }
    expect(text.match(/^# TYPE /gm)).toHaveLength(new Set(CGROUP_V2_METRICS.map(fullName)).size);
    const check = promtoolCheck(text);
    expect(check.status).not.toBe(1);
    expect(check.findings.filter((f) => !CONTAINERD_NAMING.test(f))).toEqual([]);
  });

  it('leaves out the parts a message lacks, as containerd does for nil sub-messages', async () => {
    const any = { type_url: METRICS_V2, value: encodeMetrics(METRICS_V2, { pids: { current: 1 } }) };
    const text = await scrape([task('p', 'ns', fixed(any))]);
    expect(text.match(/^# TYPE (\S+)/gm)).toEqual(['# TYPE container_pids_current', '# TYPE container_pids_limit']);
  });
});

describe('cgroup v1 (fixture files)', () => {
  it('writes containerd\'s v1 families from the shim\'s v1 stats', async () => {
    const base = path.join(dir, 'v1');
    const dirs = new Map([
      ['memory', files(path.join(base, 'memory'), {
        'memory.stat': 'cache 100\nrss 200\npgpgin 5\ntotal_pgmajfault 6\nhierarchical_memory_limit 9223372036854771712\nhierarchical_memsw_limit 9223372036854771712\n',
        'memory.usage_in_bytes': '300\n', 'memory.max_usage_in_bytes': '400\n', 'memory.failcnt': '1\n', 'memory.limit_in_bytes': '16777216\n',
        'memory.memsw.usage_in_bytes': '300\n', 'memory.kmem.usage_in_bytes': '10\n', 'memory.kmem.tcp.max_usage_in_bytes': '20\n',
        'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
      })],
      ['cpuacct', files(path.join(base, 'cpuacct'), { 'cpuacct.usage': '123456789\n', 'cpuacct.usage_percpu': '100000000 23456789 \n', 'cpuacct.stat': 'user 10\nsystem 5\n' })],
      ['cpu', files(path.join(base, 'cpu'), { 'cpu.stat': 'nr_periods 4\nnr_throttled 1\nthrottled_time 77\n' })],
      ['pids', files(path.join(base, 'pids'), { 'pids.current': '2\n', 'pids.max': '50\n' })],
      ['blkio', files(path.join(base, 'blkio'), {
        'blkio.io_serviced_recursive': 'Total 0\n',
        'blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 0\nTotal 4096\n',
        'blkio.throttle.io_serviced_recursive': '8:0 Read 1\nTotal 1\n',
      })],
    ]);
    const text = await scrape([task('c1', 'default', fixed({ type_url: METRICS_V1, value: encodeMetrics(METRICS_V1, statsV1(dirs)) }))]);
    const c1 = 'container_id="c1",namespace="default",runtime="io.containerd.runc.v2"';
    expect(line(text, 'container_cpu_total_nanoseconds', c1)).toBe(123456789);
    expect(line(text, 'container_cpu_user_nanoseconds', c1)).toBe(100000000);
    expect(line(text, 'container_cpu_kernel_nanoseconds', c1)).toBe(50000000);
    expect(line(text, 'container_per_cpu_nanoseconds', 'container_id="c1",cpu="0",namespace="default",runtime="io.containerd.runc.v2"')).toBe(100000000);
    expect(line(text, 'container_per_cpu_nanoseconds', 'container_id="c1",cpu="1",namespace="default",runtime="io.containerd.runc.v2"')).toBe(23456789);
    expect(line(text, 'container_cpu_throttle_periods_total', c1)).toBe(4);
    expect(line(text, 'container_cpu_throttled_periods_total', c1)).toBe(1);
    expect(line(text, 'container_cpu_throttled_time_nanoseconds', c1)).toBe(77);
    expect(line(text, 'container_memory_cache_bytes', c1)).toBe(100);
    expect(line(text, 'container_memory_pgpgin_bytes', c1)).toBe(5);
    expect(line(text, 'container_memory_total_pgmajfault_bytes', c1)).toBe(6);
    expect(line(text, 'container_memory_hierarchical_memsw_limit_bytes', c1)).toBe(9223372036854771712);
    expect(line(text, 'container_memory_usage_usage_bytes', c1)).toBe(300);
    expect(line(text, 'container_memory_usage_max_bytes', c1)).toBe(400);
    expect(line(text, 'container_memory_usage_failcnt_total', c1)).toBe(1);
    expect(line(text, 'container_memory_usage_limit_bytes', c1)).toBe(16777216);
    expect(line(text, 'container_memory_kernel_usage_bytes', c1)).toBe(10);
    expect(line(text, 'container_memory_kerneltcp_max_bytes', c1)).toBe(20);
    expect(line(text, 'container_pids_current', c1)).toBe(2);
    expect(line(text, 'container_pids_limit', c1)).toBe(50);
    // The device is named from this host's /proc/partitions (as containerd/cgroups does): "" if it has no 8:0.
    const name = parsePartitions(fs.readFileSync('/proc/partitions', 'utf8')).get('8:0') ?? '';
    const dev = (op: string): string => `container_id="c1",device="${name}",major="8",minor="0",namespace="default",op="${op}",runtime="io.containerd.runc.v2"`;
    expect(line(text, 'container_blkio_io_service_bytes_recursive_bytes', dev('Read'))).toBe(4096);
    expect(line(text, 'container_blkio_io_service_bytes_recursive_bytes', dev('Write'))).toBe(0);
    expect(line(text, 'container_blkio_io_serviced_recursive_total', dev('Read'))).toBe(1);
    // containerd writes a family only when the stats have entries for it.
    expect(text).not.toContain('container_blkio_io_merged_recursive_total');
    expect(text).not.toContain('container_hugetlb_');
    const check = promtoolCheck(text);
    expect(check.status).not.toBe(1);
    expect(check.findings.filter((f) => !CONTAINERD_NAMING.test(f))).toEqual([]);
  });

  it('writes hugetlb entries by page size', async () => {
    const value = encodeMetrics(METRICS_V1, { hugetlb: [{ usage: 2097152, max: 4194304, failcnt: 1, pagesize: '2MB' }, { usage: 0, max: 0, failcnt: 0, pagesize: '1GB' }] });
    const text = await scrape([task('h', 'ns', fixed({ type_url: METRICS_V1, value }))]);
    const page = (p: string): string => `container_id="h",namespace="ns",page="${p}",runtime="io.containerd.runc.v2"`;
    expect(line(text, 'container_hugetlb_usage_bytes', page('2MB'))).toBe(2097152);
    expect(line(text, 'container_hugetlb_max_bytes', page('2MB'))).toBe(4194304);
    expect(line(text, 'container_hugetlb_failcnt_total', page('2MB'))).toBe(1);
    expect(line(text, 'container_hugetlb_usage_bytes', page('1GB'))).toBe(0);
  });
});

describe('a scrape', () => {
  const good = { type_url: METRICS_V2, value: encodeMetrics(METRICS_V2, { pids: { current: 4, limit: 8 } }) };

  it('is bounded: a stuck shim is left out once the time is up; exited tasks and unknown types are left out', async () => {
    let aborted = false;
    const stuck = (opts: { signal: AbortSignal }): Promise<TaskStatsAny | null> =>
      new Promise((_, reject) => opts.signal.addEventListener('abort', () => {
        aborted = true;
        reject(new Error('aborted'));
      }));
    const t0 = Date.now();
    const text = await scrape(
      [
        task('stuck', 'ns', stuck),
        task('gone', 'ns', async () => {
          throw new NotFoundError('task gone: no metrics, its shim exited');
        }),
        task('odd', 'ns', fixed({ type_url: 'example.com/Other', value: Buffer.alloc(0) })),
        task('none', 'ns', fixed(null)),
        task('ok', 'ns', fixed(good)),
      ],
      { timeoutMs: 300 },
    );
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(290);
    expect(took).toBeLessThan(2000);
    expect(aborted).toBe(true);
    expect(text.match(/container_id="(\w+)"/g)?.every((m) => m === 'container_id="ok"')).toBe(true);
    expect(line(text, 'container_pids_current', 'container_id="ok",namespace="ns",runtime="io.containerd.runc.v2"')).toBe(4);
  });

  it('asks no more shims at once than its concurrency', async () => {
    let now = 0;
    let peak = 0;
    const slow = async (): Promise<TaskStatsAny> => {
      now++;
      peak = Math.max(peak, now);
      await new Promise((r) => setTimeout(r, 20));
      now--;
      return good;
    };
    const text = await scrape(Array.from({ length: 9 }, (_, i) => task(`t${i}`, 'ns', slow)), { concurrency: 3 });
    expect(peak).toBe(3);
    expect(text.match(/^container_pids_current\{/gm)).toHaveLength(9);
  });
});

describe('a large scrape', () => {
  it('gives the event loop turns while it turns hundreds of tasks into text', async () => {
    const value = encodeMetrics(METRICS_V1, {
      pids: { current: 1, limit: 10 },
      cpu: { usage: { total: 5, per_cpu: [3, 2] } },
      memory: { cache: 1, rss: 2, usage: { usage: 4096, limit: 8192 } },
    });
    const tasks = Array.from({ length: 300 }, (_, i) => task(`t${i}`, 'k8s.io', fixed({ type_url: METRICS_V1, value })));
    let turns = 0;
    let stop = false;
    const tick = (): void => {
      if (stop) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const m = new TaskMetrics({ tasks: async () => tasks }, { timeoutMs: 5000, concurrency: 16, log: silentLogger });
    const text = await encodeTextYielding(await m.families());
    stop = true;
    // 300 tasks: ten turns while building the series, more while writing them.
    expect(turns).toBeGreaterThanOrEqual(10);
    expect(text.match(/^container_memory_usage_usage_bytes\{/gm)).toHaveLength(300);
    expect(text.match(/^container_per_cpu_nanoseconds\{/gm)).toHaveLength(600);
    expect(text).toBe(encodeText(await m.families()));
  });
});

describe('daemonTaskSource', () => {
  it('lists every namespace\'s tasks with their container\'s runtime', async () => {
    const stats = async (): Promise<TaskStatsAny | null> => null;
    const source = daemonTaskSource({
      namespaces: { list: async () => [{ name: 'a' }, { name: 'b' }, { name: 'empty' }] },
      containers: {
        get: async (ns, id) => {
          if (id === 'orphan') throw new NotFoundError(`container "${id}" in namespace "${ns}": not found`);
          return { runtime: { name: ns === 'a' ? 'io.containerd.runc.v2' : 'io.containerd.runtime.v1.linux' } };
        },
      },
      tasks: {
        list: (ns) => (ns === 'a' ? [{ id: 'x', namespace: 'a', stats }, { id: 'orphan', namespace: 'a', stats }] : ns === 'b' ? [{ id: 'y', namespace: 'b', stats }] : []),
      },
    });
    const tasks = await source.tasks();
    expect(tasks.map((t) => [t.namespace, t.id, t.runtime])).toEqual([
      ['a', 'x', 'io.containerd.runc.v2'],
      ['a', 'orphan', undefined],
      ['b', 'y', 'io.containerd.runtime.v1.linux'],
    ]);
  });
});
