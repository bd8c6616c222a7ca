// Per-call latency of one grpc-go client doing sequential unary Version calls on one
// connection (the 1×1 row of issue 12's load table), against a private berthd and,
// with --containerd, a real containerd. With --metrics, also a berthd serving [metrics]
// (gRPC calls counted, grpc_histogram on) and, with --scrape, scraped every second while
// it is measured: the cost of counting on the call path, runs alternating.
//
//   npx tsx bench/grpc-latency.ts [--calls 2000] [--runs 3] [--containerd] [--metrics [--scrape]]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { buildGoProgram, runGoProgram } from '../test/harness/go';
import { freeLoopbackPort, makeTempRoot, startBerthd, startContainerd, type DaemonHandle } from '../test/harness';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '2000' },
    runs: { type: 'string', default: '3' },
    containerd: { type: 'boolean', default: false },
    metrics: { type: 'boolean', default: false },
    scrape: { type: 'boolean', default: false },
  },
});

async function main(): Promise<void> {
  const bin = await buildGoProgram('latency');
  const tmp = makeTempRoot('grpc-latency-');
  // Both berthds log at info, as a deployed one does (debug logs every call).
  const daemons: Array<[string, DaemonHandle]> = [['berthd', await startBerthd({ logLevel: values.metrics ? 'info' : undefined })]];
  let scrapeUrl = '';
  if (values.metrics) {
    const port = await freeLoopbackPort();
    const config = path.join(tmp.path, 'metrics.toml');
    fs.writeFileSync(config, `[metrics]\naddress = "127.0.0.1:${port}"\ngrpc_histogram = true\n`);
    daemons.push(['berthd+metrics', await startBerthd({ config, logLevel: 'info' })]);
    scrapeUrl = `http://127.0.0.1:${port}/v1/metrics`;
  }
  if (values.containerd) daemons.push(['containerd', await startContainerd()]);
  let scraping = false;
  const scraper = setInterval(() => {
    if (!values.scrape || !scrapeUrl || scraping) return;
    scraping = true;
    void fetch(scrapeUrl)
      .then((r) => r.text())
      .catch(() => undefined)
      .finally(() => (scraping = false));
  }, 1000);
  try {
    for (let r = 0; r < Number(values.runs); r++) {
      for (const [name, d] of daemons) {
        const res = await runGoProgram(bin, [d.address, String(values.calls)]);
        process.stdout.write(`${name} run ${r + 1}: ${res.stdout.trim()}${res.code === 0 ? '' : ` (exit ${res.code}: ${res.stderr.trim()})`}\n`);
      }
    }
  } finally {
    clearInterval(scraper);
    for (const [, d] of daemons) await d.cleanup();
    await tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${String(err)}\n`);
  process.exit(1);
});
