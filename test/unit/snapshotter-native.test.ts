// NativeSnapshotter: the conformance suite, plus what is specific to the native
// backend — containerd's mount shapes, views of a parent without a directory of their
// own, and full-fidelity copies of the parent tree (hard links, xattrs, device nodes,
// fifos, sockets, setuid/sticky bits, owners, nanosecond times, non-UTF-8 names).
// Runs as root; every mount is undone in finally blocks.

import { existsSync, promises as fsp, type BigIntStats } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errdefs/errors';
import {
  S_IFBLK, S_IFCHR, S_IFIFO, S_IFSOCK, lgetxattr, llistxattr, lsetxattr, lutimes, mknod, mountAll, unmountAll,
} from '../../src/native';
import { copyTree, devMajor, devMinor } from '../../src/snapshotter/copy';
import { NativeSnapshotter } from '../../src/snapshotter/native';
import type { Mount } from '../../src/snapshotter/snapshotter';
import { snapshotterConformance } from './snapshotter-conformance';

snapshotterConformance('NativeSnapshotter', async () => {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'berth-native-sn-'));
  const root = join(dir, 'snapshots', 'native');
  const sn = await NativeSnapshotter.open(root);
  return {
    sn,
    root,
    cleanup: async () => {
      await sn.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
});

async function errorOf(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error('expected the call to fail');
}

function makedev(major: number, minor: number): bigint {
  const ma = BigInt(major);
  const mi = BigInt(minor);
  return (mi & 0xffn) | ((ma & 0xfffn) << 8n) | ((mi & ~0xffn) << 12n) | ((ma & ~0xfffn) << 32n);
}

interface Full {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  mtimeNs: string;
  size?: number;
  content?: string;
  link?: string;
  rdev?: string;
  xattrs: Record<string, string>;
  /** Index of the first path sharing this inode (hard link groups). */
  linkGroup?: string;
  nlink?: number;
}

function typeOf(st: BigIntStats): string {
  if (st.isDirectory()) return 'dir';
  if (st.isFile()) return 'file';
  if (st.isSymbolicLink()) return 'symlink';
  if (st.isCharacterDevice()) return 'char';
  if (st.isBlockDevice()) return 'block';
  if (st.isFIFO()) return 'fifo';
  if (st.isSocket()) return 'socket';
  return 'unknown';
}

/** Every detail of a tree, root included, names as hex of their bytes. */
async function fullTree(root: string): Promise<Record<string, Full>> {
  const out: Record<string, Full> = {};
  const firstOf = new Map<string, string>();
  const visit = async (p: Buffer, rel: string): Promise<void> => {
    const st = await fsp.lstat(p, { bigint: true });
    const e: Full = {
      type: typeOf(st),
      mode: (st.mode & 0o7777n).toString(8),
      uid: Number(st.uid),
      gid: Number(st.gid),
      mtimeNs: st.mtimeNs.toString(),
      xattrs: {},
    };
    for (const x of llistxattr(p).sort()) e.xattrs[x] = (lgetxattr(p, x) ?? Buffer.alloc(0)).toString('hex');
    if (st.isFile()) {
      e.size = Number(st.size);
      e.content = (await fsp.readFile(p)).toString('hex');
    }
    if (st.isSymbolicLink()) e.link = (await fsp.readlink(p, { encoding: 'buffer' })).toString('hex');
    if (st.isCharacterDevice() || st.isBlockDevice()) e.rdev = st.rdev.toString();
    if (!st.isDirectory()) {
      const id = `${st.ino}`;
      if (!firstOf.has(id)) firstOf.set(id, rel);
      e.linkGroup = firstOf.get(id);
      e.nlink = Number(st.nlink);
    }
    out[rel] = e;
    if (st.isDirectory()) {
      const names = (await fsp.readdir(p, { encoding: 'buffer' })).sort(Buffer.compare);
      for (const n of names) await visit(Buffer.concat([p, Buffer.from('/'), n]), `${rel}/${n.toString('hex')}`);
    }
  };
  await visit(Buffer.from(root), '');
  return out;
}

