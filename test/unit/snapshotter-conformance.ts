// Conformance suite for Snapshotter implementations (the overlayfs and native backends,
// and the namespaced snapshotter over them), modelled on containerd's
// snapshots/testsuite: chains of snapshots built by writing through the returned mounts
// (mounted for real), views checked against a flat directory that received the same
// changes, stat/update/list/usage/remove semantics, and the error class of every bad
// call. Only error classes are checked here (containerd's backends and its metadata
// layer word errors differently); texts are tested next to each implementation.
//
// Runs as root. Every mount is undone in afterEach, whatever happened.

import { createHash, randomBytes } from 'crypto';
import { promises as fsp, type BigIntStats } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
} from '../../src/errdefs/errors';
import { llistxattr, lgetxattr, mountAll, unmountAll } from '../../src/native';
import type { Mount, SnapshotInfo, Snapshotter } from '../../src/snapshotter/snapshotter';
import { compareWall, formatWall, wallNow, type WallTime } from '../../src/time/wall';

/** before <= t <= after, to the nanosecond (containerd's suite checks the same). */
function expectBetween(t: WallTime, before: WallTime, after: WallTime): void {
  expect(compareWall(t, before), `${formatWall(t)} before ${formatWall(before)}`).toBeGreaterThanOrEqual(0);
  expect(compareWall(t, after), `${formatWall(t)} after ${formatWall(after)}`).toBeLessThanOrEqual(0);
}

export interface SnapshotterFixture {
  sn: Snapshotter;
  /** The snapshotter's root directory: every path in its mounts lies below it. */
  root: string;
  cleanup(): Promise<void>;
}

export interface SnapshotterConformanceOptions {
  /** Layers in the deep-chain test (containerd: 128). */
  layers?: number;
}

// ---------------------------------------------------------------------------------
// file-tree helpers (containerd's fstest, reduced)

export type Applier = (root: string) => Promise<void>;

export const fst = {
  createFile(name: string, content: string | Buffer, mode: number): Applier {
    return async (root) => {
      const p = join(root, name);
      await fsp.writeFile(p, content, { mode });
      await fsp.chmod(p, mode);
    };
  },
  createDir(name: string, mode: number): Applier {
    return async (root) => {
      const p = join(root, name);
      await fsp.mkdir(p, { recursive: true, mode });
      await fsp.chmod(p, mode);
    };
  },
  removeAll(name: string): Applier {
    return (root) => fsp.rm(join(root, name), { recursive: true, force: true });
  },
  chown(name: string, uid: number, gid: number): Applier {
    return (root) => fsp.lchown(join(root, name), uid, gid);
  },
  chmod(name: string, mode: number): Applier {
    return (root) => fsp.chmod(join(root, name), mode);
  },
  link(oldname: string, newname: string): Applier {
    return (root) => fsp.link(join(root, oldname), join(root, newname));
  },
  symlink(target: string, name: string): Applier {
    return (root) => fsp.symlink(target, join(root, name));
  },
  rename(from: string, to: string): Applier {
    return (root) => fsp.rename(join(root, from), join(root, to));
  },
  apply(...as: Applier[]): Applier {
    return async (root) => {
      for (const a of as) await a(root);
    };
  },
};

interface TreeEntry {
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha?: string;
  link?: string;
  rdev?: string;
  xattrs?: Record<string, string>;
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

/** Everything below `root` (not root itself): type, permissions, owner, content,
 * link target, device numbers and user.* xattrs (overlay hides trusted.overlay.*). */
export async function readTree(root: string): Promise<Record<string, TreeEntry>> {
  const out: Record<string, TreeEntry> = {};
  const walk = async (rel: string): Promise<void> => {
    const names = (await fsp.readdir(join(root, rel))).sort();
    for (const name of names) {
      const r = rel === '' ? name : `${rel}/${name}`;
      const p = join(root, r);
      const st = await fsp.lstat(p, { bigint: true });
      const e: TreeEntry = {
        type: typeOf(st),
        mode: (st.mode & 0o7777n).toString(8),
        uid: Number(st.uid),
        gid: Number(st.gid),
      };
      if (st.isFile()) {
        e.size = Number(st.size);
        e.sha = createHash('sha256').update(await fsp.readFile(p)).digest('hex');
      }
      if (st.isSymbolicLink()) e.link = await fsp.readlink(p);
      if (st.isCharacterDevice() || st.isBlockDevice()) e.rdev = st.rdev.toString();
      if (!st.isSymbolicLink()) {
        const xs = llistxattr(p).filter((x) => x.startsWith('user.')).sort();
        if (xs.length > 0) {
          e.xattrs = {};
          for (const x of xs) e.xattrs[x] = (lgetxattr(p, x) ?? Buffer.alloc(0)).toString('hex');
        }
      }
      out[r] = e;
      if (st.isDirectory()) await walk(r);
    }
  };
  await walk('');
  return out;
}

export async function expectSameTree(actual: string, expected: string): Promise<void> {
  expect(await readTree(actual)).toEqual(await readTree(expected));
}

/** containerd's fs.DiskUsage, computed independently: unique inodes, st_blocks*512. */
async function expectedUsage(root: string): Promise<{ size: number; inodes: number }> {
  const seen = new Set<string>();
  let size = 0n;
  const visit = async (p: string): Promise<void> => {
    const st = await fsp.lstat(p, { bigint: true });
    const id = `${st.dev}:${st.ino}`;
    if (!seen.has(id)) {
      seen.add(id);
      size += st.blocks * 512n;
    }
    if (st.isDirectory()) for (const n of await fsp.readdir(p)) await visit(join(p, n));
  };
  await visit(root);
  return { size: Number(size), inodes: seen.size };
}

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected the call to fail');
}

