// Benchmark (not a test): content throughput and image import, berthd vs a real
// containerd side by side in one run. Prints times and ratios (berthd / containerd;
// below 1 means berthd is faster).
//
//   npx tsx bench/content.ts [--mb 500] [--runs 3] [--skip-import]
//
// 1. Content.Write of one blob (1 MiB messages, as the Go client sends) and Content.Read
//    of it back, through the same TypeScript gRPC client for both daemons.
// 2. `ctr images import --no-unpack` of a ~150 MB compressed 4-layer image (fresh
//    namespace each run), wall time of the real ctr.
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildOciImage, multiLayerImage, pseudoRandomBytes } from '../test/fixtures/images';
import { ctrOk, makeTempRoot, startBerthd, startContainerd, type DaemonHandle } from '../test/harness';
import { ContentWriteSession } from '../test/e2e/grpc-client';
import { ContainerdClient } from '../src/client/services';
import { callMetadata } from '../src/client/connection';

const { values } = parseArgs({
  options: {
    mb: { type: 'string', default: '500' },
    runs: { type: 'string', default: '3' },
    'skip-import': { type: 'boolean', default: false },
  },
});
const MB = Number(values.mb);
const RUNS = Number(values.runs);
const CHUNK = 1 << 20;

const ms = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function writeBlob(address: string, ns: string, data: Buffer, digest: string): Promise<number> {
  const client = new ContainerdClient(address);
  const t = process.hrtime.bigint();
  try {
    const s = new ContentWriteSession(client, ns);
    await s.send({ action: 'STAT', ref: `bench-${ns}`, total: data.length, expected: digest });
    let offset = 0;
    while (offset < data.length) {
      const r = await s.send({ action: 'WRITE', offset, data: data.subarray(offset, offset + CHUNK) });
      offset = r.offset;
    }
    const c = await s.send({ action: 'COMMIT', offset, total: data.length, expected: digest });
    if (c.digest !== digest) throw new Error(`wrong digest ${c.digest}`);
    s.end();
    return ms(t);
  } finally {
    client.close();
  }
}

async function readBlob(address: string, ns: string, digest: string, size: number): Promise<number> {
  const client = new ContainerdClient(address);
  const t = process.hrtime.bigint();
  try {
    const h = createHash('sha256');
    let n = 0;
    await new Promise<void>((resolve, reject) => {
      const s = client.content.Read({ digest, offset: 0, size: 0 }, callMetadata(ns));
      s.on('data', (m: { data: Buffer }) => {
        h.update(m.data);
        n += m.data.length;
      });
      s.on('error', reject);
      s.on('end', () => resolve());
    });
    if (n !== size || `sha256:${h.digest('hex')}` !== digest) throw new Error('read back wrong bytes');
    return ms(t);
  } finally {
    client.close();
  }
}

interface Row {
  name: string;
  b: number;
  c: number;
  unit: string;
}

async function main(): Promise<void> {
  const tmp = makeTempRoot('berth-bench-');
  const berthd = await startBerthd({ logLevel: 'warn' });
  const containerd = await startContainerd();
  const rows: Row[] = [];
  try {
    const data = pseudoRandomBytes(MB * 1024 * 1024, 42);
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    const times: Record<string, { b: number[]; c: number[] }> = { write: { b: [], c: [] }, read: { b: [], c: [] }, import: { b: [], c: [] } };
    for (let r = 0; r < RUNS; r++) {
      // Alternate which daemon goes first so disk cache effects even out.
      const order: Array<[keyof Row & ('b' | 'c'), DaemonHandle]> = r % 2 === 0 ? [['b', berthd], ['c', containerd]] : [['c', containerd], ['b', berthd]];
      for (const [k, dmn] of order) {
        const ns = `w${r}`;
        times.write![k].push(await writeBlob(dmn.address, ns, data, digest));
        times.read![k].push(await readBlob(dmn.address, ns, digest, data.length));
        await ctrOk(dmn.address, ['content', 'rm', digest], { namespace: ns });
      }
    }
    rows.push({ name: `Content.Write ${MB} MB`, b: median(times.write!.b), c: median(times.write!.c), unit: 'ms' });
    rows.push({ name: `Content.Read ${MB} MB`, b: median(times.read!.b), c: median(times.read!.c), unit: 'ms' });

    if (!values['skip-import']) {
      process.stderr.write('building a ~150 MB 4-layer image…\n');
      const img = await multiLayerImage({ layers: 4, filesPerLayer: 10000, bytesPerFile: 3800 });
      const archive = await buildOciImage({ name: 'docker.io/library/bench:big', layers: img.layers });
      const file = join(tmp.path, 'big.tar');
      writeFileSync(file, archive.archive);
      process.stderr.write(`image: ${img.layers.length} layers, ${(img.compressedBytes / 1e6).toFixed(1)} MB compressed, ${img.files} files\n`);
      for (let r = 0; r < RUNS; r++) {
        const order: Array<['b' | 'c', DaemonHandle]> = r % 2 === 0 ? [['b', berthd], ['c', containerd]] : [['c', containerd], ['b', berthd]];
        for (const [k, dmn] of order) {
          const t = process.hrtime.bigint();
          await ctrOk(dmn.address, ['images', 'import', '--no-unpack', file], { namespace: `imp${r}`, timeoutMs: 600_000 });
          times.import![k].push(ms(t));
        }
      }
      rows.push({ name: `ctr images import --no-unpack (${(img.compressedBytes / 1e6).toFixed(0)} MB)`, b: median(times.import!.b), c: median(times.import!.c), unit: 'ms' });
    }
  } finally {
    await berthd.cleanup();
    await containerd.cleanup();
    await tmp.cleanup();
  }
  const w = Math.max(...rows.map((r) => r.name.length));
  console.log(`\n${'operation'.padEnd(w)}  ${'berthd ms'.padStart(10)}  ${'containerd ms'.padStart(13)}  ${'ratio'.padStart(6)}`);
  for (const r of rows) {
    console.log(`${r.name.padEnd(w)}  ${r.b.toFixed(0).padStart(10)}  ${r.c.toFixed(0).padStart(13)}  ${(r.b / r.c).toFixed(2).padStart(6)}`);
  }
  console.log(`\n(median of ${RUNS} alternating runs; ratio = berthd / containerd, lower is better)`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
