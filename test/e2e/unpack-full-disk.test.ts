// A layer that does not fit: unpacking onto a full disk fails with an error that names the
// file, as containerd's does, leaves no half-written snapshot behind, and the daemon goes on
// serving. Each daemon's root is a small tmpfs of the test's own; the image is tiny
// compressed (a file of zeros) and large unpacked, so the content fits and the unpack does not.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildOciImage } from '../fixtures/images';
import { ctr, ctrOk, makeTempRoot, startBerthd, startContainerd, type BerthdHandle, type ContainerdHandle, type TempRoot } from '../harness';

const IMAGE = 'docker.io/library/berth-full-disk:1';
const NS = 'fulldisk';
const DISK_MB = 8;
const BIG_MB = 24;
const canRun = process.getuid?.() === 0;

let tmp: TempRoot;
let berthd: BerthdHandle;
let containerd: ContainerdHandle;
let archive: string;

function mountTmpfs(dir: string): void {
  fs.mkdirSync(dir, { recursive: true });
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${DISK_MB}m`, 'tmpfs', dir]);
}

/**
 * ctr's own error line, with the temporary mount dir each daemon writes the layer through
 * (containerd: <root>/tmpmounts/containerd-mount<n>, berthd: <root>/tmpmounts/m-<hex>) as <DIR>.
 */
function ctrError(stderr: string, root: string): string {
  const line = stderr.split('\n').find((l) => l.startsWith('ctr: ')) ?? stderr;
  return line.replace(new RegExp(`${root}/tmpmounts/(containerd-mount\\d+|m-[0-9a-f]+)`, 'g'), '<DIR>').trim();
}

describe.skipIf(!canRun)('unpack onto a full disk', () => {
  beforeAll(async () => {
    tmp = makeTempRoot('berth-fulldisk-');
    const broot = path.join(tmp.path, 'berthd-root');
    mountTmpfs(broot);
    [berthd, containerd] = await Promise.all([
      startBerthd({ root: broot }),
      startContainerd({ beforeStart: ({ root }) => mountTmpfs(root) }),
    ]);
    const layer = await buildLayer([
      { path: 'data', type: 'dir' },
      { path: 'data/zeros', type: 'file', content: Buffer.alloc(BIG_MB << 20) },
    ]);
    archive = path.join(tmp.path, 'image.tar');
    fs.writeFileSync(archive, (await buildOciImage({ name: IMAGE, layers: [layer], config: { Cmd: ['/bin/sh'] } })).archive);
  }, 120_000);

  afterAll(async () => {
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
    await tmp?.cleanup();
  }, 60_000);

  it('fails alike, naming the file, keeps no partial snapshot, and goes on serving', async () => {
    const [b, c] = await Promise.all(
      [berthd, containerd].map((d) => ctr(d.address, ['images', 'import', archive], { namespace: NS, timeoutMs: 60_000 })),
    );
    expect(c!.code, c!.stderr).not.toBe(0);
    expect(b!.code, b!.stderr).not.toBe(0);
    expect(ctrError(b!.stderr, berthd.root)).toBe(ctrError(c!.stderr, containerd.root));
    expect(ctrError(b!.stderr, berthd.root)).toMatch(/^ctr: failed to extract layer sha256:[0-9a-f]{64}: mount callback failed on <DIR>: write <DIR>\/data\/zeros: no space left on device: unknown$/);
    // No half-written snapshot is left on berthd. (containerd cannot record the removal of
    // its extraction snapshot: its own meta.db is on the full disk too.)
    expect((await ctrOk(berthd.address, ['snapshots', 'ls'], { namespace: NS })).stdout.trim().split('\n')).toEqual(['KEY PARENT KIND']);
    expect(fs.readdirSync(path.join(berthd.root, 'snapshots', 'overlayfs')).filter((e) => /^\d+$/.test(e))).toEqual([]);
    // berthd goes on serving. (containerd's `version` now fails: it writes its server UUID
    // on first use, onto the full disk.)
    await ctrOk(berthd.address, ['version']);
    await ctrOk(berthd.address, ['images', 'ls'], { namespace: NS });
  }, 120_000);
});
