// Benchmark (not a test): create 10,000 containers and list them with and without
// filters, on a fresh berthd and a fresh real containerd side by side; prints times and
// the berthd/containerd ratio (below 1 means berthd is faster).
//
//   npx tsx bench/containers-10k.ts [--count N] [--concurrency C] [--runs R]
import { parseArgs } from 'node:util';
import { startBerthd, startContainerd, type DaemonHandle } from '../test/harness';
import { TestClient, sampleContainer } from '../test/e2e/grpc-client';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '10000' },
    concurrency: { type: 'string', default: '16' },
    runs: { type: 'string', default: '5' },
  },
});
const COUNT = Number(values.count);
const CONCURRENCY = Number(values.concurrency);
const RUNS = Number(values.runs);
const NS = 'bench';

function ms(start: bigint): number {
  return Number(process.hrtime.bigint() - start) / 1e6;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function createAll(client: TestClient): Promise<number> {
  let next = 0;
  const start = process.hrtime.bigint();
  const worker = async (): Promise<void> => {
    for (;;) {
      const i = next++;
      if (i >= COUNT) return;
      await client.createContainer(
        NS,
        sampleContainer(`c-${i}`, {
          labels: { app: i % 2 === 0 ? 'web' : 'db', 'com.example/index': String(i) },
          image: `docker.io/library/img-${i % 10}:latest`,
        }),
      );
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  return ms(start);
}

type Case = { name: string; run: (c: TestClient) => Promise<number> };

const cases: Case[] = [
  { name: 'List (all)', run: async (c) => (await c.listContainers(NS)).length },
  { name: 'ListStream (all)', run: async (c) => (await c.listStream(NS)).length },
  { name: 'List labels.app==web', run: async (c) => (await c.listContainers(NS, ['labels.app==web'])).length },
  { name: 'List id==c-5000', run: async (c) => (await c.listContainers(NS, ['id==c-5000'])).length },
  { name: 'List image~=img-3,labels.app==db', run: async (c) => (await c.listContainers(NS, ['image~=img-3,labels.app==db'])).length },
  { name: 'ListStream labels.app==web', run: async (c) => (await c.listStream(NS, ['labels.app==web'])).length },
];

async function measure(name: string, daemon: DaemonHandle): Promise<Map<string, number>> {
  const client = new TestClient(daemon.address);
  const results = new Map<string, number>();
  try {
    process.stderr.write(`${name}: creating ${COUNT} containers (${CONCURRENCY} in flight)…\n`);
    results.set(`Create ×${COUNT}`, await createAll(client));
    for (const cs of cases) {
      const times: number[] = [];
      let n = 0;
      for (let r = 0; r < RUNS; r++) {
        const start = process.hrtime.bigint();
        n = await cs.run(client);
        times.push(ms(start));
      }
      results.set(`${cs.name} → ${n}`, median(times));
    }
  } finally {
    client.close();
  }
  return results;
}

async function main(): Promise<void> {
  const berthd = await startBerthd({ logLevel: 'warn' });
  const containerd = await startContainerd();
  try {
    const b = await measure('berthd', berthd);
    const c = await measure('containerd', containerd);
    const rows = [...b.keys()].map((k) => {
      const tb = b.get(k) as number;
      const tc = c.get(k) as number;
      return { k, tb, tc, ratio: tb / tc };
    });
    const w = Math.max(...rows.map((r) => r.k.length));
    console.log(`\n${'operation'.padEnd(w)}  ${'berthd ms'.padStart(10)}  ${'containerd ms'.padStart(13)}  ${'ratio'.padStart(6)}`);
    for (const r of rows) {
      console.log(`${r.k.padEnd(w)}  ${r.tb.toFixed(1).padStart(10)}  ${r.tc.toFixed(1).padStart(13)}  ${r.ratio.toFixed(2).padStart(6)}`);
    }
    console.log(`\n(median of ${RUNS} runs for lists; ratio = berthd / containerd, lower is better)`);
  } finally {
    await berthd.cleanup();
    await containerd.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
