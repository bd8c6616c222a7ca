// OverlaySnapshotter: the conformance suite, plus what is specific to overlayfs —
// containerd's exact mount shapes (reference §11.2), the on-disk layout, whiteouts in
// upper dirs, usage of the own layer only, removal and cleanup of directories,
// persistence across reopen, containerd's error texts, and the support check.
// Runs as root; every mount is undone in finally blocks.

import { existsSync, promises as fsp } from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errdefs/errors';
import { lgetxattr, mountAll, unmountAll } from '../../src/native';
import {
  OverlayNotSupportedError,
  OverlaySnapshotter,
  checkOverlaySupport,
  overlaySupportsIndex,
} from '../../src/snapshotter/overlay';
import type { Mount } from '../../src/snapshotter/snapshotter';
import { snapshotterConformance } from './snapshotter-conformance';

snapshotterConformance('OverlaySnapshotter', async () => {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'berth-overlay-'));
  const root = join(dir, 'snapshots', 'overlayfs');
  const sn = await OverlaySnapshotter.open(root);
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

describe('OverlaySnapshotter specifics', () => {
  let dir: string;
  let root: string;
  let sn: OverlaySnapshotter;
  let mounted: string[] = [];

  beforeEach(async () => {
    dir = await fsp.mkdtemp(join(tmpdir(), 'berth-overlay-x-'));
    root = join(dir, 'snapshots', 'overlayfs');
    sn = await OverlaySnapshotter.open(root);
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

  const upper = (id: number) => join(root, 'snapshots', String(id), 'fs');
  const work = (id: number) => join(root, 'snapshots', String(id), 'work');
  const index = overlaySupportsIndex() ? ['index=off'] : [];

  it('returns containerd mounts exactly (reference §11.2)', async () => {
    expect(existsSync('/sys/module/overlay/parameters/index')).toBe(index.length === 1);
    // active, 0 parents (id 1)
    expect(await sn.prepare('a', '')).toStrictEqual([{ type: 'bind', source: upper(1), options: ['rw', 'rbind'] }]);
    // view, 0 parents (id 2)
    expect(await sn.view('v0', '')).toStrictEqual([{ type: 'bind', source: upper(2), options: ['ro', 'rbind'] }]);
    await sn.commit('c1', 'a');
    // view, 1 parent (id 3): the parent's fs, read-only; the view's own dir is unused
    expect(await sn.view('v1', 'c1')).toStrictEqual([{ type: 'bind', source: upper(1), options: ['ro', 'rbind'] }]);
    // active, 1 parent (id 4)
    expect(await sn.prepare('b', 'c1')).toStrictEqual([
      { type: 'overlay', source: 'overlay', options: [...index, `workdir=${work(4)}`, `upperdir=${upper(4)}`, `lowerdir=${upper(1)}`] },
    ]);
    await sn.commit('c2', 'b');
    // view, 2 parents (id 5): lowerdir only, nearest parent first
    expect(await sn.view('v2', 'c2')).toStrictEqual([
      { type: 'overlay', source: 'overlay', options: [...index, `lowerdir=${upper(4)}:${upper(1)}`] },
    ]);
    // active, 2 parents (id 6)
    expect(await sn.prepare('x', 'c2')).toStrictEqual([
      {
        type: 'overlay',
        source: 'overlay',
        options: [...index, `workdir=${work(6)}`, `upperdir=${upper(6)}`, `lowerdir=${upper(4)}:${upper(1)}`],
      },
    ]);
    expect(await sn.mounts('x')).toStrictEqual(await sn.mounts('x'));
    expect(await sn.upperDir('x')).toBe(upper(6));
    expect(await sn.upperDir('c2')).toBe(upper(4));
    expect(await sn.upperDir('v1')).toBe(upper(3));
    expect(await errorOf(sn.upperDir('nope'))).toBeInstanceOf(NotFoundError);
  });

  it('lays out snapshots/<id>/{fs,work}: fs 0755 with the parent fs owner, work only for active', async () => {
    const m = await sn.prepare('base', '');
    await withMounted(m, async (d) => {
      await fsp.writeFile(join(d, 'f'), 'x');
      await fsp.chown(d, 123, 456); // the bind mount's root is the fs dir
    });
    await sn.commit('base-c', 'base');
    // commit keeps the directory (and its work dir)
    expect(existsSync(upper(1))).toBe(true);
    expect(existsSync(work(1))).toBe(true);

    await sn.prepare('child', 'base-c');
    await sn.view('view', 'base-c');
    const snapshots = (await fsp.readdir(join(root, 'snapshots'))).sort();
    expect(snapshots).toEqual(['1', '2', '3']);
    const fs2 = await fsp.stat(upper(2));
    expect(fs2.mode & 0o7777).toBe(0o755);
    expect([fs2.uid, fs2.gid]).toEqual([123, 456]);
    expect((await fsp.stat(work(2))).mode & 0o7777).toBe(0o711);
    expect(existsSync(upper(3))).toBe(true);
    expect(existsSync(work(3))).toBe(false);
    const fs3 = await fsp.stat(upper(3));
    expect([fs3.uid, fs3.gid]).toEqual([123, 456]);
    const fresh = await sn.prepare('fresh', '');
    const st = await fsp.stat(upper(4));
    expect([st.uid, st.gid, st.mode & 0o7777]).toEqual([0, 0, 0o755]);
    expect(fresh[0]?.source).toBe(upper(4));
    // no temp dirs left behind, also after failures
    await errorOf(sn.prepare('bad', 'missing'));
    await errorOf(sn.prepare('child', 'base-c'));
    expect((await fsp.readdir(join(root, 'snapshots'))).sort()).toEqual(['1', '2', '3', '4']);
  });

  it('upper dirs hold overlay whiteouts and opaque dirs after deletes through the mount', async () => {
    const m1 = await sn.prepare('l1', '');
    await withMounted(m1, async (d) => {
      await fsp.writeFile(join(d, 'gone'), 'x');
      await fsp.mkdir(join(d, 'dir'));
      await fsp.writeFile(join(d, 'dir', 'old'), 'old');
      await fsp.writeFile(join(d, 'keep'), 'k1');
    });
    await sn.commit('l1c', 'l1');
    const m2 = await sn.prepare('l2', 'l1c');
    await withMounted(m2, async (d) => {
      await fsp.rm(join(d, 'gone'));
      await fsp.rm(join(d, 'dir'), { recursive: true });
      await fsp.mkdir(join(d, 'dir'));
      await fsp.writeFile(join(d, 'dir', 'new'), 'new');
      await fsp.writeFile(join(d, 'keep'), 'k2');
    });
    const up = await sn.upperDir('l2');
    const wh = await fsp.lstat(join(up, 'gone'));
    expect(wh.isCharacterDevice()).toBe(true);
    expect(wh.rdev).toBe(0);
    expect(lgetxattr(join(up, 'dir'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(await fsp.readdir(join(up, 'dir'))).toEqual(['new']);
    expect(await fsp.readFile(join(up, 'keep'), 'utf8')).toBe('k2');
    // usage counts the own layer only: fs root, gone, dir, dir/new, keep
    expect((await sn.usage('l2')).inodes).toBe(5);
    await sn.commit('l2c', 'l2');
    await withMounted(await sn.view('v', 'l2c'), async (d) => {
      expect((await fsp.readdir(d)).sort()).toEqual(['dir', 'keep']);
      expect(await fsp.readdir(join(d, 'dir'))).toEqual(['new']);
      expect(await fsp.readFile(join(d, 'keep'), 'utf8')).toBe('k2');
    });
  });

  it('remove renames the directory away at once and deletes it in the background; cleanup sweeps directories without a record', async () => {
    await sn.prepare('a', '');
    await sn.commit('c', 'a');
    await sn.prepare('b', 'c');
    expect((await fsp.readdir(join(root, 'snapshots'))).sort()).toEqual(['1', '2']);
    await fsp.mkdir(join(root, 'snapshots', '2', 'fs', 'etc'));
    await fsp.writeFile(join(root, 'snapshots', '2', 'fs', 'etc', 'hosts'), 'x');
    await sn.remove('b');
    expect(existsSync(join(root, 'snapshots', '2'))).toBe(false);
    await sn.drained();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual(['1']);
    // leftovers of crashes: an orphaned id, an interrupted create and removal
    for (const d of ['99', 'new-abc123', 'rm-7']) await fsp.mkdir(join(root, 'snapshots', d, 'fs'), { recursive: true });
    await sn.cleanup();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual(['1']);
    // cleanup waits for a deletion still running in the background.
    await sn.remove('c');
    await sn.cleanup();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual([]);
  });

  it('close waits for background deletions; a leftover rm-<id> (crash) goes at the next cleanup', async () => {
    await sn.prepare('a', '');
    const up = join(root, 'snapshots', '1', 'fs');
    for (let i = 0; i < 50; i++) await fsp.writeFile(join(up, `f${i}`), 'x');
    await sn.remove('a');
    await sn.close();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual([]);
    // What a crash between the rename and the end of the deletion leaves.
    await fsp.mkdir(join(root, 'snapshots', 'rm-1', 'fs', 'd'), { recursive: true });
    await fsp.writeFile(join(root, 'snapshots', 'rm-1', 'fs', 'd', 'f'), 'x');
    sn = await OverlaySnapshotter.open(root);
    await sn.prepare('b', '');
    await sn.cleanup();
    expect(await fsp.readdir(join(root, 'snapshots'))).toEqual(['2']);
  });

  it('asyncRemove (containerd plugin default) leaves directories to cleanup', async () => {
    const r2 = join(dir, 'async');
    const s2 = await OverlaySnapshotter.open(r2, { asyncRemove: true });
    try {
      await s2.prepare('a', '');
      await s2.remove('a');
      expect(await fsp.readdir(join(r2, 'snapshots'))).toEqual(['1']);
      await s2.cleanup();
      expect(await fsp.readdir(join(r2, 'snapshots'))).toEqual([]);
    } finally {
      await s2.close();
    }
  });

  it('records persist across reopen and ids are never reused', async () => {
    await sn.prepare('a', '', { l: 'v' });
    await sn.commit('c', 'a', { l: 'c' });
    await sn.prepare('gone', '');
    await sn.remove('gone');
    const before = await sn.stat('c');
    await sn.close();
    sn = await OverlaySnapshotter.open(root);
    expect(await sn.stat('c')).toEqual(before);
    expect(await errorOf(sn.stat('gone'))).toBeInstanceOf(NotFoundError);
    const m = await sn.prepare('next', 'c');
    expect(m[0]?.options).toContain(`upperdir=${upper(3)}`);
  });

  it("uses containerd's error texts (snapshots/storage/bolt.go, overlay.go)", async () => {
    await sn.prepare('a', '');
    await sn.commit('c', 'a');
    await sn.prepare('act', 'c');
    await sn.view('vw', 'c');
    const cases: Array<[() => Promise<unknown>, string]> = [
      [() => sn.stat('nope'), 'snapshot does not exist: not found'],
      [() => sn.usage('nope'), 'snapshot does not exist: not found'],
      [() => sn.update({ name: 'nope', labels: {} }, []), 'snapshot does not exist: not found'],
      [() => sn.update({ name: 'c', labels: {} }, ['parent']), 'cannot update "parent" field on snapshot "c": invalid argument'],
      [() => sn.mounts('nope'), 'failed to get active mount: snapshot does not exist: not found'],
      [() => sn.mounts('c'), 'failed to get active mount: requested snapshot c not active or view: failed precondition'],
      [() => sn.prepare('k', 'nope'), 'failed to create snapshot: missing parent "nope" bucket: not found'],
      [() => sn.prepare('k', 'act'), 'failed to create snapshot: parent "act" is not committed snapshot: invalid argument'],
      [() => sn.view('k', 'vw'), 'failed to create snapshot: parent "vw" is not committed snapshot: invalid argument'],
      [() => sn.prepare('act', 'c'), 'failed to create snapshot: snapshot act: already exists'],
      [() => sn.commit('x', 'nope'), 'snapshot does not exist: not found'],
      [() => sn.commit('c', 'act'), 'failed to commit snapshot: committed snapshot c: already exists'],
      [() => sn.commit('x', 'vw'), 'failed to commit snapshot: snapshot "vw" is not active: failed precondition'],
      [() => sn.remove('nope'), 'failed to remove: snapshot nope: not found'],
      [() => sn.remove('c'), 'failed to remove: cannot remove snapshot with child: failed precondition'],
    ];
    for (const [call, msg] of cases) expect((await errorOf(call())).message).toBe(msg);
  });

  it('support check: passes here, fails clearly where overlay cannot mount', async () => {
    await checkOverlaySupport(join(dir, 'check'));
    expect(await fsp.readdir(join(dir, 'check'))).toEqual([]);
    // a ':' in the root breaks lowerdir= — the mount fails
    const bad = join(dir, 'with:colon');
    const err = await errorOf(OverlaySnapshotter.open(bad));
    expect(err).toBeInstanceOf(OverlayNotSupportedError);
    expect(err.message).toMatch(/^overlayfs snapshotter cannot run on .*with:colon: failed to mount overlay: /);
    expect(await fsp.readdir(bad)).toEqual([]);
  });
});
