// berthd's [metrics] endpoint next to containerd 1.6.20's, each with a busybox container
// running (ctr run -d) and grpc_histogram on:
// - promtool check metrics finds no error in berthd's output, and nothing containerd's own
//   output does not have too (its cgroup names carry naming findings: nanoseconds, _total
//   on gauges);
// - the cgroup (container_*), gRPC (grpc_server_*), process and promhttp families have the
//   same names, types and label sets on both daemons, the gRPC series cover every method
//   containerd counts, and each container's series carry its id, namespace and runtime;
// - a real Prometheus on loopback scrapes berthd every second; queried through its HTTP
//   API, the container's memory and CPU are above zero, and the count of handled Version
//   calls grows by the calls the test makes;
// - a deleted task's series are gone from the next scrape; the endpoint answers 404
//   elsewhere and gzips for a client that asks;
// - a metrics address in use fails berthd's start, as it fails containerd's.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctr, freeLoopbackPort, makeTempRoot, promtoolCheck, startBerthd, startPrometheus, type PrometheusHandle, type TempRoot } from '../harness';
import { SideBySide, ctrOn, removeTask, uid, type Side } from './sides';

const IMAGE = 'docker.io/library/metrics-busybox:1';

interface Family {
  type: string;
  /** Sorted label names of each series, as "a,b,c". */
  labelSets: Set<string>;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

/** Parses the text format into families (samples of histograms under their family's name). */
function parse(text: string): Map<string, Family> {
  const out = new Map<string, Family>();
  const types = new Map<string, string>();
  for (const line of text.split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1] as string, t[2] as string);
    if (line === '' || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`unparsable line: ${line}`);
    let name = m[1] as string;
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (!types.has(name) && types.get(base) === 'histogram') name = base;
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1] as string] = l[2] as string;
    let fam = out.get(name);
    if (!fam) out.set(name, (fam = { type: types.get(name) ?? 'untyped', labelSets: new Set(), samples: [] }));
    fam.labelSets.add(Object.keys(labels).sort().join(','));
    fam.samples.push({ labels, value: Number(m[3]) });
  }
  return out;
}

/** Families with a name in one of the compared groups. */
const COMPARED = /^(container_|grpc_server_|process_|promhttp_)/;

let tmp: TempRoot;
let pair: SideBySide;
let prom: PrometheusHandle | undefined;
const ports = { berthd: 0, containerd: 0 };
const ids = { B: '', C: '' };

