import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildOciImage, busyboxLayer, opaqueWhiteout, readTar, whiteout, type LayerEntry } from '../fixtures/images';
import { buildGoProgram, ctr, ctrOk, makeTempRoot, pushArchive, runGoProgram, startRegistry, type TempRoot } from '../harness';
import { collectGarbage, collectGarbageBoth, normalize, startPair, type Pair } from './pair';
import { describeTree } from './tree';
import { unmountAll } from '../../src/native';

// Unpacking images into snapshots: berthd's trees must be identical to containerd's,
// path by path (type, mode, owner, size, content, link target, link count, mtime,
// xattrs), through the real ctr with the overlayfs and native snapshotters, through the
// Go client's Unpack, and after a pull from a registry on loopback.

const IMAGE = 'docker.io/library/berth-unpack:1';

/** A layer with every entry type and the awkward cases an unpacker must get right. */
const fancy: LayerEntry[] = [
  { path: '/etc/hello', type: 'file', content: 'hello\n', mode: 0o640, uid: 1000, gid: 1001, xattrs: { 'user.berth': 'yes' } },
  { path: '/etc/hello-hard', type: 'hardlink', linkname: '/etc/hello' },
  { path: '/etc/hello-sym', type: 'symlink', linkname: 'hello' },
  { path: '/etc/abs-sym', type: 'symlink', linkname: '/etc/hello' },
  { path: '/etc/motd', type: 'file', content: 'berth unpack\n', mode: 0o644 },
  { path: '/etc/secret', type: 'file', content: 's', mode: 0 },
  { path: '/usr/local/bin/suid', type: 'file', content: '#!/bin/sh\n', mode: 0o4755 },
  { path: '/usr/local/share/sticky', type: 'dir', mode: 0o1777 },
  { path: `/usr/local/share/${'long-name-'.repeat(20)}`, type: 'file', content: 'long', mode: 0o600 },
  { path: '/srv/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: '/srv/loop', type: 'block', mode: 0o660, devmajor: 7, devminor: 0 },
  { path: '/srv/fifo', type: 'fifo', mode: 0o644 },
  { path: '/var/data', type: 'dir', mode: 0o700, uid: 33, gid: 33 },
  { path: '/var/data/file', type: 'file', content: 'data', mode: 0o600, uid: 33, gid: 33 },
];
const third: LayerEntry[] = [
  whiteout('/etc/secret'),
  opaqueWhiteout('/var/data'),
  { path: '/var/data/new', type: 'file', content: 'replaced', mode: 0o644 },
  { path: '/etc/hello', type: 'file', content: 'hello v2\n', mode: 0o644 },
];

let pair: Pair;
let tmp: TempRoot;
let archive: string;

beforeAll(async () => {
  pair = await startPair();
  tmp = makeTempRoot('berth-unpack-');
  const img = await buildOciImage({ name: IMAGE, layers: [await busyboxLayer(), await buildLayer(fancy), await buildLayer(third)], config: { Cmd: ['/bin/sh'] } });
  archive = join(tmp.path, 'img.tar');
  writeFileSync(archive, img.archive);
}, 120_000);

afterAll(async () => {
  await pair?.cleanup();
  await tmp?.cleanup();
});

/** The committed top snapshot of IMAGE (its chain id) in a namespace. */
async function topChainId(address: string, ns: string, snapshotter: string): Promise<string> {
  const tree = (await ctrOk(address, ['snapshots', '--snapshotter', snapshotter, 'ls'], { namespace: ns })).stdout;
  const rows = tree.trim().split('\n').slice(1).map((l) => l.trim().split(/\s+/));
  const parents = new Set(rows.map((r) => r[1]));
  const leaves = rows.filter((r) => r[2] === 'Committed' && !parents.has(r[0]));
  expect(leaves).toHaveLength(1);
  return leaves[0]![0]!;
}

/** Mount a read-only view of `parent` via `ctr snapshots view` + `mounts`, describe it. */
async function viewTree(address: string, ns: string, snapshotter: string, parent: string): Promise<ReturnType<typeof describeTree>> {
  const key = `tree-view-${snapshotter}`;
  // `ctr snapshots view` sets no gc.root label: after an import or pull released its lease,
  // a pending collection would take the view while it is read. Collect first; nothing is
  // deleted between here and the view's removal, so no pass runs meanwhile.
  await collectGarbage(address, ns);
  await ctrOk(address, ['snapshots', '--snapshotter', snapshotter, 'view', key, parent], { namespace: ns });
  const dir = join(tmp.path, `${ns}-${snapshotter}-${address.length}-${Date.now()}`);
  mkdirSync(dir);
  try {
    const cmd = (await ctrOk(address, ['snapshots', '--snapshotter', snapshotter, 'mounts', dir, key], { namespace: ns })).stdout.trim();
    expect(cmd).toMatch(/^mount -t /);
    execFileSync('sh', ['-c', cmd]);
    try {
      return describeTree(dir);
    } finally {
      await unmountAll(dir);
    }
  } finally {
    rmdirSync(dir);
    await ctrOk(address, ['snapshots', '--snapshotter', snapshotter, 'rm', key], { namespace: ns });
  }
}

async function same(args: string[], ns: string): Promise<string> {
  const [b, c] = await Promise.all([ctrOk(pair.berthd.address, args, { namespace: ns }), ctrOk(pair.containerd.address, args, { namespace: ns })]);
  const norm = (s: string): string => normalize(s).replace(/(Less than a second|\d+ seconds?)/g, '<AGE>');
  expect(norm(b.stdout), `ctr ${args.join(' ')}`).toEqual(norm(c.stdout));
  return b.stdout;
}

describe('unpack: berthd trees are identical to containerd trees', () => {
  for (const snapshotter of ['overlayfs', 'native']) {
    it(`ctr images import with unpack (${snapshotter})`, async () => {
      const ns = `unpack-${snapshotter}`;
      for (const address of [pair.berthd.address, pair.containerd.address]) {
        await ctrOk(address, ['images', 'import', '--snapshotter', snapshotter, archive], { namespace: ns, timeoutMs: 120_000 });
      }
      await same(['snapshots', '--snapshotter', snapshotter, 'ls'], ns);
      await same(['images', 'check', '--snapshotter', snapshotter], ns);
      const [bTop, cTop] = await Promise.all([
        topChainId(pair.berthd.address, ns, snapshotter),
        topChainId(pair.containerd.address, ns, snapshotter),
      ]);
      expect(bTop).toBe(cTop);
      const [bt, ct] = [await viewTree(pair.berthd.address, ns, snapshotter, bTop), await viewTree(pair.containerd.address, ns, snapshotter, cTop)];
      expect(bt.length).toBeGreaterThan(20);
      expect(bt).toEqual(ct);
      expect(bt.find((e) => e.path === 'etc/secret')).toBeUndefined();
      expect(bt.find((e) => e.path === 'var/data/file')).toBeUndefined();
      // Layer 3 replaced /etc/hello: overlay still shows the lower inode (2 links), a
      // native copy has the link broken (1) — in containerd as here.
      expect(bt.find((e) => e.path === 'etc/hello-hard')).toMatchObject({ nlink: snapshotter === 'overlayfs' ? 2 : 1 });
    }, 180_000);
  }

  it('ctr snapshots prepare/view/mounts/commit/info/label/usage/tree/rm behave as on containerd', async () => {
    const ns = 'unpack-overlayfs';
    const top = await topChainId(pair.berthd.address, ns, 'overlayfs');
    await same(['snapshots', 'prepare', 'work', top], ns);
    await same(['snapshots', 'info', 'work'], ns);
    await same(['snapshots', 'label', 'work', 'a=b'], ns);
    await same(['snapshots', 'commit', 'work-done', 'work'], ns);
    // ctr's view sets no gc.root label: the view is garbage that each daemon's collector
    // may take at any time. Collect now on both (the commit removed an active snapshot,
    // which schedules a pass), so that the view is listed on both until it is removed.
    await collectGarbageBoth(pair, ns);
    await same(['snapshots', 'view', 'work-view', 'work-done'], ns);
    await same(['snapshots', 'tree'], ns);
    await same(['snapshots', 'usage', 'work-done'], ns);
    const bad = await Promise.all([ctr(pair.berthd.address, ['snapshots', 'rm', 'work-done'], { namespace: ns }), ctr(pair.containerd.address, ['snapshots', 'rm', 'work-done'], { namespace: ns })]);
    expect(bad[0].code).not.toBe(0);
    expect(normalize(bad[0].stderr)).toEqual(normalize(bad[1].stderr));
    await same(['snapshots', 'rm', 'work-view'], ns);
    await same(['snapshots', 'rm', 'work-done'], ns);
    await same(['snapshots', 'ls'], ns);
  });

  it('ctr snapshots diff writes the changes of a snapshot as a layer (Diff.Diff)', async () => {
    const ns = 'unpack-overlayfs';
    const top = await topChainId(pair.berthd.address, ns, 'overlayfs');
    await ctrOk(pair.berthd.address, ['snapshots', 'prepare', 'diff-work', top], { namespace: ns });
    const dir = join(tmp.path, 'diff-work');
    mkdirSync(dir);
    try {
      const cmd = (await ctrOk(pair.berthd.address, ['snapshots', 'mounts', dir, 'diff-work'], { namespace: ns })).stdout.trim();
      execFileSync('sh', ['-c', cmd]);
      try {
        writeFileSync(join(dir, 'etc', 'added'), 'new file\n');
        execFileSync('rm', [join(dir, 'etc', 'motd')]);
      } finally {
        await unmountAll(dir);
      }
    } finally {
      rmdirSync(dir);
    }
    // ctr writes the layer itself to stdout; --keep leaves the blob in the content store.
    const gz = execFileSync('/usr/bin/ctr', ['-a', pair.berthd.address, '-n', ns, 'snapshots', 'diff', '--keep', 'diff-work'], { maxBuffer: 64 << 20 });
    const digest = `sha256:${createHash('sha256').update(gz).digest('hex')}`;
    const entries = await readTar(gz);
    const names = entries.map((e) => e.name);
    expect(names).toContain('etc/added');
    expect(names).toContain('etc/.wh.motd');
    expect(entries.find((e) => e.name === 'etc/added')?.content.toString()).toBe('new file\n');
    const info = (await ctrOk(pair.berthd.address, ['content', 'ls', `digest==${digest}`], { namespace: ns })).stdout;
    expect(info).toContain('containerd.io/uncompressed=sha256:');
    await ctrOk(pair.berthd.address, ['snapshots', 'rm', 'diff-work'], { namespace: ns });
  });

  it('the Go client unpacks and builds a container from the snapshot (mounting it itself)', async () => {
    const bin = await buildGoProgram('unpack');
    for (const address of [pair.berthd.address, pair.containerd.address]) {
      await ctrOk(address, ['images', 'import', '--no-unpack', archive], { namespace: 'go-unpack' });
    }
    const [b, c] = await Promise.all([
      runGoProgram(bin, ['-address', pair.berthd.address, '-namespace', 'go-unpack', '-image', IMAGE]),
      runGoProgram(bin, ['-address', pair.containerd.address, '-namespace', 'go-unpack', '-image', IMAGE]),
    ]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    expect(b.lines).toEqual(c.lines);
    expect(b.lines.find((l) => l.step === 'rootfs')).toMatchObject({ motd: 'berth unpack\n', has_sh: true });
  }, 300_000);

  it('ctr images pull --plain-http from a registry on loopback unpacks the same tree', async () => {
    const reg = await startRegistry();
    try {
      await pushArchive(reg, archive, 'berth/unpack:1');
      const ref = `${reg.host}/berth/unpack:1`;
      for (const address of [pair.berthd.address, pair.containerd.address]) {
        await ctrOk(address, ['images', 'pull', '--plain-http', ref], { namespace: 'pull', timeoutMs: 120_000 });
      }
      await same(['images', 'check'], 'pull');
      const [bTop, cTop] = await Promise.all([topChainId(pair.berthd.address, 'pull', 'overlayfs'), topChainId(pair.containerd.address, 'pull', 'overlayfs')]);
      expect(await viewTree(pair.berthd.address, 'pull', 'overlayfs', bTop)).toEqual(await viewTree(pair.containerd.address, 'pull', 'overlayfs', cTop));
    } finally {
      await reg.cleanup();
    }
  }, 180_000);
});
