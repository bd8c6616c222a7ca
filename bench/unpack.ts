// Benchmark (not a test): cold `ctr images import` WITH unpack of a ~150 MB compressed,
// 4-layer image with tens of thousands of small files, on a fresh berthd vs a fresh real
// containerd (new root each run), alternating, median of N. Prints the ratio
// (berthd / containerd; the goal is ≤ 0.8).
//
//   npx tsx bench/unpack.ts [--runs 3] [--files 10000] [--snapshotter overlayfs] [--tmpfs]
//
// On this VM's disk the result is dominated by dirty-page writeback of the ~600 MB of
// small files (runs of the same daemon vary 4 s … 30 s); --tmpfs puts both daemons' roots
// on a private tmpfs, which measures the unpack work itself.
import { execFileSync, execSync } from 'node:child_process';
import { mkdtempSync, rmdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { buildOciImage, multiLayerImage } from '../test/fixtures/images';
import { ctrOk, makeTempRoot, startBerthd, startContainerd, type DaemonHandle } from '../test/harness';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    files: { type: 'string', default: '10000' },
    snapshotter: { type: 'string', default: 'overlayfs' },
    tmpfs: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SNAPSHOTTER = values.snapshotter as string;
const ms = (t: bigint): number => Number(process.hrtime.bigint() - t) / 1e6;
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function importOnce(start: () => Promise<DaemonHandle>, file: string): Promise<number> {
  const d = await start();
  try {
    // Both daemons read the same (cached) archive; sync first so an earlier run's dirty
    // pages are not written back during this one.
    execSync('sync');
    const t = process.hrtime.bigint();
    await ctrOk(d.address, ['images', 'import', '--snapshotter', SNAPSHOTTER, file], { namespace: 'bench', timeoutMs: 900_000 });
    return ms(t);
  } finally {
    await d.cleanup();
  }
}


async function main(): Promise<void> {
  let tmpfsDir: string | undefined;
  if (values.tmpfs) {
    tmpfsDir = mkdtempSync(join(tmpdir(), 'berth-bench-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=6g', 'tmpfs', tmpfsDir]);
    // The harness makes every daemon root under os.tmpdir().
    process.env.TMPDIR = tmpfsDir;
  }
  try {
    await measure();
  } finally {
    if (tmpfsDir) {
      execFileSync('umount', [tmpfsDir]);
      rmdirSync(tmpfsDir);
    }
  }
}

async function measure(): Promise<void> {
  const tmp = makeTempRoot('berth-bench-unpack-');
  try {
    process.stderr.write('building the image…\n');
    const img = await multiLayerImage({ layers: 4, filesPerLayer: Number(values.files), bytesPerFile: 3800 });
    const file = join(tmp.path, 'img.tar');
    writeFileSync(file, (await buildOciImage({ name: 'docker.io/library/bench:unpack', layers: img.layers })).archive);
    process.stderr.write(`image: ${img.layers.length} layers, ${(img.compressedBytes / 1e6).toFixed(1)} MB compressed, ${img.files} files\n`);
    const b: number[] = [];
    const c: number[] = [];
    for (let r = 0; r < RUNS; r++) {
      const order: Array<[number[], () => Promise<DaemonHandle>]> = [
        [b, () => startBerthd({ logLevel: 'warn' })],
        [c, () => startContainerd()],
      ];
      if (r % 2 === 1) order.reverse();
      for (const [out, start] of order) {
        const t = await importOnce(start, file);
        out.push(t);
        process.stderr.write(`  run ${r + 1}: ${out === b ? 'berthd' : 'containerd'} ${t.toFixed(0)} ms\n`);
      }
    }
    const mb = median(b);
    const mc = median(c);
    console.log(`\ncold ctr images import (${SNAPSHOTTER}, ${(img.compressedBytes / 1e6).toFixed(0)} MB, ${img.files} files, roots on ${values.tmpfs ? 'tmpfs' : 'disk'})`);
    console.log(`berthd      ${mb.toFixed(0)} ms   (runs: ${b.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`containerd  ${mc.toFixed(0)} ms   (runs: ${c.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`ratio       ${(mb / mc).toFixed(2)}   (berthd / containerd, median of ${RUNS}; goal ≤ 0.80)`);
  } finally {
    await tmp.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
