// Benchmark (not a test): CRI PullImage of a multi-layer image from a loopback registry,
// berthd against containerd 1.6.20's CRI plugin, both running side by side; each run pulls
// into an empty k8s.io (RemoveImage with the synchronous collection in between), the
// daemons alternate, median of N. Prints the ratio berthd / containerd.
//
//   npx tsx bench/cri-pull.ts [--runs 5] [--layers 4] [--files 2000] [--tmpfs]
//
// --tmpfs puts both daemons' roots on a private tmpfs (the disk's writeback otherwise
// dominates, as in bench/unpack.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { buildOciImage, multiLayerImage } from '../test/fixtures/images';
import { makeTempRoot, pushArchive, startBerthd, startContainerd, startRegistry } from '../test/harness';
import { CriClient } from '../test/e2e/cri-grpc';
import { containerdCri } from '../test/e2e/cri-reference';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '5' },
    layers: { type: 'string', default: '4' },
    files: { type: 'string', default: '2000' },
    tmpfs: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const IMAGE = 'registry.k8s.io/berth-bench/pull:1';
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function measure(): Promise<void> {
  const tmp = makeTempRoot('berth-bench-cri-pull-');
  const registry = await startRegistry();
  try {
    process.stderr.write('building and pushing the image…\n');
    const img = await multiLayerImage({ layers: Number(values.layers), filesPerLayer: Number(values.files), bytesPerFile: 8000, randomFraction: 0.5 });
    const archive = path.join(tmp.path, 'img.tar');
    fs.writeFileSync(archive, (await buildOciImage({ name: IMAGE, layers: img.layers })).archive);
    await pushArchive(registry, archive, 'berth-bench/pull:1');
    const hostsDir = path.join(tmp.path, 'certs.d');
    fs.mkdirSync(path.join(hostsDir, 'registry.k8s.io'), { recursive: true });
    fs.writeFileSync(path.join(hostsDir, 'registry.k8s.io', 'hosts.toml'), `server = "${registry.url}"\n[host."${registry.url}"]\n  capabilities = ["pull", "resolve"]\n`);
    const cni = path.join(tmp.path, 'cni');
    fs.mkdirSync(cni);
    const cfg = path.join(tmp.path, 'berthd.toml');
    fs.writeFileSync(cfg, `[cri]\n[cri.cni]\nbin_dir = "${cni}"\nconf_dir = "${cni}"\n[cri.registry]\nconfig_path = "${hostsDir}"\n`);
    process.stderr.write(`image: ${img.layers.length} layers, ${(img.compressedBytes / 1e6).toFixed(1)} MB compressed, ${(img.uncompressedBytes / 1e6).toFixed(1)} MB, ${img.files} files\n`);

    const [berthd, containerd] = await Promise.all([
      startBerthd({ config: cfg, logLevel: 'warn' }),
      startContainerd({ ...containerdCri({ hostsDir, cniBinDir: cni, cniConfDir: cni }), logLevel: 'warn' }),
    ]);
    const sides = [
      { name: 'berthd', cri: new CriClient(berthd.address), times: [] as number[] },
      { name: 'containerd', cri: new CriClient(containerd.address), times: [] as number[] },
    ];
    try {
      for (let r = 0; r < RUNS; r++) {
        const order = r % 2 === 0 ? sides : [...sides].reverse();
        for (const s of order) {
          execFileSync('sync');
          const t = process.hrtime.bigint();
          await s.cri.imageCall('PullImage', { image: { image: IMAGE } }, 900_000);
          const ms = Number(process.hrtime.bigint() - t) / 1e6;
          s.times.push(ms);
          process.stderr.write(`  run ${r + 1}: ${s.name} ${ms.toFixed(0)} ms\n`);
          await s.cri.imageCall('RemoveImage', { image: { image: IMAGE } }, 900_000);
        }
      }
    } finally {
      for (const s of sides) s.cri.close();
      await Promise.all([berthd.cleanup(), containerd.cleanup()]);
    }
    const [b, c] = sides.map((s) => median(s.times)) as [number, number];
    console.log(`\nCRI PullImage (${(img.compressedBytes / 1e6).toFixed(0)} MB, ${img.layers.length} layers, ${img.files} files, roots on ${values.tmpfs ? 'tmpfs' : 'disk'})`);
    for (const s of sides) console.log(`${s.name.padEnd(11)} ${median(s.times).toFixed(0)} ms   (runs: ${s.times.map((x) => x.toFixed(0)).join(', ')})`);
    console.log(`ratio       ${(b / c).toFixed(2)}   (berthd / containerd, median of ${RUNS})`);
  } finally {
    await registry.cleanup();
    await tmp.cleanup();
  }
}

async function main(): Promise<void> {
  let tmpfsDir: string | undefined;
  if (values.tmpfs) {
    tmpfsDir = fs.mkdtempSync(path.join(tmpdir(), 'berth-bench-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4g', 'tmpfs', tmpfsDir]);
    process.env.TMPDIR = tmpfsDir;
  }
  try {
    await measure();
  } finally {
    if (tmpfsDir) {
      execFileSync('umount', [tmpfsDir]);
      fs.rmdirSync(tmpfsDir);
    }
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
