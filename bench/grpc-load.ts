// Load benchmark (a script, not a test): a grpc-go client (test/go/grpcload) makes unary
// calls to a private berthd and a private real containerd 1.6, both on unix sockets, and
// prints calls/s, p50, p99 and the daemon's RSS side by side with ratios.
//
//   npx tsx bench/grpc-load.ts [--calls 20000] [--runs 5] [--rows 1x1,1x10,10x10,10x100]
//                              [--methods version,namespaces] [--busy] [--berthd-env K=V,...]
//
// Besides calls/s and latency it prints each daemon's CPU time per call (its process tree,
// from /proc): on a machine that is not quiet, that column still compares the two.
//
// Rows are connections × calls in flight per connection. Every run of a row alternates the
// daemons (berthd first on odd runs, containerd first on even ones) so a drift of the
// machine hits both; the tables show medians over the runs. --busy keeps one core busy with
// a CPU-bound process for the whole measurement (stopped by its PID afterwards): one event
// loop then competes with Go's threads. --berthd-env passes environment to berthd (e.g.
// NODE_OPTIONS=--cpu-prof --cpu-prof-dir=/tmp/prof, to profile it under the load).
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';
import { buildGoProgram, runGoProgram, startBerthd, startContainerd, type DaemonHandle } from '../test/harness';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '20000' },
    runs: { type: 'string', default: '5' },
    rows: { type: 'string', default: '1x1,1x10,10x10,10x100' },
    methods: { type: 'string', default: 'version,namespaces' },
    busy: { type: 'boolean', default: false },
    'berthd-env': { type: 'string', default: '' },
  },
});

const CALLS = Number(values.calls);
const RUNS = Number(values.runs);
const ROWS = values.rows.split(',').map((r) => {
  const [c, s] = r.split('x').map(Number);
  return { conns: c as number, streams: s as number, name: r.replace('x', ' × ') };
});
const METHODS = values.methods.split(',');
const berthdEnv: NodeJS.ProcessEnv = {};
for (const kv of values['berthd-env'].split(',').filter(Boolean)) {
  const i = kv.indexOf('=');
  berthdEnv[kv.slice(0, i)] = kv.slice(i + 1);
}

interface Sample {
  callsPerS: number;
  p50: number;
  p99: number;
  rssMiB: number;
  /** The daemon's CPU time (user + system, its whole process tree) per call, µs: less
   * sensitive than calls/s to what else the machine runs. */
  cpuUsPerCall: number;
}

/** Resident memory of a process and its descendants (berthd re-executes itself once with
 * its V8 flags; the server is the child). */
