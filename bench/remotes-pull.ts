// Benchmark (not a test): the registry client's pull pipeline (src/remotes) into berthd's
// content store in-process, against `ctr content fetch --plain-http` into a real
// containerd 1.6 (the same fetch containerd's pull does, without unpack; ctr 1.6 sets no
// download limit there), from the same
// docker-registry on loopback. Alternating runs, medians; each run starts from an empty
// store (berth: a fresh store dir; containerd: a fresh daemon, since it shares blobs
// across namespaces).
//
//   npx tsx bench/remotes-pull.ts [--layers 5] [--mb 30] [--runs 5] [--concurrency 3]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import * as zlib from 'node:zlib';
import { LocalContentStore } from '../src/content/local';
import { NamespacedContentStore } from '../src/metadata/content';
import { MetadataDB } from '../src/metadata/db';
import { LeaseStore } from '../src/metadata/leases';
import { contentStoreIngester, withPullLease } from '../src/remotes/content-store-ingester';
import { pull } from '../src/remotes/pull';
import { Resolver } from '../src/remotes/resolver';
import { buildOciImage, layerFromTar, packTar, pseudoRandomBytes, type Layer } from '../test/fixtures/images';
import { ctrOk, makeTempRoot, pushArchive, startContainerd, startRegistry } from '../test/harness';

const { values } = parseArgs({
  options: {
    layers: { type: 'string', default: '5' },
    mb: { type: 'string', default: '30' },
    runs: { type: 'string', default: '5' },
    concurrency: { type: 'string', default: '3' },
  },
});
const LAYERS = Number(values.layers);
const MB = Number(values.mb);
const RUNS = Number(values.runs);
const CONCURRENCY = Number(values.concurrency);

const ms = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function main(): Promise<void> {
  const tmp = makeTempRoot('bench-remotes-');
  const reg = await startRegistry();
  try {
    const layers: Layer[] = [];
    for (let i = 0; i < LAYERS; i++) {
      const tar = await packTar([{ path: `data/l${i}`, type: 'file', content: pseudoRandomBytes(MB << 20, i + 1) }]);
      layers.push(layerFromTar(tar, { gzipLevel: zlib.constants.Z_BEST_SPEED }));
    }
    const img = await buildOciImage({ name: 'bench.test/big:1', layers });
    const file = path.join(tmp.path, 'big.tar');
    fs.writeFileSync(file, img.archive);
    const { ref } = await pushArchive(reg, file, 'bench/big:1', { timeoutMs: 600_000 });
    const total = layers.reduce((s, l) => s + l.size, 0);
    console.log(`image ${ref}: ${LAYERS} layers, ${(total / 1e6).toFixed(1)} MB compressed`);

    const berth: number[] = [];
    const containerd: number[] = [];
    for (let run = 0; run < RUNS; run++) {
      {
        const dir = path.join(tmp.path, `berth-${run}`);
        const db = await MetadataDB.open(path.join(dir, 'meta'));
        const local = await LocalContentStore.open(path.join(dir, 'content'));
        const content = new NamespacedContentStore(db, local);
        const leases = new LeaseStore(db);
        const resolver = new Resolver({});
        const t = process.hrtime.bigint();
        await withPullLease(leases, 'bench', (lease) =>
          pull(ref, { resolver, ingester: contentStoreIngester(content.view('bench', lease)), maxConcurrentDownloads: CONCURRENCY }),
        );
        berth.push(ms(t));
        resolver.close();
        await db.close();
        fs.rmSync(dir, { recursive: true, force: true });
      }
      {
        const cd = await startContainerd({ logLevel: 'warn' });
        try {
          const t = process.hrtime.bigint();
          await ctrOk(cd.address, ['content', 'fetch', '--plain-http', ref], { namespace: 'bench', timeoutMs: 600_000 });
          containerd.push(ms(t));
        } finally {
          await cd.cleanup();
        }
      }
      console.log(`run ${run + 1}: berth ${berth[run]!.toFixed(0)} ms, ctr content fetch ${containerd[run]!.toFixed(0)} ms`);
    }
    const b = median(berth);
    const c = median(containerd);
    console.log(`median: berth ${b.toFixed(0)} ms (${((total / 1e6) / (b / 1000)).toFixed(0)} MB/s), containerd ${c.toFixed(0)} ms (${((total / 1e6) / (c / 1000)).toFixed(0)} MB/s), ratio ${(b / c).toFixed(2)}`);
  } finally {
    await reg.cleanup();
    await tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
