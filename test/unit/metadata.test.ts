import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CommittedView, MetadataDB } from '../../src/metadata/db';
import { NamespaceStore } from '../../src/metadata/namespaces';
import { ContainerStore, type NewContainer } from '../../src/metadata/containers';
import { LeaseStore } from '../../src/metadata/leases';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError } from '../../src/errdefs/errors';
import { objectKey } from '../../src/metadata/keys';
import { compareWall } from '../../src/time/wall';

// Conformance suite for the metadata store: the behaviour containerd's bolt metadata
// store has, run against berth's LevelDB implementation.

let dir: string;
let db: MetadataDB;
let namespaces: NamespaceStore;
let containers: ContainerStore;
let leases: LeaseStore;

const spec = { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{"ociVersion":"1.0.2"}') };

function container(id: string, extra: Partial<NewContainer> = {}): NewContainer {
  return {
    id,
    labels: {},
    image: '',
    runtime: { name: 'io.containerd.runc.v2' },
    spec,
    snapshotter: '',
    snapshotKey: '',
    extensions: {},
    ...extra,
  };
}

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), 'berth-meta-'));
  db = await MetadataDB.open(join(dir, 'meta'));
  namespaces = new NamespaceStore(db);
  containers = new ContainerStore(db);
  leases = new LeaseStore(db);
});

