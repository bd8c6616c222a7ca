// Benchmark (not a test): `berth run --rm IMG id /bin/true` against `ctr run --rm` on the
// same daemon (berthd, and a real containerd with --containerd), issue 15's goal:
//
//   berth run --rm  ≤  ctr run --rm + (node -e 0 − ctr --version)
//
// i.e. the CLI's own work costs no more than ctr's; Node's bare start-up is allowed for.
// All four are measured in the same run, alternating, 5 runs each by default, medians; the
// last line also gives the margin round by round (median and quartiles), which a busy
// host's swings move less than the medians of the four.
//
//   npx tsx bench/cli-run.ts [--runs 5] [--warmup 1] [--containerd] [--cpu-prof DIR] [--baseline BIN]
//
// --baseline BIN: also time another build's bin/berth (e.g. main's, checked out and built
// elsewhere), alternating with the others: before and after in the same run.
// --cpu-prof DIR: berth's runs also write V8 CPU profiles into DIR (read them with
// bench/cpuprofile-top.ts); profiling slows berth, so its times are not the goal's then.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildOciImage, busyboxLayer } from '../test/fixtures/images';
import { CTR_BIN, ctr, ctrOk, makeTempRoot, startBerthd, startContainerd, type DaemonHandle } from '../test/harness';
import { HostLeftovers } from '../test/harness/host-leftovers';

const { values } = parseArgs({
  options: { runs: { type: 'string', default: '5' }, warmup: { type: 'string', default: '1' }, containerd: { type: 'boolean', default: false }, 'cpu-prof': { type: 'string' }, baseline: { type: 'string' } },
});
const RUNS = Number(values.runs);
const WARMUP = Number(values.warmup);
const IMAGE = 'docker.io/library/bench-cli:1';
const NS = 'bench-cli';
const BERTH = join(__dirname, '..', 'bin', 'berth');
const NODE_FLAGS = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', values['cpu-prof'], '--cpu-prof-interval', '100'] : [];
/** berth as a person runs it: bin/berth itself, through its launcher line (env, then node);
 * only profiling goes through `node FLAGS bin/berth`. */
const berthCommand = (bin: string, args: string[]): [string, string[]] => (NODE_FLAGS.length > 0 ? [process.execPath, [...NODE_FLAGS, bin, ...args]] : [bin, args]);

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

/** Wall time of one command in ms; throws if it fails. */
function timed(cmd: string, args: string[]): number {
  const t = process.hrtime.bigint();
  // Bounded: a run that hangs (seen with ctr itself against containerd on a loaded host) fails the bench.
  // SIGKILL: berth run forwards SIGTERM to its task once started (ctr's sig-proxy) and would
  // outlive a SIGTERM timeout when the daemon never answers.
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8', timeout: 30_000, killSignal: 'SIGKILL' });
  const ms = Number(process.hrtime.bigint() - t) / 1e6;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.status}${r.signal ? ` (${r.signal}: over 30 s)` : ''}: ${r.stderr}`);
  return ms;
}

async function main(): Promise<void> {
  const tmp = makeTempRoot('berth-bench-cli-');
  const archive = join(tmp.path, 'busybox.tar');
  writeFileSync(archive, (await buildOciImage({ name: IMAGE, layers: [await busyboxLayer()] })).archive);
  const leftovers = HostLeftovers.snapshot();
  // Quiet daemons: their output goes through a pipe this process reads only between runs
  // (spawnSync blocks it), and containerd's default debug log filled it in ~10 runs, after
  // which containerd blocked on the write and the run in progress hung (ctr's as well).
  const d: DaemonHandle = values.containerd ? await startContainerd({ logLevel: 'warn' }) : await startBerthd({ logLevel: 'warn' });
  const t: Record<'berth' | 'baseline' | 'ctr' | 'node' | 'ctrVersion', number[]> = { berth: [], baseline: [], ctr: [], node: [], ctrVersion: [] };
  const baseline = values.baseline;
  try {
    await ctrOk(d.address, ['images', 'import', archive], { namespace: NS });
    let n = 0;
    for (let r = -WARMUP; r < RUNS; r++) {
      const steps: Array<[keyof typeof t, () => number]> = [
        ['berth', () => timed(...berthCommand(BERTH, ['-a', d.address, '-n', NS, 'run', '--rm', IMAGE, `b-${n++}`, '/bin/true']))],
        ['ctr', () => timed(CTR_BIN, ['-a', d.address, '-n', NS, 'run', '--rm', IMAGE, `c-${n++}`, '/bin/true'])],
        ['node', () => timed(process.execPath, ['-e', '0'])],
        ['ctrVersion', () => timed(CTR_BIN, ['--version'])],
      ];
      if (baseline) steps.splice(1, 0, ['baseline', () => timed(...berthCommand(baseline, ['-a', d.address, '-n', NS, 'run', '--rm', IMAGE, `o-${n++}`, '/bin/true']))]);
      if (r % 2 !== 0) steps.reverse();
      for (const [k, fn] of steps) {
        const ms = fn();
        if (r >= 0) t[k].push(ms);
      }
    }
  } finally {
    for (const id of (await ctr(d.address, ['containers', 'ls', '-q'], { namespace: NS })).stdout.split('\n').filter(Boolean)) {
      await ctr(d.address, ['tasks', 'rm', '-f', id], { namespace: NS });
      await ctr(d.address, ['containers', 'rm', id], { namespace: NS });
    }
    await d.cleanup();
    await tmp.cleanup();
    await leftovers.removeNew();
  }
  const m = { berth: median(t.berth), ctr: median(t.ctr), node: median(t.node), ctrVersion: median(t.ctrVersion) };
  if (baseline) console.log(`baseline ${baseline} run --rm /bin/true   ${median(t.baseline).toFixed(1)} ms`);
  const budget = m.ctr + (m.node - m.ctrVersion);
  console.log(`daemon: ${values.containerd ? 'containerd' : 'berthd'}, ${RUNS} alternating runs, medians`);
  // Node reads this file at every start unless told otherwise (bin/berth's launcher line):
  // say whether `node -e 0` paid for it.
  console.log(`NODE_EXTRA_CA_CERTS ${process.env.NODE_EXTRA_CA_CERTS ? `= ${process.env.NODE_EXTRA_CA_CERTS}` : 'unset'}`);
  console.log(`berth run --rm /bin/true   ${m.berth.toFixed(1)} ms`);
  console.log(`ctr run --rm /bin/true     ${m.ctr.toFixed(1)} ms`);
  console.log(`node -e 0                  ${m.node.toFixed(1)} ms`);
  console.log(`ctr --version              ${m.ctrVersion.toFixed(1)} ms`);
  console.log(`budget (ctr + node − ctr --version)  ${budget.toFixed(1)} ms  → berth ${m.berth <= budget ? 'within it' : 'OVER it'} by ${Math.abs(budget - m.berth).toFixed(1)} ms`);
  // The same comparison round by round (each round's four commands ran back to back): the
  // host's slow swings, which move all four medians apart, cancel out of it. Information
  // next to the goal's figure above, not a replacement for it.
  const margins = t.berth.map((b, i) => t.ctr[i]! + t.node[i]! - t.ctrVersion[i]! - b).sort((a, b) => a - b);
  const q = (f: number): number => margins[Math.min(margins.length - 1, Math.floor(f * margins.length))]!;
  console.log(`per round: budget − berth  median ${median(margins).toFixed(1)} ms, quartiles ${q(0.25).toFixed(1)} .. ${q(0.75).toFixed(1)} ms (positive: within)`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
