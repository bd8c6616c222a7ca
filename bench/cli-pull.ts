// Benchmark (not a test): `berth images pull --plain-http` against `ctr images pull
// --plain-http` on the same daemon (berthd; a real containerd with --containerd), of a
// ~150 MB, 5-layer image from a docker-registry on loopback. Issue 15's goal:
//
//   berth images pull  ≤  0.8 × ctr images pull
//
// On berthd, berth has the daemon pull (containerd 2's Transfer service: berthd fetches and
// unpacks, no blob passes through the CLI), as ctr 2 would; ctr 1.6 fetches into the
// daemon's content store through its Content service and has it unpack into overlayfs.
// --local times berth's own client-side pull instead (what it does against containerd 1.6).
// Alternating runs, 5 by default, medians. Before each run the image is removed
// with `ctr images rm --sync` (a synchronous garbage collection: blobs and snapshots go)
// and the store is checked empty, so every run downloads and unpacks everything.
//
//   npx tsx bench/cli-pull.ts [--runs 5] [--layers 5] [--mb 30] [--containerd] [--cpu-prof DIR] [--fetch-only] [--local]
//                             [--downloads N (berth's --max-concurrent-downloads; ctr keeps its default)]
//
// --fetch-only: the download alone, to tell it from the unpack: `berth images pull
// --no-unpack` against `ctr content fetch` (the fetch half of ctr's pull).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { buildOciImage, layerFromTar, packTar, pseudoRandomBytes, type Layer } from '../test/fixtures/images';
import { CTR_BIN, ctr, ctrOk, makeTempRoot, pushArchive, startBerthd, startContainerd, startRegistry, type DaemonHandle } from '../test/harness';
import { HostLeftovers } from '../test/harness/host-leftovers';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    layers: { type: 'string', default: '5' },
    mb: { type: 'string', default: '30' },
    containerd: { type: 'boolean', default: false },
    'cpu-prof': { type: 'string' },
    'fetch-only': { type: 'boolean', default: false },
    downloads: { type: 'string', default: '0' },
    local: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const LAYERS = Number(values.layers);
const MB = Number(values.mb);
const NS = 'bench-pull';
const FETCH_ONLY = values['fetch-only'] === true;
// berth's --max-concurrent-downloads (0: its default); ctr keeps its own default, as the goal says.
const DOWNLOADS = Number(values.downloads) > 0 ? ['--max-concurrent-downloads', String(Number(values.downloads))] : [];
const LOCAL = values.local === true ? ['--local'] : [];
const BERTH = path.join(__dirname, '..', 'bin', 'berth');
const NODE_FLAGS = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof']] : [];

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** CPU time (user + system, ms) a process has used: /proc/PID/stat fields 14 and 15. */
function cpuMs(pid: number): number {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // USER_HZ is 100 on Linux
}

/** Wall time of one command in ms; throws if it fails. Output is a pipe (no terminal): log lines. */
function timed(cmd: string, args: string[]): number {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8', timeout: 600_000, killSignal: 'SIGKILL', maxBuffer: 64 << 20 });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}${r.signal ? ` (${r.signal})` : ''}: ${r.stderr}`);
  return ms;
}

async function emptyStore(d: DaemonHandle, ref: string): Promise<void> {
  await ctr(d.address, ['images', 'rm', '--sync', ref], { namespace: NS, timeoutMs: 120_000 });
  const content = (await ctrOk(d.address, ['content', 'ls', '-q'], { namespace: NS })).stdout.trim();
  const snaps = (await ctrOk(d.address, ['snapshots', 'ls'], { namespace: NS })).stdout.trim().split('\n').slice(1).filter(Boolean);
  if (content !== '' || snaps.length > 0) throw new Error(`store not empty after images rm --sync: content [${content}] snapshots [${snaps.join('; ')}]`);
}

async function main(): Promise<void> {
  const tmp = makeTempRoot('berth-bench-cli-pull-');
  const reg = await startRegistry();
  const leftovers = HostLeftovers.snapshot();
  let d: DaemonHandle | undefined;
  try {
    const layers: Layer[] = [];
    for (let i = 0; i < LAYERS; i++) {
      const tar = await packTar([{ path: `data/l${i}`, type: 'file', content: pseudoRandomBytes(MB << 20, i + 1) }]);
      layers.push(layerFromTar(tar, { gzipLevel: zlib.constants.Z_BEST_SPEED }));
    }
    const img = await buildOciImage({ name: 'bench.test/pull:1', layers });
    const file = path.join(tmp.path, 'pull.tar');
    fs.writeFileSync(file, img.archive);
    const { ref } = await pushArchive(reg, file, 'bench/pull:1', { timeoutMs: 600_000 });
    fs.rmSync(file);
    const total = layers.reduce((s, l) => s + l.size, 0);
    d = values.containerd ? await startContainerd({ logLevel: 'warn' }) : await startBerthd({ logLevel: 'warn' });
    console.log(`image ${ref}: ${LAYERS} layers, ${(total / 1e6).toFixed(1)} MB compressed; daemon ${values.containerd ? 'containerd' : 'berthd'}`);
    const t: Record<'berth' | 'ctr', number[]> = { berth: [], ctr: [] };
    // The daemon's CPU time during each pull: how much work each client's pull makes it do.
    const dcpu: Record<'berth' | 'ctr', number[]> = { berth: [], ctr: [] };
    const daemon = d;
    for (let r = 0; r < RUNS; r++) {
      const steps: Array<['berth' | 'ctr', () => number]> = [
        ['berth', () => timed(process.execPath, [...NODE_FLAGS, BERTH, '-a', daemon.address, '-n', NS, 'images', 'pull', '--plain-http', ...DOWNLOADS, ...LOCAL, ...(FETCH_ONLY ? ['--no-unpack'] : []), ref])],
        ['ctr', () => timed(CTR_BIN, ['-a', daemon.address, '-n', NS, ...(FETCH_ONLY ? ['content', 'fetch'] : ['images', 'pull']), '--plain-http', ref])],
      ];
      if (r % 2 !== 0) steps.reverse();
      for (const [k, fn] of steps) {
        await emptyStore(daemon, ref);
        const c0 = cpuMs(daemon.pid);
        t[k].push(fn());
        dcpu[k].push(cpuMs(daemon.pid) - c0);
      }
      console.log(`run ${r + 1}: berth ${t.berth[r]!.toFixed(0)} ms (daemon CPU ${dcpu.berth[r]!.toFixed(0)} ms), ctr ${t.ctr[r]!.toFixed(0)} ms (daemon CPU ${dcpu.ctr[r]!.toFixed(0)} ms)`);
    }
    await emptyStore(daemon, ref);
    const b = median(t.berth);
    const c = median(t.ctr);
    console.log(`median: berth images pull ${b.toFixed(0)} ms (${(total / 1e6 / (b / 1000)).toFixed(0)} MB/s), ctr images pull ${c.toFixed(0)} ms (${(total / 1e6 / (c / 1000)).toFixed(0)} MB/s)`);
    console.log(`ratio berth/ctr ${(b / c).toFixed(2)} (goal ≤ 0.80): ${b / c <= 0.8 ? 'met' : 'NOT met'}`);
  } finally {
    await d?.cleanup();
    await reg.cleanup();
    await tmp.cleanup();
    await leftovers.removeNew();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
