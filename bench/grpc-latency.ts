// Per-call latency of one grpc-go client doing sequential unary Version calls on one
// connection (the 1×1 row of issue 12's load table), against a private berthd and,
// with --containerd, a real containerd.
//
//   npx tsx bench/grpc-latency.ts [--calls 2000] [--runs 3] [--containerd]
import { parseArgs } from 'node:util';
import { buildGoProgram, runGoProgram } from '../test/harness/go';
import { startBerthd, startContainerd, type DaemonHandle } from '../test/harness';

const { values } = parseArgs({ options: { calls: { type: 'string', default: '2000' }, runs: { type: 'string', default: '3' }, containerd: { type: 'boolean', default: false } } });

async function main(): Promise<void> {
  const bin = await buildGoProgram('latency');
  const daemons: Array<[string, DaemonHandle]> = [['berthd', await startBerthd()]];
  if (values.containerd) daemons.push(['containerd', await startContainerd()]);
  try {
    for (let r = 0; r < Number(values.runs); r++) {
      for (const [name, d] of daemons) {
        const res = await runGoProgram(bin, [d.address, String(values.calls)]);
        process.stdout.write(`${name} run ${r + 1}: ${res.stdout.trim()}${res.code === 0 ? '' : ` (exit ${res.code}: ${res.stderr.trim()})`}\n`);
      }
    }
  } finally {
    for (const [, d] of daemons) await d.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