/** A tree with everything the copy must keep. Times are set last, bottom-up. */
async function buildRichTree(d: string): Promise<void> {
  const j = (...p: string[]) => join(d, ...p);
  await fsp.mkdir(j('dir', 'sub'), { recursive: true });
  await fsp.writeFile(j('dir', 'file'), 'hello world');
  await fsp.chown(j('dir', 'file'), 1, 2);
  await fsp.chmod(j('dir', 'file'), 0o4755); // setuid, after chown
  await fsp.writeFile(j('big'), Buffer.alloc(300_000, 7));
  // a hard link group of three, across directories
  await fsp.writeFile(j('h1'), 'linked');
  await fsp.link(j('h1'), j('dir', 'h2'));
  await fsp.link(j('h1'), j('dir', 'sub', 'h3'));
  // a hard-linked symlink
  await fsp.symlink('dir/file', j('sl'));
  await fsp.link(j('sl'), j('sl2'));
  await fsp.symlink('/absolute/dangling', j('dangling'));
  await fsp.lchown(j('dangling'), 3, 4);
  mknod(j('null'), S_IFCHR | 0o666, 1, 3);
  mknod(j('whiteout'), S_IFCHR | 0o000, 0, 0);
  mknod(j('blk'), S_IFBLK | 0o660, 300, 70_000); // major > 255, minor > 255: both dev_t halves
  mknod(j('fifo'), S_IFIFO | 0o640, 0, 0);
  mknod(j('sock'), S_IFSOCK | 0o755, 0, 0);
  await fsp.chmod(j('null'), 0o666);
  await fsp.chmod(j('blk'), 0o660);
  await fsp.chmod(j('fifo'), 0o640);
  await fsp.mkdir(j('sticky'));
  await fsp.chmod(j('sticky'), 0o1777);
  await fsp.mkdir(j('sgid'));
  await fsp.chown(j('sgid'), 5, 6);
  await fsp.chmod(j('sgid'), 0o2750);
  await fsp.mkdir(j('empty'));
  await fsp.chmod(j('empty'), 0o700);
  // xattrs: user.* on a file and a dir, trusted.* (overlay's opaque) on a dir and a symlink
  lsetxattr(j('dir', 'file'), 'user.note', Buffer.from([0, 1, 2, 255]));
  lsetxattr(j('dir'), 'user.dirnote', 'd');
  lsetxattr(j('sticky'), 'trusted.overlay.opaque', 'y');
  lsetxattr(j('sl'), 'trusted.link', 'l');
  // a name that is not UTF-8
  const odd = Buffer.concat([Buffer.from(d), Buffer.from('/odd-'), Buffer.from([0xff, 0xfe])]);
  await fsp.writeFile(odd, 'odd');
  // nanosecond times, bottom-up (children first, so directories keep theirs)
  let t = 1_600_000_000n;
  const stamp = (p: string | Buffer) => {
    t += 17n;
    lutimes(p, t, 123_456_789, t, 987_654_321);
  };
  for (const p of [
    j('dir', 'sub', 'h3'), j('dir', 'file'), j('big'), j('sl'), j('dangling'), j('null'), j('whiteout'),
    j('blk'), j('fifo'), j('sock'), odd, j('dir', 'sub'), j('dir'), j('sticky'), j('sgid'), j('empty'),
  ]) {
    stamp(p);
  }
  stamp(d);
}