async function scrape(side: 'berthd' | 'containerd'): Promise<string> {
  const r = await fetch(`http://127.0.0.1:${ports[side]}/v1/metrics`);
  expect(r.status).toBe(200);
  expect(r.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  return r.text();
}

beforeAll(async () => {
  tmp = makeTempRoot('berth-metrics-');
  ports.berthd = await freeLoopbackPort();
  ports.containerd = await freeLoopbackPort();
  const config = path.join(tmp.path, 'berthd.toml');
  fs.writeFileSync(config, `[metrics]\naddress = "127.0.0.1:${ports.berthd}"\ngrpc_histogram = true\n`);
  pair = await SideBySide.start({
    prefix: 'metrics',
    image: IMAGE,
    berthd: { config },
    containerd: { metricsAddress: `127.0.0.1:${ports.containerd}`, grpcHistogram: true },
  });
  ids.B = pair.track(pair.B, uid('mx'));
  ids.C = pair.track(pair.C, uid('mx'));
  // A shell that has touched some memory, then sleeps.
  const run = (s: Side, id: string) => ctrOn(s, ['run', '-d', IMAGE, id, 'sh', '-c', 'x=$(busybox yes | busybox head -c 1048576); busybox sleep 300']);
  const [b, c] = await Promise.all([run(pair.B, ids.B), run(pair.C, ids.C)]);
  expect(b.stderr).toBe('');
  expect(c.stderr).toBe('');
  prom = await startPrometheus([{ job: 'berthd', address: `127.0.0.1:${ports.berthd}`, metricsPath: '/v1/metrics' }], 1);
}, 60_000);

afterAll(async () => {
  await prom?.stop();
  await pair?.cleanup();
  await tmp?.cleanup();
}, 60_000);

describe('[metrics] endpoint', () => {
  it('passes promtool: no error, no finding containerd\'s own output does not have', async () => {
    const [b, c] = await Promise.all([scrape('berthd'), scrape('containerd')]);
    const pb = promtoolCheck(b);
    const pc = promtoolCheck(c);
    // 0: clean, 3: lint findings only (1 would be a parse error).
    expect([0, 3]).toContain(pb.status);
    expect(pb.findings.length).toBeGreaterThan(0); // containerd's cgroup names: the comparison below means something
    expect(pb.findings.filter((f) => !pc.findings.includes(f))).toEqual([]);
  });

  it('has containerd\'s cgroup, gRPC, process and promhttp families: names, types, label sets', async () => {
    const [b, c] = (await Promise.all([scrape('berthd'), scrape('containerd')])).map(parse) as [Map<string, Family>, Map<string, Family>];
    const names = (m: Map<string, Family>): string[] => [...m.keys()].filter((n) => COMPARED.test(n)).sort();
    expect(names(b)).toEqual(names(c));
    expect(names(b)).toEqual(expect.arrayContaining([
      'container_cpu_total_nanoseconds', 'container_memory_usage_usage_bytes', 'container_pids_current', 'container_per_cpu_nanoseconds',
      'grpc_server_started_total', 'grpc_server_handled_total', 'grpc_server_msg_received_total', 'grpc_server_msg_sent_total', 'grpc_server_handling_seconds',
      'process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_start_time_seconds',
    ]));
    for (const n of names(c)) {
      expect({ n, type: b.get(n)?.type, labels: [...(b.get(n)?.labelSets ?? [])].sort() }).toEqual({ n, type: c.get(n)?.type, labels: [...(c.get(n)?.labelSets ?? [])].sort() });
    }
    // Every method containerd counts, berthd counts too (berthd may serve more services).
    const methods = (m: Map<string, Family>): Set<string> => new Set(m.get('grpc_server_started_total')?.samples.map((s) => `${s.labels['grpc_service']}/${s.labels['grpc_method']} ${s.labels['grpc_type']}`));
    const missing = [...methods(c)].filter((x) => !methods(b).has(x));
    expect(missing).toEqual([]);
    // Each side's container is there under its own id, namespace and runtime.
    for (const [fams, side, id] of [[b, pair.B, ids.B], [c, pair.C, ids.C]] as const) {
      const mem = fams.get('container_memory_usage_usage_bytes')?.samples.filter((s) => s.labels['container_id'] === id) ?? [];
      expect(mem.map((s) => s.labels)).toEqual([{ container_id: id, namespace: side.ns, runtime: 'io.containerd.runc.v2' }]);
      expect(mem[0]?.value).toBeGreaterThan(0);
    }
  });

  it('is scraped by a real Prometheus: memory and CPU of the container, handled calls that grow', async () => {
    const p = prom as PrometheusHandle;
    const sel = `{container_id="${ids.B}",job="berthd"}`;
    const mem = await p.waitFor(`container_memory_usage_usage_bytes${sel}`, (r) => r.length === 1, 15_000);
    expect(mem).toHaveLength(1);
    expect(mem[0]?.metric).toMatchObject({ container_id: ids.B, namespace: pair.B.ns, runtime: 'io.containerd.runc.v2' });
    // The shell held a 1 MiB string: well above zero, and below anything absurd.
    expect(mem[0]?.value).toBeGreaterThan(64 * 1024);
    expect(mem[0]?.value).toBeLessThan(1024 * 1024 * 1024);
    const cpu = await p.query(`container_cpu_total_nanoseconds${sel}`);
    expect(cpu[0]?.value).toBeGreaterThan(0);
    const pids = await p.query(`container_pids_current${sel}`);
    expect(pids[0]?.value).toBeGreaterThanOrEqual(1);
    expect((await p.query('process_resident_memory_bytes{job="berthd"}'))[0]?.value).toBeGreaterThan(10 * 1024 * 1024);

    const handled = 'grpc_server_handled_total{job="berthd",grpc_service="containerd.services.version.v1.Version",grpc_method="Version",grpc_code="OK"}';
    const before = (await p.waitFor(handled, (r) => r.length === 1, 5_000))[0]?.value ?? NaN;
    for (let i = 0; i < 3; i++) expect((await ctr(pair.B.address, ['version'])).code).toBe(0);
    const after = await p.waitFor(handled, (r) => (r[0]?.value ?? 0) >= before + 3, 10_000);
    expect(after[0]?.value).toBe(before + 3);
    const timed = await p.query('grpc_server_handling_seconds_count{job="berthd",grpc_method="Version"}');
    expect(timed[0]?.value).toBeGreaterThanOrEqual(3);
    const targets = await p.targets();
    expect(targets).toEqual([{ job: 'berthd', health: 'up', lastError: '' }]);
  });

  it('drops a deleted task\'s series; answers 404 elsewhere; gzips when asked', async () => {
    await removeTask(pair.B, ids.B);
    const text = await scrape('berthd');
    expect(text).not.toContain(`container_id="${ids.B}"`);
    expect(text).toContain('grpc_server_started_total{');

    const other = await fetch(`http://127.0.0.1:${ports.berthd}/metrics`);
    expect(other.status).toBe(404);
    await other.text();
    const zipped = await new Promise<Buffer>((resolve, reject) => {
      // fetch would unzip on its own: read the raw bytes.
      import('node:http').then(({ get }) => {
        get({ host: '127.0.0.1', port: ports.berthd, path: '/v1/metrics', headers: { 'accept-encoding': 'gzip' } }, (res) => {
          expect(res.headers['content-encoding']).toBe('gzip');
          const parts: Buffer[] = [];
          res.on('data', (d: Buffer) => parts.push(d));
          res.on('end', () => resolve(Buffer.concat(parts)));
          res.on('error', reject);
        }).on('error', reject);
      }, reject);
    });
    expect(gunzipSync(zipped).toString()).toContain('# TYPE grpc_server_handled_total counter');
  });

  it('fails the start when its address is taken, as containerd does', async () => {
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(0, '127.0.0.1', resolve));
    try {
      const config = path.join(tmp.path, 'taken.toml');
      fs.writeFileSync(config, `[metrics]\naddress = "127.0.0.1:${(holder.address() as net.AddressInfo).port}"\n`);
      await expect(startBerthd({ config, startTimeoutMs: 15_000 })).rejects.toThrow(/EADDRINUSE/);
    } finally {
      holder.close();
    }
  });
});
