// Summarise a V8 .cpuprofile (node --cpu-prof): self time per function and per source
// area, to see where berthd's time goes under bench/grpc-load.ts.
//
//   npx tsx bench/cpuprofile-top.ts FILE.cpuprofile [--top 30]
import * as fs from 'node:fs';
import { parseArgs } from 'node:util';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } });
const file = positionals[0];
if (!file) throw new Error('usage: cpuprofile-top FILE.cpuprofile');
const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as Profile;

// Self time per node: each sample's time delta goes to the node sampled.
const byId = new Map(prof.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
for (let i = 0; i < prof.samples.length; i++) {
  const id = prof.samples[i] as number;
  self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0));
}
const total = [...self.values()].reduce((a, b) => a + b, 0);

/** Where a frame's code lives: berth's sources by directory, node internals, V8 states. */
function area(n: ProfileNode): string {
  const { functionName: f, url } = n.callFrame;
  if (f === '(garbage collector)') return 'GC';
  if (f === '(idle)') return 'idle';
  if (f === '(program)') return 'V8/native (program)';
  const m = /\/dist\/([^/]+\/[^/]+?)\.js$/.exec(url) ?? /\/dist\/([^/]+)\//.exec(url);
  if (m) return `berth ${m[1]}`;
  if (url.startsWith('node:')) return `node ${url.slice(5).split('/')[0]}`;
  if (url.includes('node_modules')) return `npm ${url.split('node_modules/')[1]?.split('/')[0] ?? ''}`;
  if (url === '') return 'native/builtin';
  return url;
}

const fn = new Map<string, number>();
const areas = new Map<string, number>();
for (const [id, us] of self) {
  const n = byId.get(id) as ProfileNode;
  const key = `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^.*\/dist\//, '').replace(/^file:\/\//, '')}:${n.callFrame.lineNumber + 1}`;
  fn.set(key, (fn.get(key) ?? 0) + us);
  const a = area(n);
  areas.set(a, (areas.get(a) ?? 0) + us);
}
const pct = (us: number): string => `${((100 * us) / total).toFixed(1).padStart(5)}%`;
console.log(`total ${(total / 1e6).toFixed(2)} s sampled\n\nby area (self time):`);
for (const [a, us] of [...areas].sort((x, y) => y[1] - x[1]).slice(0, 20)) console.log(`${pct(us)}  ${a}`);
console.log(`\ntop functions (self time):`);
for (const [k, us] of [...fn].sort((x, y) => y[1] - x[1]).slice(0, Number(values.top))) console.log(`${pct(us)}  ${k}`);
