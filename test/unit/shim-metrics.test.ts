// Stats and cgroup lookup of the shim (src/shim/cgroups.ts, metrics.ts): cgroup files →
// io.containerd.cgroups.v1|v2.Metrics, and the field numbers of those hand-defined
// messages against github.com/containerd/cgroups' own .proto files when they are installed.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parsePartitions, parseProcCgroup, readStats, statsV1, statsV2 } from '../../src/shim/cgroups';
import { METRICS_V1, METRICS_V2, decodeMetrics, encodeMetrics, metricsType } from '../../src/shim/metrics';
import type * as protobuf from 'protobufjs/light';
import { goModuleDirSync } from '../harness/go';

// containerd/cgroups at the version test/go/go.mod pins (containerd 1.6.20's), from Go's module cache.
const GO_CGROUPS = goModuleDirSync('github.com/containerd/cgroups') ?? '/nonexistent/github.com/containerd/cgroups';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-metrics-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function files(base: string, content: Record<string, string>): string {
  fs.mkdirSync(base, { recursive: true });
  for (const [f, v] of Object.entries(content)) fs.writeFileSync(path.join(base, f), v);
  return base;
}

describe('parseProcCgroup', () => {
  it('v2: the 0:: line', () => {
    expect(parseProcCgroup('0::/ns/c1\n', true, '/cg')).toEqual({ mode: 'v2', dir: '/cg/ns/c1' });
  });
  it('v1/hybrid: one directory per controller (named hierarchies and the v2 line skipped)', () => {
    const ref = parseProcCgroup('12:pids:/ns/c1\n4:memory:/ns/c1\n3:cpu,cpuacct:/ns/c1\n1:name=systemd:/x\n0::/x\n', false, '/nonexistent');
    expect(ref?.mode).toBe('v1');
    const dirs = (ref as { dirs: Map<string, string> }).dirs;
    expect(dirs.get('memory')).toBe('/nonexistent/memory/ns/c1');
    expect(dirs.get('cpu')).toBe('/nonexistent/cpu,cpuacct/ns/c1');
    expect(dirs.get('cpuacct')).toBe('/nonexistent/cpu,cpuacct/ns/c1');
    expect(dirs.has('name=systemd')).toBe(false);
  });
});

describe('cgroup v2 stats', () => {
  it('reads memory, cpu, pids, io and memory events; "max" is 2^64-1', () => {
    const d = files(path.join(dir, 'v2'), {
      'memory.current': '1048576\n',
      'memory.max': 'max\n',
      'memory.swap.current': '0\n',
      'memory.swap.max': '0\n',
      'memory.stat': 'anon 4096\nfile 8192\npgfault 12\nworkingset_refault_anon 1\nthp_fault_alloc 2\n',
      'memory.events': 'low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n',
      'cpu.stat': 'usage_usec 1500\nuser_usec 1000\nsystem_usec 500\nnr_periods 0\nnr_throttled 0\nthrottled_usec 0\n',
      'pids.current': '3\n',
      'pids.max': '100\n',
      'io.stat': '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n',
    });
    const s = readStats({ mode: 'v2', dir: d });
    expect(s.typeUrl).toBe(METRICS_V2);
    expect(decodeMetrics(METRICS_V2, s.value)).toEqual({
      pids: { current: '3', limit: '100' },
      cpu: { usage_usec: '1500', user_usec: '1000', system_usec: '500' },
      memory: { anon: '4096', file: '8192', pgfault: '12', thp_fault_alloc: '2', usage: '1048576', usage_limit: '18446744073709551615' },
      io: { usage: [{ major: '8', rbytes: '4096', wbytes: '8192', rios: '1', wios: '2' }] },
      memory_events: { max: '3', oom: '1', oom_kill: '1' },
    });
    expect(statsV2(path.join(dir, 'missing'))).toMatchObject({ pids: { current: 0, limit: 0 } });
  });
});

describe('/proc/partitions', () => {
  it('names blkio devices as containerd/cgroups does: /dev/<name>, the first name of a number', () => {
    const m = parsePartitions('major minor  #blocks  name\n\n 254        0  268435456 vda\n 254        1  1024 vda1\n   8        0  100 sda\n   8        0  100 sdz\n');
    expect([...m]).toEqual([['254:0', '/dev/vda'], ['254:1', '/dev/vda1'], ['8:0', '/dev/sda']]);
    expect(parsePartitions('')).toEqual(new Map());
  });
});