async function collectList(sn: Snapshotter, filters: readonly string[] = []): Promise<SnapshotInfo[]> {
  const out: SnapshotInfo[] = [];
  for await (const i of sn.list(filters)) out.push(i);
  return out;
}

async function names(sn: Snapshotter, filters: readonly string[] = []): Promise<string[]> {
  return (await collectList(sn, filters)).map((i) => i.name).sort();
}

const gcRoot = (): Record<string, string> => ({ 'containerd.io/gc.root': new Date().toISOString() });

// ---------------------------------------------------------------------------------

export function snapshotterConformance(
  name: string,
  make: () => Promise<SnapshotterFixture>,
  options: SnapshotterConformanceOptions = {},
): void {
  describe(`${name} conformance`, () => {
    let fx: SnapshotterFixture;
    let sn: Snapshotter;
    let work: string;
    let mounted: string[] = [];

    beforeEach(async () => {
      fx = await make();
      sn = fx.sn;
      work = await fsp.mkdtemp(join(tmpdir(), 'berth-snsuite-work-'));
      mounted = [];
    });

    afterEach(async () => {
      const errors: unknown[] = [];
      for (const m of mounted.reverse()) await unmountAll(m).catch((e: unknown) => errors.push(e));
      mounted = [];
      await sn.close().catch((e: unknown) => errors.push(e));
      await fx.cleanup().catch((e: unknown) => errors.push(e));
      await fsp.rm(work, { recursive: true, force: true }).catch((e: unknown) => errors.push(e));
      if (errors.length > 0) throw errors[0];
    });

    /** Mount `mounts` on a new directory below work; undone by unmount() or afterEach. */
    async function mountTemp(mounts: Mount[], prefix = 'mnt-'): Promise<string> {
      const dir = await fsp.mkdtemp(join(work, prefix));
      mounted.push(dir);
      mountAll(mounts, dir);
      return dir;
    }

    async function unmount(dir: string): Promise<void> {
      await unmountAll(dir);
      mounted = mounted.filter((m) => m !== dir);
    }

    async function withMounted<T>(mounts: Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
      const dir = await mountTemp(mounts);
      try {
        return await fn(dir);
      } finally {
        await unmount(dir);
      }
    }

    let seq = 0;
    const uniq = (p: string): string => `${p}-${++seq}-${randomBytes(3).toString('hex')}`;

    /** Prepare on `parent`, apply through the mounts, commit: the committed name. */
    async function createLayer(parent: string, a: Applier): Promise<string> {
      const n = uniq('layer');
      const m = await sn.prepare(`${n}-prepare`, parent, gcRoot());
      await withMounted(m, a);
      await sn.commit(n, `${n}-prepare`, gcRoot());
      return n;
    }

    /** A view of `snap` must equal `check`. */
    async function checkLayer(snap: string, check: string): Promise<void> {
      const view = `${snap}-view`;
      const m = await sn.view(view, snap, gcRoot());
      try {
        await withMounted(m, (dir) => expectSameTree(dir, check));
      } finally {
        await sn.remove(view);
      }
    }

    /** containerd's checkSnapshots: a chain built with the appliers, each layer's view
     * compared with a flat directory that received the same changes. */
    async function checkChain(...as: Applier[]): Promise<string[]> {
      const flat = await fsp.mkdtemp(join(work, 'flat-'));
      const out: string[] = [];
      let parent = '';
      for (const a of as) {
        parent = await createLayer(parent, a);
        await a(flat);
        await checkLayer(parent, flat);
        out.push(parent);
      }
      return out;
    }

    it('basic: write through the mounts, commit, build on it, view the result, remove in order', async () => {
      const initial = fst.apply(
        fst.createFile('foo', 'foo\n', 0o777),
        fst.createDir('a', 0o755),
        fst.createDir('a/b', 0o755),
        fst.createDir('a/b/c', 0o755),
      );
      const diff = fst.apply(fst.createFile('bar', 'bar\n', 0o777), fst.createFile('foo', 'bar\n', 0o777), fst.removeAll('a/b'));

      const preparing = join(work, 'preparing');
      const m1 = await sn.prepare(preparing, '', gcRoot());
      expect(m1.length).toBeGreaterThanOrEqual(1);
      await withMounted(m1, initial);

      const committed = join(work, 'committed');
      await sn.commit(committed, preparing, gcRoot());
      const si = await sn.stat(committed);
      expect(si.parent).toBe('');
      expect(si.kind).toBe('committed');
      expect(si.name).toBe(committed);
      expect(await rejection(sn.stat(preparing))).toBeInstanceOf(NotFoundError);

      const next = join(work, 'nextlayer');
      const m2 = await sn.prepare(next, committed, gcRoot());
      const flat = await fsp.mkdtemp(join(work, 'flat-'));
      await initial(flat);
      await withMounted(m2, async (dir) => {
        await expectSameTree(dir, flat);
        await diff(dir);
      });
      const ni = await sn.stat(next);
      expect(ni.parent).toBe(committed);
      expect(ni.kind).toBe('active');

      const nextCommitted = join(work, 'committed-next');
      await sn.commit(nextCommitted, next, gcRoot());
      const si2 = await sn.stat(nextCommitted);
      expect(si2.parent).toBe(committed);
      expect(si2.kind).toBe('committed');
      expect(await rejection(sn.stat(next))).toBeInstanceOf(NotFoundError);

      const walked = new Map((await collectList(sn)).map((i) => [i.name, i]));
      expect(walked.get(committed)).toEqual(si);
      expect(walked.get(nextCommitted)).toEqual(si2);

      const nextnext = join(work, 'nextnextlayer');
      const m3 = await sn.view(nextnext, nextCommitted, gcRoot());
      await diff(flat);
      await withMounted(m3, (dir) => expectSameTree(dir, flat));

      await sn.remove(nextnext);
      expect(await rejection(sn.remove(committed))).toBeInstanceOf(FailedPreconditionError);
      await sn.remove(nextCommitted);
      await sn.remove(committed);
      expect(await names(sn)).toEqual([]);
    });

    it('stat of an active and of a committed snapshot', async () => {
      const preparing = join(work, 'preparing');
      const m = await sn.prepare(preparing, '', gcRoot());
      await withMounted(m, fst.createFile('foo', 'foo\n', 0o777));
      const a = await sn.stat(preparing);
      expect(a).toMatchObject({ name: preparing, kind: 'active', parent: '' });
      const committed = join(work, 'committed');
      await sn.commit(committed, preparing, gcRoot());
      expect(await sn.stat(committed)).toMatchObject({ name: committed, kind: 'committed', parent: '' });
    });

    it('transitivity: the parent of a parent', async () => {
      const a = await createLayer('', fst.createFile('foo', 'foo\n', 0o777));
      const b = await createLayer(a, fst.createFile('foo', 'foo bar\n', 0o777));
      const siA = await sn.stat(a);
      const siB = await sn.stat(b);
      const siParentB = await sn.stat(siB.parent);
      expect(siA.parent).toBe('');
      expect(siB.parent).toBe(a);
      expect(siParentB.parent).toBe('');
    });

    it('prepare or view with a key in use fails with AlreadyExists', async () => {
      const snapA = await createLayer('', fst.apply());
      await sn.prepare('newlayer', snapA);
      expect(await rejection(sn.view('newlayer', snapA))).toBeInstanceOf(AlreadyExistsError);
      await sn.prepare('prepLayer', snapA);
      expect(await rejection(sn.prepare('prepLayer', snapA))).toBeInstanceOf(AlreadyExistsError);
      await sn.view('viewLayer', snapA);
      expect(await rejection(sn.view('viewLayer', snapA))).toBeInstanceOf(AlreadyExistsError);
      expect(await rejection(sn.prepare(snapA, ''))).toBeInstanceOf(AlreadyExistsError);
      expect(await rejection(sn.view(snapA, ''))).toBeInstanceOf(AlreadyExistsError);
    });

    async function baseSnapshots(): Promise<void> {
      await sn.prepare('c1-a', '', gcRoot());
      await sn.commit('c1', 'c1-a', gcRoot());
      await sn.prepare('c2-a', 'c1', gcRoot());
      await sn.commit('c2', 'c2-a', gcRoot());
      await sn.prepare('a1', 'c2', gcRoot());
      await sn.prepare('a2', '', gcRoot());
      await sn.view('v1', 'c2', gcRoot());
      await sn.view('v2', '', gcRoot());
    }

    it('update: labels replaced, per-key updates, timestamps, immutable fields refused', async () => {
      const t1 = wallNow();
      await baseSnapshots();
      const t2 = wallNow();
      const cases = [
        { name: 'c1', kind: 'committed', parent: '' },
        { name: 'c2', kind: 'committed', parent: 'c1' },
        { name: 'a1', kind: 'active', parent: 'c2' },
        { name: 'a2', kind: 'active', parent: '' },
        { name: 'v1', kind: 'view', parent: 'c2' },
        { name: 'v2', kind: 'view', parent: '' },
      ] as const;
      for (const tc of cases) {
        let st = await sn.stat(tc.name);
        expectBetween(st.createdAt, t1, t2);
        expect(st.updatedAt).toEqual(st.createdAt);
        expect(st).toMatchObject({ name: tc.name, kind: tc.kind, parent: tc.parent });

        const createdAt = st.createdAt;
        const rootTime = new Date().toISOString();
        let expected: Record<string, string> = { l1: 'v1', l2: 'v2', l3: 'v3', 'containerd.io/gc.root': rootTime };
        const u1 = wallNow();
        st = await sn.update({ name: tc.name, labels: expected }, []);
        const u2 = wallNow();
        expect(st.createdAt).toEqual(createdAt);
        expectBetween(st.updatedAt, u1, u2);
        expect(st).toMatchObject({ name: tc.name, kind: tc.kind, parent: tc.parent });
        expect(st.labels).toEqual(expected);

        expected = { l1: 'updated', l3: 'v3', 'containerd.io/gc.root': rootTime };
        st = await sn.update({ name: tc.name, labels: { l1: 'updated', l4: 'v4' } }, ['labels.l1', 'labels.l2']);
        expect(st.labels).toEqual(expected);
        expect((await sn.stat(tc.name)).labels).toEqual(expected);

        expected = { l4: 'v4', 'containerd.io/gc.root': rootTime };
        st = await sn.update({ name: tc.name, labels: expected }, ['labels']);
        expect(st.labels).toEqual(expected);

        expect(await rejection(sn.update({ name: tc.name, labels: {} }, ['parent']))).toBeInstanceOf(InvalidArgumentError);
        expect((await sn.stat(tc.name)).labels).toEqual(expected);
      }
    });

    it('labels: given at prepare, replaced (not inherited) at commit, empty values dropped', async () => {
      await sn.prepare('lab-a', '', { a: '1', empty: '' });
      expect((await sn.stat('lab-a')).labels).toEqual({ a: '1' });
      await sn.commit('lab-c', 'lab-a', { c: '3' });
      expect((await sn.stat('lab-c')).labels).toEqual({ c: '3' });
      await sn.view('lab-v', 'lab-c');
      expect((await sn.stat('lab-v')).labels).toEqual({});
      const u = await sn.update({ name: 'lab-c', labels: { c: '' } }, ['labels.c']);
      expect(u.labels).toEqual({});
    });

    it('remove: keys are free for reuse, a committed snapshot without children goes', async () => {
      await sn.prepare('committed-a', '', gcRoot());
      await sn.commit('committed-1', 'committed-a', gcRoot());
      await sn.prepare('reuse-1', 'committed-1', gcRoot());
      await sn.remove('reuse-1');
      await sn.view('reuse-1', 'committed-1', gcRoot());
      await sn.remove('reuse-1');
      await sn.prepare('reuse-1', '', gcRoot());
      await sn.remove('committed-1');
      await sn.commit('committed-1', 'reuse-1', gcRoot());
      expect(await names(sn)).toEqual(['committed-1']);
    });

    it('remove of an intermediate layer is refused until its children are gone', async () => {
      const base = await createLayer('', fst.createFile('f', 'x', 0o644));
      await sn.prepare('intermediate', base);
      await sn.commit('committed-inter', 'intermediate');
      await sn.prepare('toplayer', 'committed-inter');
      const err = await rejection(sn.remove('committed-inter'));
      expect(err).toBeInstanceOf(FailedPreconditionError);
      expect((err as Error).message).toContain('cannot remove snapshot with child');
      expect(await rejection(sn.remove(base))).toBeInstanceOf(FailedPreconditionError);
      await sn.remove('toplayer');
      await sn.remove('committed-inter');
      await sn.remove(base);
      expect(await names(sn)).toEqual([]);
    });

    it('list: filters on kind, name, parent and labels', async () => {
      const opt = { 'containerd.io/gc.root': 'check-walk' };
      await sn.prepare('a-np', '', opt);
      await sn.prepare('p-tmp', '', opt);
      await sn.commit('p', 'p-tmp', opt);
      await sn.prepare('a', 'p', opt);
      await sn.view('v', 'p', opt);
      await sn.prepare('p-wl-tmp', '', opt);
      await sn.commit('p-wl', 'p-wl-tmp', { l: '1', ...opt });
      await sn.prepare('a-wl', 'p-wl', { l: '2', ...opt });
      await sn.view('v-wl', 'p-wl', { l: '3', ...opt });
      await sn.prepare('a-np-wl', '', { l: '2', ...opt });

      const table: Array<[string[], string[]]> = [
        [['labels."containerd.io/gc.root"==check-walk'], ['a-np', 'p', 'a', 'v', 'p-wl', 'a-wl', 'v-wl', 'a-np-wl']],
        [['kind==active,labels."containerd.io/gc.root"==check-walk'], ['a-np', 'a', 'a-wl', 'a-np-wl']],
        [['kind==view,labels."containerd.io/gc.root"==check-walk'], ['v', 'v-wl']],
        [['kind==committed,labels."containerd.io/gc.root"==check-walk'], ['p', 'p-wl']],
        [['name==p', 'name==a-np-wl'], ['p', 'a-np-wl']],
        [['name==a-wl,labels.l'], ['a-wl']],
        [['parent==p'], ['a', 'v']],
        [['parent!="",labels."containerd.io/gc.root"==check-walk'], ['a', 'v', 'a-wl', 'v-wl']],
        [['labels.l'], ['p-wl', 'a-wl', 'v-wl', 'a-np-wl']],
        [['labels.l==2'], ['a-wl', 'a-np-wl']],
        [['name~=^a-np'], ['a-np', 'a-np-wl']],
        [[''], ['a-np', 'p', 'a', 'v', 'p-wl', 'a-wl', 'v-wl', 'a-np-wl']],
        [[], ['a-np', 'p', 'a', 'v', 'p-wl', 'a-wl', 'v-wl', 'a-np-wl']],
      ];
      for (const [filters, want] of table) {
        expect({ filters, got: await names(sn, filters) }).toEqual({ filters, got: [...want].sort() });
      }
      const infos = await collectList(sn, ['name==a-wl']);
      expect(infos).toHaveLength(1);
      expect(infos[0]).toMatchObject({ name: 'a-wl', parent: 'p-wl', kind: 'active', labels: { l: '2', ...opt } });

      expect(await rejection(collectList(sn, ['name==foo,']))).toBeInstanceOf(InvalidArgumentError);
    });

    it('stat inside a list agrees with the listed info', async () => {
      await sn.prepare('siw-c1-a', '', gcRoot());
      await sn.commit('siw-c1', 'siw-c1-a', gcRoot());
      await sn.prepare('siw-c2-a', 'siw-c1', gcRoot());
      await sn.commit('siw-c2', 'siw-c2-a', gcRoot());
      await sn.prepare('siw-a1', 'siw-c2', gcRoot());
      await sn.view('siw-v1', 'siw-c2', gcRoot());
      let n = 0;
      for await (const si of sn.list([])) {
        expect(await sn.stat(si.name)).toEqual(si);
        n++;
      }
      expect(n).toBe(4);
    });

    it('layer file update (moby#21555)', async () => {
      const l1 = fst.apply(
        fst.createDir('etc', 0o700),
        fst.createFile('etc/hosts', 'mydomain 10.0.0.1', 0o644),
        fst.createFile('etc/profile', 'PATH=/usr/bin', 0o644),
      );
      const l2 = fst.apply(
        fst.createFile('etc/hosts', 'mydomain 10.0.0.2', 0o644),
        fst.createFile('etc/profile', 'PATH=/usr/bin', 0o666),
        fst.createDir('root', 0o700),
        fst.createFile('root/.bashrc', 'PATH=/usr/sbin:/usr/bin', 0o644),
      );
      await checkChain(l1, l2);
    });

    it('remove a directory of a lower layer and recreate it (moby#25244)', async () => {
      await checkChain(
        fst.apply(fst.createDir('lib', 0o700), fst.createFile('lib/hidden', '', 0o644)),
        fst.apply(fst.removeAll('lib'), fst.createDir('lib', 0o700), fst.createFile('lib/not-hidden', '', 0o644)),
        fst.apply(fst.createFile('lib/newfile', '', 0o644)),
      );
    });

    it('chown in an upper layer (moby#20240, #24913, #28391)', async () => {
      await checkChain(
        fst.apply(
          fst.createDir('opt', 0o700),
          fst.createDir('opt/a', 0o700),
          fst.createDir('opt/a/b', 0o700),
          fst.createFile('opt/a/b/file.txt', 'hello', 0o644),
        ),
        fst.apply(
          fst.chown('opt', 1, 1),
          fst.chown('opt/a', 1, 1),
          fst.chown('opt/a/b', 1, 1),
          fst.chown('opt/a/b/file.txt', 1, 1),
        ),
      );
    });

    it('directory permissions and owners survive commits (moby#27298)', async () => {
      await checkChain(
        fst.apply(
          fst.createDir('dir1', 0o700),
          fst.createDir('dir2', 0o700),
          fst.createDir('dir3', 0o700),
          fst.createDir('dir4', 0o700),
          fst.createFile('dir4/f1', '...', 0o644),
          fst.createDir('dir5', 0o700),
          fst.createFile('dir5/f1', '...', 0o644),
          fst.chown('dir1', 1, 1),
          fst.chown('dir2', 1, 1),
          fst.chown('dir3', 1, 1),
          fst.chown('dir5', 1, 1),
          fst.chown('dir5/f1', 1, 1),
        ),
        fst.apply(fst.chown('dir2', 0, 0), fst.removeAll('dir3'), fst.chown('dir4', 1, 1), fst.chown('dir4/f1', 1, 1)),
        fst.apply(
          fst.createDir('dir3', 0o700),
          fst.chown('dir3', 1, 1),
          fst.removeAll('dir5'),
          fst.createDir('dir5', 0o700),
          fst.chown('dir5', 1, 1),
        ),
      );
    });

    it('files deleted in a child stay deleted in its children', async () => {
      await checkChain(
        fst.apply(fst.createFile('foo', 'foo\n', 0o777), fst.createFile('foobar', 'foobar\n', 0o777)),
        fst.apply(fst.removeAll('foobar')),
        fst.apply(),
      );
    });

    it('move a file of a lower layer (hard link, then remove)', async () => {
      await checkChain(
        fst.apply(
          fst.createDir('dir1', 0o700),
          fst.createFile('dir1/f1', 'Hello', 0o644),
          fst.createDir('dir2', 0o700),
          fst.createFile('dir2/f2', '...', 0o644),
        ),
        fst.apply(
          fst.createDir('dir3', 0o700),
          fst.createFile('dir3/f1', 'Hello', 0o644),
          fst.removeAll('dir1'),
          fst.link('dir2/f2', 'dir3/f2'),
          fst.removeAll('dir2/f2'),
        ),
      );
    });

    it('three layers: deletions (whiteouts), overwrites and type changes show in the final view', async () => {
      const l1 = fst.apply(
        fst.createFile('a', 'a1', 0o644),
        fst.createFile('b', 'b1', 0o644),
        fst.createDir('d', 0o755),
        fst.createFile('d/x', 'x', 0o644),
        fst.createDir('d/sub', 0o750),
        fst.createFile('d/sub/y', 'y', 0o600),
        fst.createDir('e', 0o755),
        fst.createFile('e/f', 'f', 0o644),
        fst.symlink('a', 's'),
        fst.createFile('m', 'm', 0o644),
      );
      const l2 = fst.apply(
        fst.removeAll('b'),
        fst.removeAll('d'),
        fst.createFile('a', 'a2 longer', 0o644),
        fst.chmod('m', 0o600),
        fst.createFile('e/g', 'g', 0o644),
        fst.createFile('p', 'p', 0o640),
        fst.removeAll('s'),
        fst.symlink('p', 's'),
      );
      const l3 = fst.apply(
        fst.createFile('d', 'now a file', 0o644),
        fst.removeAll('e/f'),
        fst.createFile('a', 'a3', 0o644),
        fst.createDir('b', 0o711),
        fst.createFile('b/z', 'z', 0o644),
        fst.removeAll('e'),
        fst.createDir('e', 0o755),
        fst.createFile('e/only', 'only', 0o644),
      );
      const [, , top] = await checkChain(l1, l2, l3);
      const m = await sn.view('final-view', top as string);
      await withMounted(m, async (dir) => {
        expect(await fsp.readFile(join(dir, 'a'), 'utf8')).toBe('a3');
        expect(await fsp.readFile(join(dir, 'd'), 'utf8')).toBe('now a file');
        expect((await fsp.readdir(join(dir, 'e'))).sort()).toEqual(['only']);
        expect((await fsp.readdir(join(dir, 'b'))).sort()).toEqual(['z']);
        expect(await fsp.readlink(join(dir, 's'))).toBe('p');
        expect((await fsp.stat(join(dir, 'm'))).mode & 0o777).toBe(0o600);
        expect((await fsp.readdir(dir)).sort()).toEqual(['a', 'b', 'd', 'e', 'm', 'p', 's']);
      });
    });

    it('a view is mounted read-only', async () => {
      await sn.prepare('ro-p', '', gcRoot());
      await sn.commit('ro-c', 'ro-p', gcRoot());
      for (const [key, parent] of [
        ['ro-view-1', 'ro-c'],
        ['ro-view-0', ''],
      ] as const) {
        const m = await sn.view(key, parent, gcRoot());
        await withMounted(m, async (dir) => {
          const err = await rejection(fsp.writeFile(join(dir, 'testfile'), 'testcontent'));
          expect((err as NodeJS.ErrnoException).code).toBe('EROFS');
        });
        await sn.remove(key);
      }
      // and a view over two layers
      await sn.prepare('ro-p2', 'ro-c');
      await sn.commit('ro-c2', 'ro-p2');
      const m = await sn.view('ro-view-2', 'ro-c2');
      await withMounted(m, async (dir) => {
        const err = await rejection(fsp.writeFile(join(dir, 'testfile'), 'x'));
        expect((err as NodeJS.ErrnoException).code).toBe('EROFS');
      });
    });

    it('the root of a new snapshot is 0755', async () => {
      const m = await sn.prepare('rootperm', '', gcRoot());
      await withMounted(m, async (dir) => {
        expect((await fsp.stat(dir)).mode & 0o7777).toBe(0o755);
      });
    });

    it('close twice', async () => {
      await sn.prepare('ct-prepare', '', gcRoot());
      await sn.commit('ct', 'ct-prepare', gcRoot());
      await sn.remove('ct');
      await sn.close();
      await sn.close();
    });

    it('mounts(key) repeats what prepare and view returned; paths lie below the root', async () => {
      const m0 = await sn.prepare('m-a0', '');
      expect(await sn.mounts('m-a0')).toEqual(m0);
      await sn.commit('m-c0', 'm-a0');
      const m1 = await sn.prepare('m-a1', 'm-c0');
      expect(await sn.mounts('m-a1')).toEqual(m1);
      await sn.commit('m-c1', 'm-a1');
      const all: Mount[][] = [m0, m1];
      for (const [key, parent, kind] of [
        ['m-v0', '', 'view'],
        ['m-v1', 'm-c0', 'view'],
        ['m-v2', 'm-c1', 'view'],
        ['m-a2', 'm-c1', 'active'],
      ] as const) {
        const m = kind === 'view' ? await sn.view(key, parent) : await sn.prepare(key, parent);
        expect(await sn.mounts(key)).toEqual(m);
        all.push(m);
      }
      for (const ms of all) {
        for (const m of ms) {
          expect(m.target ?? '').toBe('');
          const paths: string[] = [];
          if (m.type === 'bind') paths.push(m.source);
          for (const o of m.options) {
            const eq = o.indexOf('=');
            if (eq < 0) continue;
            const k = o.slice(0, eq);
            if (k === 'upperdir' || k === 'workdir') paths.push(o.slice(eq + 1));
            if (k === 'lowerdir') paths.push(...o.slice(eq + 1).split(':'));
          }
          expect(paths.length).toBeGreaterThan(0);
          for (const p of paths) expect(p.startsWith(fx.root + '/')).toBe(true);
        }
      }
    });

    it('usage: computed for active snapshots, recorded at commit, hard links counted once', async () => {
      const m = await sn.prepare('u-a', '', gcRoot());
      const dir = await mountTemp(m);
      await fst.apply(
        fst.createFile('a', randomBytes(10_000), 0o644),
        fst.createDir('d', 0o755),
        fst.createFile('d/b', 'b', 0o644),
        fst.link('a', 'd/c'),
        fst.symlink('a', 'l'),
      )(dir);
      const want = await expectedUsage(dir);
      expect(want.inodes).toBe(5); // root, a (= d/c), d, d/b, l
      expect(await sn.usage('u-a')).toEqual(want);
      await unmount(dir);
      await sn.commit('u-c', 'u-a');
      expect(await sn.usage('u-c')).toEqual(want);

      await sn.view('u-v', 'u-c');
      expect(await sn.usage('u-v')).toEqual({ size: 0, inodes: 0 });

      const m2 = await sn.prepare('u-a2', 'u-c');
      const before = await sn.usage('u-a2');
      await withMounted(m2, fst.createFile('big', randomBytes(64 * 1024), 0o644));
      const after = await sn.usage('u-a2');
      expect(after.inodes).toBe(before.inodes + 1);
      expect(after.size).toBeGreaterThanOrEqual(before.size + 64 * 1024);
      expect(await sn.usage('u-c')).toEqual(want);
    });

    it('error classes for every bad call; failed calls change nothing', async () => {
      await sn.prepare('e-a', '');
      await sn.commit('e-c', 'e-a');
      await sn.prepare('e-active', 'e-c');
      await sn.view('e-view', 'e-c');
      const before = await collectList(sn);

      const cases: Array<[string, () => Promise<unknown>, new (...a: never[]) => Error]> = [
        ['stat missing', () => sn.stat('missing'), NotFoundError],
        ['usage missing', () => sn.usage('missing'), NotFoundError],
        ['mounts missing', () => sn.mounts('missing'), NotFoundError],
        ['update missing', () => sn.update({ name: 'missing', labels: { a: 'b' } }, []), NotFoundError],
        ['remove missing', () => sn.remove('missing'), NotFoundError],
        ['commit missing key', () => sn.commit('e-new', 'missing'), NotFoundError],
        ['prepare on missing parent', () => sn.prepare('e-k1', 'missing'), NotFoundError],
        ['view on missing parent', () => sn.view('e-k1', 'missing'), NotFoundError],
        ['prepare on active parent', () => sn.prepare('e-k2', 'e-active'), InvalidArgumentError],
        ['view on view parent', () => sn.view('e-k2', 'e-view'), InvalidArgumentError],
        ['prepare existing active key', () => sn.prepare('e-active', ''), AlreadyExistsError],
        ['prepare existing committed key', () => sn.prepare('e-c', ''), AlreadyExistsError],
        ['view existing view key', () => sn.view('e-view', 'e-c'), AlreadyExistsError],
        ['commit to an existing name', () => sn.commit('e-c', 'e-active'), AlreadyExistsError],
        ['commit to its own key', () => sn.commit('e-active', 'e-active'), AlreadyExistsError],
        ['commit a view', () => sn.commit('e-new', 'e-view'), FailedPreconditionError],
        ['commit a committed snapshot', () => sn.commit('e-new', 'e-c'), FailedPreconditionError],
        ['mounts of committed', () => sn.mounts('e-c'), FailedPreconditionError],
        ['remove with children', () => sn.remove('e-c'), FailedPreconditionError],
        ['update parent', () => sn.update({ name: 'e-c', labels: {} }, ['parent']), InvalidArgumentError],
        ['update kind', () => sn.update({ name: 'e-active', labels: {} }, ['kind']), InvalidArgumentError],
        ['list with a bad filter', () => collectList(sn, ['name==foo,']), InvalidArgumentError],
      ];
      for (const [what, call, cls] of cases) {
        const err = await rejection(call());
        expect({ what, err: err instanceof cls, message: (err as Error).message }).toMatchObject({ what, err: true });
      }
      expect(await collectList(sn)).toEqual(before);
      // the failed prepares left nothing behind: the keys are usable
      await sn.prepare('e-k1', 'e-c');
      await sn.view('e-k2', 'e-c');
    });

    it('concurrent prepares, views and commits', async () => {
      const base = await createLayer('', fst.createFile('base', 'base', 0o644));
      const keys = Array.from({ length: 8 }, (_, i) => `cc-${i}`);
      const mounts = await Promise.all(keys.map((k) => sn.prepare(k, base)));
      expect(new Set(mounts.map((m) => JSON.stringify(m))).size).toBe(keys.length);
      // each is its own writable layer
      await Promise.all(
        mounts.map((m, i) =>
          withMounted(m, async (dir) => {
            expect(await fsp.readFile(join(dir, 'base'), 'utf8')).toBe('base');
            await fsp.writeFile(join(dir, 'own'), `layer ${i}`);
          }),
        ),
      );
      const same = await Promise.allSettled(Array.from({ length: 6 }, () => sn.prepare('cc-same', base)));
      expect(same.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      for (const r of same) if (r.status === 'rejected') expect(r.reason).toBeInstanceOf(AlreadyExistsError);

      await Promise.all([
        ...keys.map((k) => sn.commit(`${k}-c`, k)),
        ...keys.map((k) => sn.view(`${k}-v`, base)),
      ]);
      expect(await names(sn, ['kind==committed'])).toEqual([base, ...keys.map((k) => `${k}-c`)].sort());
      expect(await names(sn, ['kind==view'])).toHaveLength(keys.length);
      await Promise.all(
        keys.map(async (k, i) => {
          const m = await sn.view(`${k}-check`, `${k}-c`);
          await withMounted(m, async (dir) => {
            expect(await fsp.readFile(join(dir, 'own'), 'utf8')).toBe(`layer ${i}`);
          });
        }),
      );
      await Promise.all(keys.map((k) => sn.remove(`${k}-check`)));
      await Promise.all(keys.map((k) => sn.remove(`${k}-c`)));
      await Promise.all(keys.map((k) => sn.remove(`${k}-v`)));
      await sn.remove('cc-same');
      await sn.remove(base);
      await sn.cleanup();
      expect(await names(sn)).toEqual([]);
    });

    it('remove everything, then cleanup: nothing left, keys reusable', async () => {
      const [l1, l2] = await checkChain(fst.createFile('f', '1', 0o644), fst.createFile('f', '2', 0o644));
      await sn.prepare('rc-a', l2 as string);
      await sn.view('rc-v', l1 as string);
      for (const k of ['rc-a', 'rc-v', l2 as string, l1 as string]) await sn.remove(k);
      await sn.cleanup();
      await sn.cleanup();
      expect(await names(sn)).toEqual([]);
      for (const k of ['rc-a', 'rc-v', l1 as string]) expect(await rejection(sn.stat(k))).toBeInstanceOf(NotFoundError);
      const m = await sn.prepare(l1 as string, '');
      await withMounted(m, async (dir) => expect(await fsp.readdir(dir)).toEqual([]));
    });

    const layers = options.layers ?? 128;
    it(`${layers} layers: each prepare sees the flattened chain; the final view equals it`, async () => {
      const appliers: Applier[] = [
        fst.apply(
          fst.createFile('bottom', 'way at the bottom\n', 0o777),
          fst.createFile('overwriteme', 'FIRST!\n', 0o777),
          fst.createDir('ADDHERE', 0o755),
          fst.createDir('ONLYME', 0o755),
          fst.createFile('ONLYME/bottom', 'bye!\n', 0o777),
        ),
      ];
      for (let i = 1; i < layers; i++) {
        appliers.push(
          fst.apply(
            fst.createFile('overwriteme', `${i} WAS HERE!\n`, 0o777),
            fst.createFile(`ADDHERE/file-${i}`, 'same\n', 0o755),
            fst.removeAll('ONLYME'),
            fst.createDir('ONLYME', 0o755),
            fst.createFile(`ONLYME/file-${i}`, 'only me!\n', 0o777),
          ),
        );
      }
      const flat = await fsp.mkdtemp(join(work, 'flat-'));
      let parent = '';
      for (const [i, a] of appliers.entries()) {
        const preparing = `prepare-layer-${i}`;
        const m = await sn.prepare(preparing, parent, gcRoot());
        await withMounted(m, async (dir) => {
          await expectSameTree(dir, flat);
          await a(flat);
          await a(dir);
          await expectSameTree(dir, flat);
        });
        parent = `committed-${i}`;
        await sn.commit(parent, preparing, gcRoot());
      }
      const m = await sn.view('fullview', parent, gcRoot());
      await withMounted(m, (dir) => expectSameTree(dir, flat));
    }, 300_000);
  });
}