describe('NativeSnapshotter specifics', () => {
  let dir: string;
  let root: string;
  let sn: NativeSnapshotter;
  let mounted: string[] = [];

  beforeEach(async () => {
    dir = await fsp.mkdtemp(join(tmpdir(), 'berth-native-x-'));
    root = join(dir, 'snapshots', 'native');
    sn = await NativeSnapshotter.open(root);
    mounted = [];
  });

  afterEach(async () => {
    for (const m of mounted.reverse()) await unmountAll(m).catch(() => undefined);
    await sn.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  async function withMounted<T>(mounts: Mount[], fn: (d: string) => Promise<T>): Promise<T> {
    const target = await fsp.mkdtemp(join(dir, 'mnt-'));
    mounted.push(target);
    try {
      mountAll(mounts, target);
      return await fn(target);
    } finally {
      await unmountAll(target);
      mounted = mounted.filter((m) => m !== target);
    }
  }

  const sdir = (id: number) => join(root, 'snapshots', String(id));

  it("returns containerd's native mounts; a view of a parent has no directory of its own", async () => {
    expect(await sn.prepare('a', '')).toStrictEqual([{ type: 'bind', source: sdir(1), options: ['rbind', 'rw'] }]);
    expect(await sn.view('v0', '')).toStrictEqual([{ type: 'bind', source: sdir(2), options: ['rbind', 'ro'] }]);
    await sn.commit('c', 'a');
    expect(await sn.view('v1', 'c')).toStrictEqual([{ type: 'bind', source: sdir(1), options: ['rbind', 'ro'] }]);
    expect(await sn.prepare('b', 'c')).toStrictEqual([{ type: 'bind', source: sdir(4), options: ['rbind', 'rw'] }]);
    expect((await fsp.readdir(join(root, 'snapshots'))).sort()).toEqual(['1', '2', '4']);
    expect((await fsp.stat(sdir(1))).mode & 0o7777).toBe(0o755);
    expect(await sn.upperDir('b')).toBe(sdir(4));
    expect(await sn.upperDir('c')).toBe(sdir(1));
    expect(await sn.upperDir('v1')).toBe(sdir(1));
    expect(await sn.upperDir('v0')).toBe(sdir(2));
    expect(await errorOf(sn.upperDir('nope'))).toBeInstanceOf(NotFoundError);
    // removing the dir-less view leaves the parent's tree alone
    await sn.remove('v1');
    expect((await fsp.readdir(join(root, 'snapshots'))).sort()).toEqual(['1', '2', '4']);
    await sn.remove('b');
    await sn.drained();
    expect((await fsp.readdir(join(root, 'snapshots'))).sort()).toEqual(['1', '2']);
  });

  it('copies the parent tree with full fidelity into a new active snapshot', async () => {
    const m = await sn.prepare('rich', '');
    await withMounted(m, buildRichTree);
    const want = await fullTree(sdir(1));
    const hex = (n: string) => '/' + Buffer.from(n).toString('hex');
    // the fixture really has what it claims
    expect(want[hex('h1')]?.nlink).toBe(3);
    expect(want[hex('sl2')]?.linkGroup).toBe(hex('sl'));
    expect(want[hex('sticky')]?.xattrs['trusted.overlay.opaque']).toBe(Buffer.from('y').toString('hex'));
    await sn.commit('rich-c', 'rich');
    await sn.prepare('copy', 'rich-c');
    expect(await fullTree(sdir(2))).toEqual(want);
    // a copy of a copy is still exact
    await sn.commit('copy-c', 'copy');
    const m3 = await sn.prepare('copy2', 'copy-c');
    expect(await fullTree(sdir(3))).toEqual(want);
    await withMounted(m3, async (d) => {
      const blk = await fsp.lstat(join(d, 'blk'), { bigint: true });
      expect([devMajor(blk.rdev), devMinor(blk.rdev)]).toEqual([300, 70_000]);
      const h1 = await fsp.stat(join(d, 'h1'));
      const h3 = await fsp.stat(join(d, 'dir', 'sub', 'h3'));
      expect(h3.ino).toBe(h1.ino);
      expect(h1.nlink).toBe(3);
      // the copy is independent of its parents
      await fsp.writeFile(join(d, 'dir', 'file'), 'changed');
    });
    expect(await fsp.readFile(join(sdir(1), 'dir', 'file'), 'utf8')).toBe('hello world');
    expect(await fsp.readFile(join(sdir(2), 'dir', 'file'), 'utf8')).toBe('hello world');
  });

  it('usage of an active snapshot counts its whole tree', async () => {
    const m = await sn.prepare('a', '');
    await withMounted(m, async (d) => {
      await fsp.writeFile(join(d, 'f'), 'x');
    });
    await sn.commit('c', 'a');
    await sn.prepare('b', 'c');
    expect((await sn.usage('b')).inodes).toBe(2); // root and f, copied
  });

  it('remove deletes the tree; cleanup sweeps leftovers', async () => {
    await sn.prepare('a', '');
    await sn.commit('c', 'a');
    await sn.prepare('b', 'c');
    await sn.remove('b');
    expect(existsSync(join(root, 'snapshots', '2'))).toBe(false);
    await sn.drained();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual(['1']);
    for (const d of ['42', 'new-zzz', 'rm-3']) await fsp.mkdir(join(root, 'snapshots', d));
    await sn.cleanup();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual(['1']);
  });

  it("uses containerd's error texts (native.go wording for mounts)", async () => {
    await sn.prepare('a', '');
    await sn.commit('c', 'a');
    expect((await errorOf(sn.mounts('nope'))).message).toBe('failed to get snapshot mount: snapshot does not exist: not found');
    expect((await errorOf(sn.mounts('c'))).message).toBe(
      'failed to get snapshot mount: requested snapshot c not active or view: failed precondition',
    );
    expect((await errorOf(sn.prepare('k', 'nope'))).message).toBe(
      'failed to create snapshot: missing parent "nope" bucket: not found',
    );
  });

  it('copyTree: creates a missing destination, refuses a non-directory source', async () => {
    const src = join(dir, 'src');
    await fsp.mkdir(join(src, 'a'), { recursive: true });
    await fsp.writeFile(join(src, 'a', 'f'), 'f');
    await fsp.chmod(src, 0o750);
    await copyTree(src, join(dir, 'dst'));
    expect(await fsp.readFile(join(dir, 'dst', 'a', 'f'), 'utf8')).toBe('f');
    expect((await fsp.stat(join(dir, 'dst'))).mode & 0o7777).toBe(0o750);
    await expect(copyTree(join(src, 'a', 'f'), join(dir, 'dst2'))).rejects.toThrow(/is not directory/);
  });

  it('dev_t helpers match glibc makedev', () => {
    for (const [ma, mi] of [
      [0, 0],
      [1, 3],
      [8, 1],
      [259, 0],
      [300, 70_000],
      [4095, 1_048_575],
    ] as const) {
      const dev = makedev(ma, mi);
      expect([devMajor(dev), devMinor(dev)]).toEqual([ma, mi]);
    }
    expect(makedev(8, 1)).toBe(2049n);
  });
});
