// Benchmark (not a test): running containers, berthd vs a real containerd in one run,
// same ctr, same runc, same image. Prints ratios (berthd / containerd; lower is better).
//
//   npx tsx bench/run.ts [--runs 15] [--warmup 2] [--sleepers 20] [--parallel 50]
//
// 1. `ctr run --rm IMG id /bin/true` wall time, alternating daemons, median (goal ≤ 0.8),
//    after --warmup runs on each daemon (berthd's JavaScript reaches its steady speed
//    over its first few dozen commands; containerd's Go does not need that).
// 2. Memory per running container: (daemon RSS + RSS of every shim serving it) / N, with
//    N sleeping containers (goal ≤ 0.5).
// 3. N containers started concurrently (`ctr run -d` in parallel): time until all RUNNING.
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildOciImage, busyboxLayer } from '../test/fixtures/images';
import { ctr, ctrOk, makeTempRoot, startBerthd, startContainerd, type DaemonHandle } from '../test/harness';
import { HostLeftovers } from '../test/harness/host-leftovers';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '2' },
    sleepers: { type: 'string', default: '20' },
    parallel: { type: 'string', default: '50' },
  },
});
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
const SLEEPERS = Number(values.sleepers);
const PARALLEL = Number(values.parallel);
const IMAGE = 'docker.io/library/bench-busybox:1';
const NS = 'bench';

const ms = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** VmRSS of a pid in kB (0 if gone). */
function rssKb(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/**
 * Shim processes serving a daemon: containerd's shims name the daemon's socket on their
 * command line; berth's one shared shim records its pid beside its socket
 * (<dir of the daemon socket>/s/<hash>.pid, "<pid> <starttime>").
 */
function shimPids(address: string): number[] {
  const out: number[] = [];
  const sdir = join(dirname(address), 's');
  if (existsSync(sdir)) {
    for (const f of readdirSync(sdir)) {
      if (!f.endsWith('.pid')) continue;
      const pid = Number.parseInt(readFileSync(join(sdir, f), 'utf8'), 10);
      if (pid > 0) out.push(pid);
    }
  }
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      if (cmd.some((a) => a.includes('containerd-shim')) && cmd.includes(address) && !out.includes(Number(d))) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

async function cleanupTasks(d: DaemonHandle, prefix: string): Promise<void> {
  const ls = await ctr(d.address, ['containers', 'ls', '-q'], { namespace: NS });
  for (const id of ls.stdout.split('\n').filter((x) => x.startsWith(prefix))) {
    await ctr(d.address, ['tasks', 'kill', '-s', 'SIGKILL', id], { namespace: NS });
    await ctr(d.address, ['tasks', 'rm', '-f', id], { namespace: NS });
    await ctr(d.address, ['containers', 'rm', id], { namespace: NS });
  }
}

async function main(): Promise<void> {
  const tmp = makeTempRoot('berth-bench-run-');
  const archive = join(tmp.path, 'busybox.tar');
  writeFileSync(archive, (await buildOciImage({ name: IMAGE, layers: [await busyboxLayer()] })).archive);
  const leftovers = HostLeftovers.snapshot(); // runc's 'bench' namespace cgroups and state dirs
  const berthd = await startBerthd({ logLevel: 'warn' });
  const containerd = await startContainerd();
  const daemons: Array<[string, DaemonHandle]> = [['berthd', berthd], ['containerd', containerd]];
  const rows: Array<{ name: string; b: number; c: number; unit: string }> = [];
  try {
    for (const [, d] of daemons) await ctrOk(d.address, ['images', 'import', archive], { namespace: NS });

    // 1. run --rm latency (WARMUP runs each, then alternating).
    const lat: Record<string, number[]> = { berthd: [], containerd: [] };
    for (let r = -WARMUP; r < RUNS; r++) {
      const order = r % 2 === 0 ? daemons : [...daemons].reverse();
      for (const [name, d] of order) {
        const t = process.hrtime.bigint();
        await ctrOk(d.address, ['run', '--rm', IMAGE, `lat-${r + WARMUP}`, '/bin/true'], { namespace: NS });
        if (r >= 0) lat[name]!.push(ms(t));
      }
    }
    rows.push({ name: 'ctr run --rm busybox /bin/true', b: median(lat.berthd!), c: median(lat.containerd!), unit: 'ms' });

    // 2. memory with N sleepers.
    const mem: Record<string, number> = {};
    for (const [name, d] of daemons) {
      for (let i = 0; i < SLEEPERS; i++) {
        await ctrOk(d.address, ['run', '-d', IMAGE, `sleep-${i}`, '/bin/sleep', '3600'], { namespace: NS });
      }
      await new Promise((r) => setTimeout(r, 1000));
      const shims = shimPids(d.address);
      const total = rssKb(d.pid) + shims.reduce((s, p) => s + rssKb(p), 0);
      mem[name] = total / SLEEPERS / 1024;
      process.stderr.write(`${name}: daemon ${(rssKb(d.pid) / 1024).toFixed(1)} MB + ${shims.length} shim process(es) ${(shims.reduce((s, p) => s + rssKb(p), 0) / 1024).toFixed(1)} MB for ${SLEEPERS} containers\n`);
      await cleanupTasks(d, 'sleep-');
    }
    rows.push({ name: `memory per container (N=${SLEEPERS})`, b: mem.berthd!, c: mem.containerd!, unit: 'MB' });

    // 3. N concurrent starts.
    const par: Record<string, number> = {};
    for (const [name, d] of daemons) {
      const t = process.hrtime.bigint();
      await Promise.all(
        Array.from({ length: PARALLEL }, (_, i) =>
          ctrOk(d.address, ['run', '-d', IMAGE, `par-${i}`, '/bin/sleep', '3600'], { namespace: NS, timeoutMs: 300_000 }),
        ),
      );
      par[name] = ms(t);
      const running = (await ctrOk(d.address, ['tasks', 'ls'], { namespace: NS })).stdout.split('\n').filter((l) => /RUNNING/.test(l)).length;
      if (running !== PARALLEL) throw new Error(`${name}: ${running} of ${PARALLEL} running`);
      await cleanupTasks(d, 'par-');
    }
    rows.push({ name: `${PARALLEL} containers started concurrently`, b: par.berthd!, c: par.containerd!, unit: 'ms' });
  } finally {
    for (const [, d] of daemons) {
      await cleanupTasks(d, '').catch(() => undefined);
    }
    await berthd.cleanup();
    await containerd.cleanup();
    await tmp.cleanup();
    await leftovers.removeNew();
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${'measure'.padEnd(w)}  ${'berthd'.padStart(10)}  ${'containerd'.padStart(10)}  ${'ratio'.padStart(6)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(w)}  ${`${r.b.toFixed(1)} ${r.unit}`.padStart(10)}  ${`${r.c.toFixed(1)} ${r.unit}`.padStart(10)}  ${(r.b / r.c).toFixed(2).padStart(6)}`);
  }
  console.log(`\n(run latency: median of ${RUNS} alternating runs after ${WARMUP} warm-up runs each; ratio = berthd / containerd, lower is better)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