afterEach(async () => {
  await db.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('namespaces', () => {
  it('creates, gets, lists and refuses duplicates', async () => {
    await namespaces.create('ns1', { a: 'b', empty: '' });
    expect((await namespaces.get('ns1')).labels).toEqual({ a: 'b' });
    await expect(namespaces.create('ns1', {})).rejects.toThrow(AlreadyExistsError);
    await expect(namespaces.create('ns1', {})).rejects.toThrow('namespace "ns1": already exists');
    await namespaces.create('ns0', {});
    expect((await namespaces.list()).map((n) => n.name)).toEqual(['ns0', 'ns1']);
  });

  it('validates names and labels', async () => {
    await expect(namespaces.create('bad_ns!', {})).rejects.toThrow(InvalidArgumentError);
    await expect(namespaces.create('x'.repeat(77), {})).rejects.toThrow(InvalidArgumentError);
    await expect(namespaces.create('ok', { k: 'v'.repeat(4096) })).rejects.toThrow(InvalidArgumentError);
    expect(await namespaces.list()).toEqual([]);
  });

  it('get of a missing namespace is NotFound at the store level', async () => {
    await expect(namespaces.get('nope')).rejects.toThrow(NotFoundError);
  });

  it('updates labels by path, and replaces them without a mask', async () => {
    await namespaces.create('n', { a: '1', b: '2' });
    await namespaces.update('n', { a: 'x', c: '3' }, ['labels.a', 'labels.b']);
    expect((await namespaces.get('n')).labels).toEqual({ a: 'x' });
    await namespaces.update('n', { z: '9' }, []);
    expect((await namespaces.get('n')).labels).toEqual({ z: '9' });
    await expect(namespaces.update('n', {}, ['name'])).rejects.toThrow('cannot update "name" field');
  });

  it('update creates the namespace implicitly (SetLabel semantics)', async () => {
    await namespaces.update('fresh', { a: 'b' }, ['labels.a']);
    expect((await namespaces.get('fresh')).labels).toEqual({ a: 'b' });
  });

  it('delete refuses a namespace with containers but drops its leases', async () => {
    await containers.create('busy', container('c1'));
    await expect(namespaces.delete('busy')).rejects.toThrow(FailedPreconditionError);
    await expect(namespaces.delete('busy')).rejects.toThrow('namespace "busy" must be empty, but it still has containers');
    await containers.delete('busy', 'c1');
    await leases.create('busy', 'l1', {});
    await leases.addResource('busy', 'l1', { type: 'ingests', id: 'ref' });
    await namespaces.delete('busy');
    await expect(namespaces.get('busy')).rejects.toThrow(NotFoundError);
    expect(await leases.list('busy', [])).toEqual([]);
    const left: string[] = [];
    for await (const [k] of db.scanRaw('v1/busy/')) left.push(k);
    expect(left).toEqual([]);
    await expect(namespaces.delete('busy')).rejects.toThrow('namespace "busy": not found');
  });
});

describe('containers', () => {
  it('create makes the namespace implicitly and stores the spec byte for byte', async () => {
    const ext = { typeUrl: 'x.y/Z', value: Buffer.from([0, 1, 2, 255]) };
    const c = await containers.create('default', container('c1', { labels: { l: 'v', gone: '' }, extensions: { e: ext } }));
    expect(c.createdAt.seconds).toBeGreaterThan(0);
    const got = await containers.get('default', 'c1');
    expect(got.spec?.value.equals(spec.value)).toBe(true);
    expect(got.spec?.typeUrl).toBe(spec.typeUrl);
    expect(got.extensions.e?.value.equals(ext.value)).toBe(true);
    expect(got.labels).toEqual({ l: 'v' });
    expect((await namespaces.list()).map((n) => n.name)).toEqual(['default']);
  });

  it('validates like containerd', async () => {
    await expect(containers.create('d', container('bad id'))).rejects.toThrow(/^create container failed validation: container.ID: identifier "bad id" must match/);
    await expect(containers.create('d', container('c', { runtime: { name: '' } }))).rejects.toThrow(
      'create container failed validation: container.Runtime.Name must be set: invalid argument',
    );
    await expect(containers.create('d', container('c', { spec: undefined }))).rejects.toThrow('container.Spec must be set');
    await expect(containers.create('d', container('c', { snapshotKey: 'k' }))).rejects.toThrow(
      'container.Snapshotter must be set if container.SnapshotKey is set',
    );
    expect(await namespaces.list()).toEqual([]);
  });

  it('refuses duplicates and reports missing ones', async () => {
    await containers.create('d', container('c1'));
    await expect(containers.create('d', container('c1'))).rejects.toThrow('container "c1": already exists');
    await expect(containers.get('d', 'nope')).rejects.toThrow('container "nope" in namespace "d": not found');
    await expect(containers.get('other', 'c1')).rejects.toThrow(NotFoundError);
    await expect(containers.delete('d', 'nope')).rejects.toThrow(NotFoundError);
  });

  it('lists with filters', async () => {
    await containers.create('d', container('a1', { image: 'docker.io/library/busybox:latest', labels: { 'containerd.io/x': 'y' } }));
    await containers.create('d', container('a2', { runtime: { name: 'io.containerd.berth.v1' } }));
    await containers.create('d', container('b1', { labels: { app: 'web' } }));
    const ids = async (f: string[]): Promise<string[]> => (await containers.list('d', f)).map((c) => c.id);
    expect(await ids([])).toEqual(['a1', 'a2', 'b1']);
    expect(await ids(['id==a2'])).toEqual(['a2']);
    expect(await ids(['image==docker.io/library/busybox:latest'])).toEqual(['a1']);
    expect(await ids(['runtime.name==io.containerd.berth.v1'])).toEqual(['a2']);
    expect(await ids(['labels.app==web', 'id==a1'])).toEqual(['a1', 'b1']);
    expect(await ids(['labels."containerd.io/x"==y'])).toEqual(['a1']);
    expect(await ids(['labels.app'])).toEqual(['b1']);
    expect(await ids(['id~=^a,id!=a1'])).toEqual(['a2']);
    await expect(containers.list('d', ['id=='])).rejects.toThrow(InvalidArgumentError);
  });

  it('updates with and without field masks', async () => {
    await containers.create('d', container('c', { labels: { a: '1', b: '2' }, image: 'img1', snapshotter: 'overlayfs' }));
    let c = await containers.update('d', container('c', { labels: { a: 'x' }, image: 'img2' }), ['labels.a', 'labels.b']);
    expect(c.labels).toEqual({ a: 'x' });
    expect(c.image).toBe('img1');
    c = await containers.update('d', container('c', { image: 'img3', snapshotter: 'native', snapshotKey: 'k' }), ['image', 'snapshotkey']);
    expect(c.image).toBe('img3');
    expect(c.snapshotKey).toBe('k');
    expect(c.snapshotter).toBe('overlayfs');
    await expect(containers.update('d', container('c'), ['runtime.name'])).rejects.toThrow('cannot update "runtime.name" field on "c"');
    await expect(containers.update('d', container('c', { runtime: { name: 'other' }, snapshotter: 'overlayfs' }), [])).rejects.toThrow(
      'container.Runtime.Name field is immutable',
    );
    await expect(containers.update('d', container('c', { labels: { n: 'm' } }), [])).rejects.toThrow(
      'container.Snapshotter field is immutable',
    );
    c = await containers.update('d', container('c', { labels: { n: 'm' }, snapshotter: 'overlayfs' }), []);
    expect(c.labels).toEqual({ n: 'm' });
    expect(c.image).toBe('');
    expect(compareWall(c.updatedAt, c.createdAt)).toBeGreaterThanOrEqual(0);
    await expect(containers.update('d', container('missing'), [])).rejects.toThrow(NotFoundError);
  });

  it('a failed update changes nothing', async () => {
    await containers.create('d', container('c', { labels: { a: '1' } }));
    await expect(containers.update('d', container('c', { labels: { a: '2' } }), ['labels.a', 'bogus'])).rejects.toThrow();
    expect((await containers.get('d', 'c')).labels).toEqual({ a: '1' });
  });
});

describe('leases', () => {
  it('create, list with filters, delete', async () => {
    await leases.create('d', 'l1', { 'containerd.io/gc.expire': '2000-01-01T00:00:00Z', drop: '' });
    await leases.create('d', 'bad id!', { k: 'v' });
    await expect(leases.create('d', 'l1', {})).rejects.toThrow('lease "l1": already exists');
    expect((await leases.list('d', [])).map((l) => l.id).sort()).toEqual(['bad id!', 'l1']);
    expect((await leases.list('d', ['labels.k==v'])).map((l) => l.id)).toEqual(['bad id!']);
    expect((await leases.get('d', 'l1')).labels).toEqual({ 'containerd.io/gc.expire': '2000-01-01T00:00:00Z' });
    await leases.delete('d', 'l1');
    await expect(leases.delete('d', 'l1')).rejects.toThrow('lease "l1": not found');
  });

  it('holds resources of the known types', async () => {
    await leases.create('d', 'l', {});
    const dg = `sha256:${'a'.repeat(64)}`;
    await leases.addResource('d', 'l', { type: 'snapshots/overlayfs', id: 'key/with/slash' });
    await leases.addResource('d', 'l', { type: 'content', id: dg });
    await leases.addResource('d', 'l', { type: 'ingests', id: 'tar-index.json' });
    expect(await leases.listResources('d', 'l')).toEqual([
      { type: 'content', id: dg },
      { type: 'ingests', id: 'tar-index.json' },
      { type: 'snapshots/overlayfs', id: 'key/with/slash' },
    ]);
    await leases.deleteResource('d', 'l', { type: 'ingests', id: 'tar-index.json' });
    expect((await leases.listResources('d', 'l')).length).toBe(2);
    await expect(leases.addResource('d', 'l', { type: 'content', id: 'nope' })).rejects.toThrow(InvalidArgumentError);
    await expect(leases.addResource('d', 'l', { type: 'snapshots', id: 'x' })).rejects.toThrow(InvalidArgumentError);
    await expect(leases.addResource('d', 'l', { type: 'images', id: 'x' })).rejects.toThrow(NotImplementedError);
    await expect(leases.addResource('d', 'missing', { type: 'ingests', id: 'x' })).rejects.toThrow(NotFoundError);
    await expect(leases.listResources('d', 'missing')).rejects.toThrow(NotFoundError);
  });
});

describe('database', () => {
  it('persists across reopen and keeps its schema version', async () => {
    await containers.create('d', container('c1'));
    await db.close();
    db = await MetadataDB.open(join(dir, 'meta'));
    containers = new ContainerStore(db);
    expect((await containers.get('d', 'c1')).id).toBe('c1');
    expect(await db.getRaw(objectKey('d', 'containers', 'c1'))).toBeDefined();
  });

  it('serializes concurrent writers: exactly one of two racing creates wins', async () => {
    const results = await Promise.allSettled(
      Array.from({ length: 10 }, () => containers.create('d', container('race'))),
    );
    expect(results.filter((r) => r.status === 'fulfilled').length).toBe(1);
    expect(results.filter((r) => r.status === 'rejected' && r.reason instanceof AlreadyExistsError).length).toBe(9);
  });

  it('group commit: concurrent writes are all durable once acknowledged', async () => {
    const ids = Array.from({ length: 200 }, (_, i) => `g${i}`);
    await Promise.all(ids.map((id) => containers.create('d', container(id))));
    await db.close();
    db = await MetadataDB.open(join(dir, 'meta'));
    containers = new ContainerStore(db);
    expect((await containers.list('d', [])).length).toBe(200);
    // A transaction sees the writes of the one before it even before they are flushed.
    const [a, b] = await Promise.allSettled([containers.delete('d', 'g1'), containers.delete('d', 'g1')]);
    expect(a.status).toBe('fulfilled');
    expect(b.status).toBe('rejected');
  });

  it('refuses a database from a newer schema', async () => {
    await db.close();
    const { ClassicLevel } = await import('classic-level');
    const raw = new ClassicLevel<string, string>(join(dir, 'meta'));
    await raw.put('berth/schema', '99');
    await raw.close();
    await expect(MetadataDB.open(join(dir, 'meta'))).rejects.toThrow(/schema version 99/);
    db = await MetadataDB.open(join(dir, 'meta2'));
  });
});

describe('transactions', () => {
  // A transaction runs while the previous one's batch is still being flushed; its scans
  // must see that batch's keys whether the flush completes before, during or after the
  // scan (GC's mark phase reads lease resources this way).
  it('a scan sees earlier writes while their flush completes mid-scan', async () => {
    await db.update(async (tx) => {
      for (let i = 0; i < 3000; i++) tx.put(`t/bulk/${String(i).padStart(5, '0')}`, { i });
    });
    const missed: number[] = [];
    for (let round = 0; round < 60; round++) {
      const key = `t/bulk/new-${round}`;
      const wrote = db.update(async (tx) => {
        tx.put(key, { round });
      });
      const seen = db.update(async (tx) => (await tx.scanRaw('t/bulk/')).some(([k]) => k === key));
      const [, found] = await Promise.all([wrote, seen]);
      if (!found) missed.push(round);
    }
    expect(missed).toEqual([]);
  });
});

describe('read after a refused write', () => {
  // Two creates of one name race; the loser is refused because of the winner's write,
  // which may still be on its way to disk. A read right after the refusal must find the
  // record (containerd: each bolt commit is durable before the next transaction runs);
  // the CRI's concurrent pulls of one image depend on it.
  it('AlreadyExists is answered once the record it refers to can be read', async () => {
    const missing: number[] = [];
    for (let round = 0; round < 50; round++) {
      const id = `race-${round}`;
      const outcomes = await Promise.all(
        [0, 1].map(async () => {
          try {
            await containers.create('ns', container(id));
            return 'created';
          } catch (err) {
            if (!(err instanceof AlreadyExistsError)) throw err;
            try {
              await containers.get('ns', id);
              return 'refused, found';
            } catch (e) {
              if (e instanceof NotFoundError) return 'refused, not found';
              throw e;
            }
          }
        }),
      );
      if (outcomes.includes('refused, not found')) missing.push(round);
      else expect(outcomes.sort()).toEqual(['created', 'refused, found']);
    }
    expect(missing).toEqual([]);
  });

  it('a read-only transaction answers once the writes it read are durable', async () => {
    for (let round = 0; round < 50; round++) {
      const key = `t/ro/${round}`;
      const wrote = db.update(async (tx) => {
        tx.put(key, { round });
      });
      const read = db.update(async (tx) => (await tx.get(key)) !== undefined);
      const sawIt = await read;
      if (sawIt) expect(await db.get(key)).toEqual({ round });
      await wrote;
    }
  });
});

describe('committed view (reads from memory)', () => {
  it('keeps keys in order through inserts and deletes; a range is a snapshot', () => {
    const v = new CommittedView();
    for (const k of ['b/2', 'a/1', 'b/1', 'c', 'b/10', 'a/0']) v.set(k, Buffer.from(k));
    v.set('b/1', Buffer.from('again'));
    expect(v.size).toBe(6);
    expect(v.range('b/').map(([k]) => k)).toEqual(['b/1', 'b/10', 'b/2']);
    expect(v.range('b/', 2).map(([k]) => k)).toEqual(['b/1', 'b/10']);
    expect(v.get('b/1')?.toString()).toBe('again');
    const snap = v.range('');
    v.delete('b/10');
    v.delete('nope');
    v.set('a/2', Buffer.from('x'));
    expect(snap.map(([k]) => k)).toEqual(['a/0', 'a/1', 'b/1', 'b/10', 'b/2', 'c']);
    expect(v.range('').map(([k]) => k)).toEqual(['a/0', 'a/1', 'a/2', 'b/1', 'b/2', 'c']);
    expect(v.get('b/10')).toBeUndefined();
  });

  it('readers see committed writes and deletes; a reopened database reads them back', async () => {
    const writing = db.update(async (tx) => tx.put('t/view/k', { n: 1 }));
    await writing;
    expect(await db.get('t/view/k')).toEqual({ n: 1 });
    const seen: string[] = [];
    for await (const [k] of db.scanRaw('t/view/')) seen.push(k);
    expect(seen).toEqual(['t/view/k']);
    await db.update(async (tx) => tx.del('t/view/k'));
    expect(await db.get('t/view/k')).toBeUndefined();
    await db.update(async (tx) => tx.put('t/view/j', { n: 2 }));
    await db.close();
    db = await MetadataDB.open(join(dir, 'meta'));
    expect(await db.get('t/view/j')).toEqual({ n: 2 });
    expect(await db.get('t/view/k')).toBeUndefined();
  });
});
