// The namespaced snapshotter (metadata layer over a backend) passes the same conformance
// suite as the backends, over overlayfs; plus what only it does: namespaces, leases and
// garbage collection of snapshots.
import { existsSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OverlaySnapshotter } from '../../src/snapshotter/overlay';
import { MetadataDB } from '../../src/metadata/db';
import { SnapshotterRegistry } from '../../src/metadata/snapshots';
import { LocalContentStore } from '../../src/content/local';
import { NamespacedContentStore } from '../../src/metadata/content';
import { GarbageCollector } from '../../src/metadata/gc';
import { LeaseStore } from '../../src/metadata/leases';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError } from '../../src/errdefs/errors';
import { snapshotterConformance } from './snapshotter-conformance';
import { writeBlob } from './content-conformance';

interface Env {
  dir: string;
  db: MetadataDB;
  backend: OverlaySnapshotter;
  registry: SnapshotterRegistry;
  gc: GarbageCollector;
  content: NamespacedContentStore;
  close(): Promise<void>;
}

async function openEnv(): Promise<Env> {
  const dir = await fsp.mkdtemp(join(tmpdir(), 'berth-nssn-'));
  const db = await MetadataDB.open(join(dir, 'meta'));
  const backend = await OverlaySnapshotter.open(join(dir, 'snapshots', 'overlayfs'));
  const backends = new Map([['overlayfs', backend]]);
  const local = await LocalContentStore.open(join(dir, 'content'));
  const content = new NamespacedContentStore(db, local);
  const gc = new GarbageCollector(db, content, local, backends);
  const registry = new SnapshotterRegistry(db, backends, () => gc.snapshotOrphaned());
  return {
    dir,
    db,
    backend,
    registry,
    gc,
    content,
    async close() {
      await backend.close();
      await db.close();
      await fsp.rm(dir, { recursive: true, force: true });
    },
  };
}

snapshotterConformance('NamespacedSnapshotter(overlayfs)', async () => {
  const env = await openEnv();
  return { sn: env.registry.get('overlayfs').view('conformance'), root: join(env.dir, 'snapshots', 'overlayfs'), cleanup: () => env.close() };
});

describe('namespaced snapshots', () => {
  let env: Env;
  beforeEach(async () => {
    env = await openEnv();
  });
  afterEach(async () => {
    await env.close();
  });

  it('keys are per namespace: the same key in two namespaces is two snapshots', async () => {
    const a = env.registry.get('overlayfs').view('a');
    const b = env.registry.get('overlayfs').view('b');
    await a.prepare('k', '');
    await b.prepare('k', '');
    await expect(a.prepare('k', '')).rejects.toThrow(AlreadyExistsError);
    await a.commit('c', 'k');
    expect((await a.stat('c')).kind).toBe('committed');
    expect((await b.stat('k')).kind).toBe('active');
    await expect(b.stat('c')).rejects.toThrow('snapshot c does not exist: not found');
    await expect(b.prepare('x', 'c')).rejects.toThrow('parent snapshot c does not exist: not found');
  });

  it('unknown snapshotters are refused like containerd', () => {
    expect(() => env.registry.get('zfs')).toThrow('snapshotter not loaded: zfs: invalid argument');
  });

  it('remove refuses a parent with children; GC keeps leased, contained and labelled snapshots', async () => {
    const sn = env.registry.get('overlayfs').view('ns');
    await sn.prepare('base-a', '');
    await sn.commit('base', 'base-a');
    await sn.prepare('child', 'base');
    await expect(sn.remove('base')).rejects.toThrow(FailedPreconditionError);

    await new LeaseStore(env.db).create('ns', 'l', {});
    await env.registry.get('overlayfs').view('ns', 'l').prepare('leased', '');
    await sn.prepare('orphan', '');
    // A config blob pointing at "base" keeps it (and so what it needs) alive, as after an unpack.
    await writeBlob(env.content.view('ns'), 'cfg', Buffer.from('{}'), {
      'containerd.io/gc.root': 'x',
      'containerd.io/gc.ref.snapshot.overlayfs': 'base',
    });
    const r = await env.gc.collect();
    expect(r.snapshots).toBe(2); // child and orphan: nothing references them
    const names: string[] = [];
    for await (const i of sn.list([])) names.push(i.name);
    expect(names.sort()).toEqual(['base', 'leased']);
    const backendNames: string[] = [];
    for await (const i of env.backend.list([])) backendNames.push(i.name);
    expect(backendNames).toHaveLength(2);
    await expect(sn.stat('orphan')).rejects.toThrow(NotFoundError);
  });

  it('remove answers once the record is gone; the backend snapshot follows without a collection', async () => {
    const sn = env.registry.get('overlayfs').view('ns');
    await sn.prepare('gone', '');
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const remove = env.backend.remove.bind(env.backend);
    env.backend.remove = async (key: string) => {
      await held; // a slow backend does not hold up the answer
      return remove(key);
    };
    try {
      await sn.remove('gone');
      await expect(sn.stat('gone')).rejects.toThrow(NotFoundError);
      const inBackend = async (): Promise<number> => {
        let n = 0;
        for await (const i of env.backend.list([])) if (i.name.endsWith('/gone')) n++;
        return n;
      };
      expect(await inBackend()).toBe(1);
      release();
      for (let i = 0; i < 100 && (await inBackend()) > 0; i++) await new Promise((r) => setTimeout(r, 10));
      expect(await inBackend()).toBe(0);
    } finally {
      env.backend.remove = remove;
    }
  });

  it('after the first pass, GC sweeps the backends only once a removal failed', async () => {
    const sn = env.registry.get('overlayfs').view('ns');
    await env.gc.collect();
    // Behind the metadata's back: a pass that removed nothing does not look at backends.
    await env.backend.prepare('stray/1/x', '');
    await env.gc.collect();
    const backendNames = async (): Promise<string[]> => {
      const out: string[] = [];
      for await (const i of env.backend.list([])) out.push(i.name);
      return out.sort();
    };
    expect(await backendNames()).toEqual(['stray/1/x']);
    // The record goes, the backend refuses (say, still mounted): the next pass retries.
    await sn.prepare('busy', '');
    const remove = env.backend.remove.bind(env.backend);
    env.backend.remove = async () => {
      throw new Error('device or resource busy');
    };
    try {
      await sn.remove('busy');
    } finally {
      env.backend.remove = remove;
    }
    await expect(sn.stat('busy')).rejects.toThrow(NotFoundError);
    expect(await backendNames()).toHaveLength(2);
    await env.gc.collect();
    expect(await backendNames()).toEqual([]);
    await env.backend.drained();
    expect(await fsp.readdir(join(env.dir, 'snapshots', 'overlayfs', 'snapshots'))).toEqual([]);
  });

  it('GC removes backend snapshots no record points at', async () => {
    await env.backend.prepare('stray/1/x', '');
    const dirs = async (): Promise<string[]> => fsp.readdir(join(env.dir, 'snapshots', 'overlayfs', 'snapshots'));
    expect((await dirs()).length).toBe(1);
    await env.gc.collect();
    expect(await dirs()).toEqual([]);
    expect(existsSync(join(env.dir, 'snapshots', 'overlayfs'))).toBe(true);
  });
});
