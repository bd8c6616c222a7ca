// Benchmark (not a test): pod start over CRI — RunPodSandbox + CreateContainer +
// StartContainer until ContainerStatus says RUNNING — on berthd and on containerd 1.6.20's
// CRI plugin, both in one CRI test environment (private namespaces, loopback registry, CNI
// bridge), alternating, median of N; then memory per running pod: (PSS of the daemon, its
// shims and every pod process at P pods − the same at 0 pods) / P, one daemon at a time.
//
//   npx tsx bench/cri-pod-start.ts [--runs 5] [--pods 20]   (--pods 0: no memory part)
//   BENCH_STEPS=1: berthd's per-step times and the PSS readings; BENCH_PSS=1: every process counted
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import type { DaemonHandle } from '../test/harness';
import { startCriBerthd, startCriContainerd } from '../test/harness/cri-daemons';
import { startCriEnv, type CriEnv } from '../test/harness/cri-env';
import { CriClient } from '../test/e2e/cri-grpc';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' }, pods: { type: 'string', default: '20' } } });
const RUNS = Number(values.runs);
const PODS = Number(values.pods);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

interface Daemon {
  name: string;
  handle: DaemonHandle;
  cri: CriClient;
}

let seq = 0;
function podConfig(env: CriEnv, name: string): Record<string, unknown> {
  const logDir = path.join(env.dir, 'bench-logs', name);
  fs.mkdirSync(logDir, { recursive: true });
  return { metadata: { name, namespace: 'bench', uid: `${name}-uid`, attempt: 0 }, log_directory: logDir, linux: {} };
}

/** One pod with one busybox container, running; returns the ms it took and the pod id. */
async function startPod(env: CriEnv, d: Daemon): Promise<{ ms: number; podId: string }> {
  const name = `p${seq++}`;
  const config = podConfig(env, name);
  const t0 = performance.now();
  const { pod_sandbox_id: podId } = await d.cri.runtimeCall<{ pod_sandbox_id: string }>('RunPodSandbox', { config });
  const t1 = performance.now();
  const { container_id: ctrId } = await d.cri.runtimeCall<{ container_id: string }>('CreateContainer', {
    pod_sandbox_id: podId,
    sandbox_config: config,
    config: { metadata: { name: 'c' }, image: { image: env.images.busybox }, command: ['sleep', '3600'], log_path: 'c.log', linux: {} },
  });
  const t2 = performance.now();
  await d.cri.runtimeCall('StartContainer', { container_id: ctrId });
  const t3 = performance.now();
  if (process.env.BENCH_STEPS) console.error(`${d.name}: runp ${(t1 - t0).toFixed(0)} create ${(t2 - t1).toFixed(0)} start ${(t3 - t2).toFixed(0)}`);
  for (;;) {
    const st = await d.cri.runtimeCall<{ status: { state: string } }>('ContainerStatus', { container_id: ctrId });
    if (st.status.state === 'CONTAINER_RUNNING') break;
    await new Promise((r) => setTimeout(r, 1));
  }
  return { ms: performance.now() - t0, podId };
}

async function removePod(d: Daemon, podId: string): Promise<void> {
  await d.cri.runtimeCall('StopPodSandbox', { pod_sandbox_id: podId });
  await d.cri.runtimeCall('RemovePodSandbox', { pod_sandbox_id: podId });
}

