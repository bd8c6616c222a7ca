// Micro-benchmark (not a test): the cost of reading "now" for stored and wire times.
//
//   npx tsx bench/walltime.ts [--n 2000000]
//
// wallNow() (clock_gettime(CLOCK_REALTIME) through the addon, nanoseconds) against
// Date.now() and new Date() (milliseconds, what berth used before), plus the stored
// form (formatWall) against Date.toISOString(). Prints ns per call, best of 5 rounds.
import { parseArgs } from 'node:util';
import { formatWall, parseWall, wallNow, type WallTime } from '../src/time/wall';

const { values } = parseArgs({ options: { n: { type: 'string', default: '2000000' } } });
const N = Number(values.n);

let sink = 0;

function measure(name: string, fn: () => number): void {
  for (let i = 0; i < N / 10; i++) sink += fn(); // warm up (JIT)
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < N; i++) sink += fn();
    const ns = Number(process.hrtime.bigint() - t0) / N;
    best = Math.min(best, ns);
  }
  console.log(`${name.padEnd(28)} ${best.toFixed(1).padStart(7)} ns/call`);
}

const t: WallTime = wallNow();
const d = new Date();
const s = formatWall(t);
measure('Date.now()', () => Date.now());
measure('new Date()', () => new Date().getTime());
measure('wallNow()', () => wallNow().nanos);
measure('Date.toISOString()', () => d.toISOString().length);
measure('formatWall(t)', () => formatWall(t).length);
measure('parseWall(s)', () => (parseWall(s) as WallTime).nanos);
if (sink === 42) console.log('');