function treeRssMiB(pid: number): number {
  let kib = 0;
  const visit = (p: number): void => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${p}/status`, 'utf8'));
      if (m) kib += Number(m[1]);
      for (const t of fs.readdirSync(`/proc/${p}/task`)) {
        const kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(' ') : []) visit(Number(k));
      }
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return kib / 1024;
}

/** CPU time (user + system) used so far by a process and its descendants, in ms. */
function treeCpuMs(pid: number): number {
  const tick = 1000 / 100; // USER_HZ is 100 on Linux
  let ticks = 0;
  const visit = (p: number): void => {
    try {
      const stat = fs.readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(f[11]) + Number(f[12]); // utime, stime
      for (const t of fs.readdirSync(`/proc/${p}/task`)) {
        const kids = fs.readFileSync(`/proc/${p}/task/${t}/children`, 'utf8').trim();
        for (const k of kids ? kids.split(' ') : []) visit(Number(k));
      }
    } catch {
      // exited meanwhile
    }
  };
  visit(pid);
  return ticks * tick;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const n = s.length;
  return n % 2 ? (s[(n - 1) / 2] as number) : ((s[n / 2 - 1] as number) + (s[n / 2] as number)) / 2;
};

async function main(): Promise<void> {
  const load = await buildGoProgram('grpcload');
  const [berthd, containerd] = await Promise.all([
    startBerthd({ logLevel: 'warn', env: berthdEnv }),
    startContainerd({ logLevel: 'warn' }),
  ]);
  let busy: ChildProcess | undefined;
  try {
    if (values.busy) {
      busy = spawn(process.execPath, ['-e', 'for (;;) {}'], { stdio: 'ignore' });
      console.log(`busy: pid ${busy.pid} keeps one core busy`);
    }
    const daemons: Array<[string, DaemonHandle]> = [
      ['berthd', berthd],
      ['containerd', containerd],
    ];
    // results[method][row][daemon] = samples
    const results = new Map<string, Map<string, Map<string, Sample[]>>>();
    for (const method of METHODS) {
      const byRow = new Map<string, Map<string, Sample[]>>();
      results.set(method, byRow);
      for (const row of ROWS) {
        const byDaemon = new Map<string, Sample[]>(daemons.map(([n]) => [n, []]));
        byRow.set(row.name, byDaemon);
        for (let run = 0; run < RUNS; run++) {
          const order = run % 2 === 0 ? daemons : [...daemons].reverse();
          for (const [name, d] of order) {
            const cpu0 = treeCpuMs(d.pid);
            const r = await runGoProgram(
              load,
              ['-address', `unix://${d.address}`, '-conns', String(row.conns), '-streams', String(row.streams), '-calls', String(CALLS), '-method', method],
              { timeoutMs: 300_000 },
            );
            const line = r.lines[0];
            if (r.code !== 0 || !line) throw new Error(`grpcload against ${name} failed: ${r.stdout}${r.stderr}`);
            (byDaemon.get(name) as Sample[]).push({
              callsPerS: Number(line.calls_per_s),
              p50: Number(line.p50_ms),
              p99: Number(line.p99_ms),
              rssMiB: treeRssMiB(d.pid),
              cpuUsPerCall: ((treeCpuMs(d.pid) - cpu0) * 1000) / CALLS,
            });
          }
        }
        const b = byDaemon.get('berthd') as Sample[];
        const c = byDaemon.get('containerd') as Sample[];
        process.stderr.write(`${method} ${row.name}: berthd ${median(b.map((s) => s.callsPerS)).toFixed(0)}/s, containerd ${median(c.map((s) => s.callsPerS)).toFixed(0)}/s\n`);
      }
    }
    console.log(`\n${CALLS} calls per run, ${RUNS} runs per row (medians)${values.busy ? ', one core kept busy' : ''}; RSS after the runs (MiB)\n`);
    for (const [method, byRow] of results) {
      console.log(`### ${method === 'version' ? 'Version.Version' : 'Namespaces.List'}\n`);
      console.log('| conns × streams | berthd calls/s | p50 ms | p99 ms | containerd calls/s | p50 ms | p99 ms | calls/s b/c | p99 b/c | RSS berthd | RSS containerd | CPU µs/call berthd | containerd |');
      console.log('|---|---|---|---|---|---|---|---|---|---|---|---|---|');
      for (const [row, byDaemon] of byRow) {
        const m = (d: string, k: keyof Sample): number => median((byDaemon.get(d) as Sample[]).map((s) => s[k]));
        const bc = m('berthd', 'callsPerS');
        const cc = m('containerd', 'callsPerS');
        console.log(
          `| ${row} | ${bc.toFixed(0)} | ${m('berthd', 'p50').toFixed(2)} | ${m('berthd', 'p99').toFixed(2)} | ${cc.toFixed(0)} | ${m('containerd', 'p50').toFixed(2)} | ` +
            `${m('containerd', 'p99').toFixed(2)} | ${(bc / cc).toFixed(2)} | ${(m('berthd', 'p99') / m('containerd', 'p99')).toFixed(2)} | ` +
            `${m('berthd', 'rssMiB').toFixed(0)} | ${m('containerd', 'rssMiB').toFixed(0)} | ${m('berthd', 'cpuUsPerCall').toFixed(1)} | ${m('containerd', 'cpuUsPerCall').toFixed(1)} |`,
        );
      }
      console.log('');
    }
    // What the load leaves behind: V8 gives memory back once the daemon is idle.
    await new Promise((r) => setTimeout(r, 15_000));
    console.log(`RSS after 15 s idle: berthd ${treeRssMiB(berthd.pid).toFixed(0)} MiB, containerd ${treeRssMiB(containerd.pid).toFixed(0)} MiB`);
  } finally {
    if (busy?.pid !== undefined) process.kill(busy.pid, 'SIGKILL');
    await Promise.all([berthd.cleanup(), containerd.cleanup()]);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