describe('cgroup v1 stats', () => {
  it('reads the memory, cpu, cpuacct, pids and blkio hierarchies like containerd/cgroups', () => {
    const mem = files(path.join(dir, 'v1', 'memory'), {
      'memory.stat': 'cache 100\nrss 200\npgpgin 5\ntotal_pgmajfault 6\nhierarchical_memsw_limit 9223372036854771712\nunknown_key 1\n',
      'memory.usage_in_bytes': '300\n', 'memory.max_usage_in_bytes': '400\n', 'memory.failcnt': '0\n', 'memory.limit_in_bytes': '16777216\n',
      'memory.memsw.usage_in_bytes': '300\n', 'memory.kmem.usage_in_bytes': '10\n',
      'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 2\n',
    });
    const cpuacct = files(path.join(dir, 'v1', 'cpuacct'), { 'cpuacct.usage': '123456789\n', 'cpuacct.usage_percpu': '100000000 23456789 \n', 'cpuacct.stat': 'user 10\nsystem 5\n' });
    const cpu = files(path.join(dir, 'v1', 'cpu'), { 'cpu.stat': 'nr_periods 4\nnr_throttled 1\nthrottled_time 77\n' });
    const pids = files(path.join(dir, 'v1', 'pids'), { 'pids.current': '2\n', 'pids.max': 'max\n' });
    const blkio = files(path.join(dir, 'v1', 'blkio'), {
      'blkio.io_serviced_recursive': 'Total 0\n',
      'blkio.throttle.io_service_bytes_recursive': '8:0 Read 4096\n8:0 Write 0\nTotal 4096\n',
      'blkio.throttle.io_serviced_recursive': '8:0 Read 1\nTotal 1\n',
    });
    const ref = { mode: 'v1' as const, dirs: new Map([['memory', mem], ['cpuacct', cpuacct], ['cpu', cpu], ['pids', pids], ['blkio', blkio]]) };
    const s = readStats(ref);
    expect(s.typeUrl).toBe(METRICS_V1);
    const m = decodeMetrics(METRICS_V1, s.value);
    expect(m).toMatchObject({
      pids: { current: '2' }, // unlimited: 0, omitted
      cpu: { usage: { total: '123456789', per_cpu: ['100000000', '23456789'], user: '100000000', kernel: '50000000' }, throttling: { periods: '4', throttled_periods: '1', throttled_time: '77' } },
      memory: {
        cache: '100', rss: '200', pg_pg_in: '5', total_pg_maj_fault: '6', hierarchical_swap_limit: '9223372036854771712',
        usage: { usage: '300', max: '400', limit: '16777216' }, swap: { usage: '300' }, kernel: { usage: '10' },
      },
      blkio: {
        io_service_bytes_recursive: [{ op: 'Read', major: '8', value: '4096' }, { op: 'Write', major: '8' }],
        io_serviced_recursive: [{ op: 'Read', major: '8', value: '1' }],
      },
      memory_oom_control: { oom_kill: '2' },
    });
    expect(statsV1(new Map())).toEqual({});
  });
});

/** message name → field name → number, from a .proto file. */
function protoFields(file: string): Map<string, Map<string, number>> {
  const out = new Map<string, Map<string, number>>();
  const text = fs.readFileSync(file, 'utf8').replace(/\/\/.*$/gm, '');
  for (const m of text.matchAll(/message\s+(\w+)\s*\{([^}]*)\}/g)) {
    const fields = new Map<string, number>();
    for (const f of m[2]!.matchAll(/(?:repeated\s+)?[\w.]+\s+(\w+)\s*=\s*(\d+)/g)) fields.set(f[1]!, Number(f[2]));
    out.set(m[1]!, fields);
  }
  return out;
}

describe.each([
  [METRICS_V1, path.join(GO_CGROUPS, 'stats', 'v1', 'metrics.proto')],
  [METRICS_V2, path.join(GO_CGROUPS, 'v2', 'stats', 'metrics.proto')],
] as const)('%s field numbers', (typeName, protoFile) => {
  it.skipIf(!fs.existsSync(protoFile))(`match ${protoFile}`, () => {
    const go = protoFields(protoFile);
    const seen = new Set<string>();
    const check = (t: protobuf.Type): void => {
      if (seen.has(t.name)) return;
      seen.add(t.name);
      const goFields = go.get(t.name);
      expect(goFields, t.name).toBeDefined();
      for (const f of t.fieldsArray) {
        expect([t.name, f.name, f.id]).toEqual([t.name, f.name, goFields!.get(f.name)]);
        f.resolve();
        if (f.resolvedType && 'fieldsArray' in f.resolvedType) check(f.resolvedType as protobuf.Type);
      }
    };
    check(metricsType(typeName));
    expect(seen.size).toBeGreaterThan(5);
  });
});

it('encodes values beyond 2^53 exactly', () => {
  const b = encodeMetrics(METRICS_V2, { memory: { usage_limit: '18446744073709551615', usage: 9007199254740993 } });
  expect(decodeMetrics(METRICS_V2, b)).toEqual({ memory: { usage_limit: '18446744073709551615', usage: '9007199254740992' } });
});