/** PSS (kB) of every process in the environment's mount namespace and of their descendants. */
function pssOfEnv(env: CriEnv): number {
  const mntOf = (pid: string): string | undefined => {
    try {
      return fs.readlinkSync(`/proc/${pid}/ns/mnt`);
    } catch {
      return undefined;
    }
  };
  const envMnt = mntOf(String(env.holderPid));
  const parent = new Map<string, string>();
  const pids = fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p));
  for (const p of pids) {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      parent.set(p, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1] as string);
    } catch {
      // gone
    }
  }
  const inEnv = new Set(pids.filter((p) => p !== String(env.holderPid) && mntOf(p) === envMnt));
  const counted = (p: string): boolean => {
    for (let q: string | undefined = p, i = 0; q && q !== '0' && i < 64; q = parent.get(q), i++) if (inEnv.has(q)) return true;
    return false;
  };
  let kb = 0;
  const seen: string[] = [];
  for (const p of pids) {
    if (!counted(p)) continue;
    try {
      const m = /^Pss:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${p}/smaps_rollup`, 'utf8'));
      kb += Number(m?.[1] ?? 0);
      if (process.env.BENCH_PSS) seen.push(`${fs.readFileSync(`/proc/${p}/comm`, 'utf8').trim()}:${m?.[1]}`);
    } catch {
      // gone
    }
  }
  if (process.env.BENCH_PSS) console.log(`pss: ${seen.length} processes: ${seen.join(' ')}`);
  return kb;
}

/**
 * pssOfEnv once it has settled: two readings 10 s apart within 512 kB (at most 60 s). A
 * daemon's heap shrinks some seconds after a burst of work (V8's memory reducer waits ~8 s
 * of low allocation): berthd's dropped by ~10 MB between the 0-pod and the 20-pod reading,
 * which hid the pods' own cost when the readings were taken 1–2 s after the work.
 */
async function settledPss(env: CriEnv): Promise<number> {
  let last = pssOfEnv(env);
  for (let i = 0; i < 6; i++) {
    await new Promise((r) => setTimeout(r, 10_000));
    const now = pssOfEnv(env);
    if (Math.abs(now - last) < 512) return now;
    last = now;
  }
  return last;
}

async function main(): Promise<void> {
  const env = await startCriEnv();
  const daemons: Daemon[] = [];
  try {
    const ctrd = await startCriContainerd(env);
    const berth = await startCriBerthd(env, { logLevel: process.env.BENCH_STEPS ? 'debug' : 'info' });
    daemons.push({ name: 'containerd', handle: ctrd, cri: new CriClient(ctrd.address) }, { name: 'berthd', handle: berth, cri: new CriClient(berth.address) });
    for (const d of daemons) {
      await d.cri.imageCall('PullImage', { image: { image: env.images.busybox } });
      // Warm-up: the pause image pulled, the shim running.
      await removePod(d, (await startPod(env, d)).podId);
    }
    const times = new Map<string, number[]>(daemons.map((d) => [d.name, []]));
    for (let i = 0; i < RUNS; i++) {
      for (const d of i % 2 === 0 ? daemons : [...daemons].reverse()) {
        const r = await startPod(env, d);
        times.get(d.name)!.push(r.ms);
        await removePod(d, r.podId);
      }
    }
    const mc = median(times.get('containerd')!);
    const mb = median(times.get('berthd')!);
    console.log(`pod start (RunPodSandbox + CreateContainer + StartContainer until RUNNING), median of ${RUNS}:`);
    console.log(`  containerd ${mc.toFixed(1)} ms   berthd ${mb.toFixed(1)} ms   ratio ${(mb / mc).toFixed(2)}`);

    if (PODS === 0) return; // --pods 0: pod start only
    // Memory: one daemon at a time, so the other's processes are not counted.
    const perPod = new Map<string, number>();
    for (const d of [...daemons].reverse()) {
      const other = daemons.find((x) => x !== d)!;
      await other.handle.stop();
      const base = await settledPss(env);
      const pods: string[] = [];
      for (let i = 0; i < PODS; i++) pods.push((await startPod(env, d)).podId);
      const loaded = await settledPss(env);
      if (process.env.BENCH_STEPS) console.log(`${d.name}: PSS ${base} kB at 0 pods, ${loaded} kB at ${PODS}`);
      perPod.set(d.name, (loaded - base) / PODS);
      for (const p of pods) await removePod(d, p);
      await other.handle.restart();
    }
    const pc = perPod.get('containerd')!;
    const pb = perPod.get('berthd')!;
    console.log(`memory per running pod (PSS of daemon + shims + pod processes, ${PODS} pods − 0 pods):`);
    console.log(`  containerd ${(pc / 1024).toFixed(2)} MiB   berthd ${(pb / 1024).toFixed(2)} MiB   ratio ${(pb / pc).toFixed(2)}`);
  } finally {
    const berth = daemons.find((d) => d.name === 'berthd');
    if (process.env.BENCH_STEPS && berth) {
      const log = fs.readFileSync((berth.handle as { logFile: string }).logFile, 'utf8');
      for (const l of log.split('\n')) {
        if (l.includes('RunPodSandbox timings')) console.error(l.replace(/^.*"id":"[0-9a-f]+",?/, '  berthd runp: '));
        if (l.includes('StartContainer timings')) console.error(l.replace(/^.*"id":"[0-9a-f]+",?/, '  berthd start: '));
      }
    }
    for (const d of daemons) {
      d.cri.close();
      await d.handle.cleanup().catch(() => undefined);
    }
    await env.cleanup();
  }
}

void main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
