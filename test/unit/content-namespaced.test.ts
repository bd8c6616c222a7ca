import { existsSync, mkdtempSync, promises as fsp } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/local';
import type { ContentStore } from '../../src/content/store';
import { MetadataDB } from '../../src/metadata/db';
import { NamespacedContentStore } from '../../src/metadata/content';
import { LeaseStore } from '../../src/metadata/leases';
import { ImageStore } from '../../src/metadata/images';
import { ContainerStore } from '../../src/metadata/containers';
import { GarbageCollector } from '../../src/metadata/gc';
import { NamespaceStore } from '../../src/metadata/namespaces';
import { AlreadyExistsError, NotFoundError } from '../../src/errdefs/errors';
import { contentStoreConformance, sha256, writeBlob } from './content-conformance';

// The namespaced content store passes the same conformance suite as the raw one (with
// labels), plus what only it does: namespace visibility, sharing, leases, and garbage
// collection over gc.ref labels.

async function openAll(dir: string): Promise<{ db: MetadataDB; local: LocalContentStore; content: NamespacedContentStore }> {
  const db = await MetadataDB.open(join(dir, 'meta'));
  const local = await LocalContentStore.open(join(dir, 'content'));
  return { db, local, content: new NamespacedContentStore(db, local) };
}

contentStoreConformance(
  'NamespacedContentStore',
  async () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-nscontent-'));
    let opened = await openAll(dir);
    // LevelDB allows one open handle per directory, so a reopen replaces the old
    // instance; `store` keeps pointing at whichever instance is current.
    const current = (): ContentStore => opened.content.view('conformance');
    const store: ContentStore = {
      info: (d) => current().info(d),
      update: (i, p) => current().update(i, p),
      list: (f) => current().list(f),
      delete: (d) => current().delete(d),
      reader: (d) => current().reader(d),
      read: (d, o, l) => current().read(d, o, l),
      writer: (o) => current().writer(o),
      status: (r) => current().status(r),
      listStatuses: (f) => current().listStatuses(f),
      abort: (r) => current().abort(r),
    };
    return {
      store,
      reopen: async () => {
        await opened.db.close();
        opened = await openAll(dir);
        return opened.content.view('conformance');
      },
      cleanup: async () => {
        await opened.db.close();
        await fsp.rm(dir, { recursive: true, force: true });
      },
    };
  },
  { labels: true },
);

describe('namespaced content: visibility, sharing, leases, GC', () => {
  let dir: string;
  let db: MetadataDB;
  let local: LocalContentStore;
  let content: NamespacedContentStore;
  let gc: GarbageCollector;
  let leases: LeaseStore;

  beforeEach(async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-nsgc-'));
    ({ db, local, content } = await openAll(dir));
    gc = new GarbageCollector(db, content, local);
    leases = new LeaseStore(db);
  });
  afterEach(async () => {
    await db.close();
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const blobPath = (digest: string): string => join(dir, 'content', 'blobs', 'sha256', digest.slice('sha256:'.length));

  it('a blob is visible only in the namespace that committed it; another namespace shares the file', async () => {
    const data = Buffer.from('shared bytes');
    const d = sha256(data);
    await writeBlob(content.view('a'), 'r1', data);
    await expect(content.view('b').info(d)).rejects.toThrow(NotFoundError);
    // b declares the expected digest: the file exists, so b gets it without writing (AlreadyExists).
    const w = await content.view('b').writer({ ref: 'r2', expected: d, total: data.length }).catch((e: unknown) => e);
    if (w instanceof Error) throw w;
    const st = await w.status();
    expect(st.offset).toBe(data.length);
    await w.commit({ size: data.length, expected: d });
    expect((await content.view('b').info(d)).size).toBe(data.length);
    await expect(content.view('b').writer({ ref: 'r3', expected: d })).rejects.toThrow(AlreadyExistsError);
  });

  it('info: parsed once per stored record, always current, and a copy the caller may change', async () => {
    const data = Buffer.from('info bytes');
    const d = sha256(data);
    const view = content.view('a');
    await writeBlob(view, 'ri', data, { 'x.one': '1' });
    const first = await view.info(d);
    first.labels['x.one'] = 'changed by the caller';
    const second = await view.info(d);
    expect(second.labels).toEqual({ 'x.one': '1' });
    expect(second.createdAt.seconds).toBeGreaterThan(0);
    expect(second).not.toBe(first);
    await view.update({ digest: d, labels: { 'x.two': '2' } }, ['labels.x.two']);
    expect((await view.info(d)).labels).toEqual({ 'x.one': '1', 'x.two': '2' });
    await view.delete(d);
    await expect(view.info(d)).rejects.toThrow(NotFoundError);
  });

  it('writing into a shared ingest anyway turns it into a real one (containerd createAndCopy)', async () => {
    const data = Buffer.from('0123456789');
    const d = sha256(data);
    await writeBlob(content.view('a'), 'x', data);
    const w = await content.view('b').writer({ ref: 'y', expected: d, total: data.length });
    expect((await w.status()).offset).toBe(data.length);
    await w.write(data.subarray(0, 4), 0);
    expect((await w.status()).offset).toBe(4);
    await w.write(data.subarray(4), 4);
    const info = await w.commit({ size: data.length, expected: d });
    expect(info.digest).toBe(d);
    expect((await content.view('b').info(d)).size).toBe(10);
  });

  it('GC keeps what images, labels, leases and gc.root reach, and removes the rest from disk', async () => {
    const v = content.view('ns');
    const layer = await writeBlob(v, 'l', Buffer.from('layer'));
    const config = await writeBlob(v, 'c', Buffer.from('config'));
    const manifest = await writeBlob(v, 'm', Buffer.from('manifest'), {
      'containerd.io/gc.ref.content.l.0': layer.digest,
      'containerd.io/gc.ref.content.config': config.digest,
    });
    const orphan = await writeBlob(v, 'o', Buffer.from('orphan'));
    const rooted = await writeBlob(v, 'r', Buffer.from('rooted'), { 'containerd.io/gc.root': 'yes' });
    await leases.create('ns', 'keep', {});
    const leased = await content.view('ns', 'keep').writer({ ref: 'leased' });
    await leased.write(Buffer.from('leased'), 0);
    const leasedInfo = await leased.commit({});
    const images = new ImageStore(db);
    await images.create('ns', {
      name: 'img',
      labels: {},
      target: { mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: manifest.digest, size: manifest.size, annotations: {} },
    });

    await gc.collect();
    for (const kept of [layer, config, manifest, rooted, leasedInfo]) {
      expect((await v.info(kept.digest)).digest).toBe(kept.digest);
      expect(existsSync(blobPath(kept.digest))).toBe(true);
    }
    await expect(v.info(orphan.digest)).rejects.toThrow(NotFoundError);
    expect(existsSync(blobPath(orphan.digest))).toBe(false);

    // Deleting the image and the lease leaves only the gc.root blob.
    await images.delete('ns', 'img');
    await leases.delete('ns', 'keep');
    const r = await gc.collect();
    expect(r.content).toBe(4);
    expect(r.blobs).toBe(4);
    expect(existsSync(blobPath(layer.digest))).toBe(false);
    expect(existsSync(blobPath(rooted.digest))).toBe(true);
  });

  it('after the first pass, the disk is swept only once a content record went', async () => {
    const v = content.view('ns');
    const root = { 'containerd.io/gc.root': '1' };
    const kept = await writeBlob(v, 'k', Buffer.from('kept'), root);
    const gone = await writeBlob(v, 'g', Buffer.from('gone'), root);
    await gc.collect(); // the first pass sweeps the disk whatever happened before
    // A blob no namespace records, put there behind the metadata's back: a pass that
    // deleted nothing does not look at the disk.
    const stray = Buffer.from('stray');
    await fsp.writeFile(blobPath(sha256(stray)), stray);
    expect((await gc.collect()).blobs).toBe(0);
    expect(existsSync(blobPath(sha256(stray)))).toBe(true);
    // Content.Delete drops a record: the next pass sweeps.
    await v.delete(gone.digest);
    expect((await gc.collect()).blobs).toBe(2);
    expect(existsSync(blobPath(sha256(stray)))).toBe(false);
    expect(existsSync(blobPath(gone.digest))).toBe(false);
    expect(existsSync(blobPath(kept.digest))).toBe(true);
  });

  it('deleting a namespace sweeps the ingests it left on disk', async () => {
    await gc.collect();
    const w = await content.view('tmp').writer({ ref: 'half' });
    await w.write(Buffer.from('half'), 0);
    await w.close();
    expect((await local.listStatuses([])).length).toBe(1);
    await new NamespaceStore(db).delete('tmp');
    await gc.collect();
    expect(await local.listStatuses([])).toEqual([]);
  });

  it('a blob another namespace still records stays on disk', async () => {
    const data = Buffer.from('two namespaces');
    await writeBlob(content.view('a'), 'x', data, { 'containerd.io/gc.root': '1' });
    const w = await content.view('b').writer({ ref: 'y', expected: sha256(data) });
    await w.commit({});
    await gc.collect();
    await expect(content.view('b').info(sha256(data))).rejects.toThrow(NotFoundError);
    expect(existsSync(blobPath(sha256(data)))).toBe(true);
  });

  it('expired leases go, with what only they held; flat leases do not follow labels', async () => {
    await leases.create('ns', 'old', { 'containerd.io/gc.expire': new Date(Date.now() - 1000).toISOString() });
    const held = await content.view('ns', 'old').writer({ ref: 'h' });
    await held.write(Buffer.from('held'), 0);
    const heldInfo = await held.commit({});
    await leases.create('ns', 'flat', { 'containerd.io/gc.flat': 'true' });
    const child = await writeBlob(content.view('ns', 'flat'), 'child', Buffer.from('child'));
    await content.view('ns').delete(child.digest).catch(() => undefined);
    const child2 = await writeBlob(content.view('ns'), 'child2', Buffer.from('child2'));
    const parent = await content.view('ns', 'flat').writer({ ref: 'p' });
    await parent.write(Buffer.from('parent'), 0);
    await parent.commit({ labels: { 'containerd.io/gc.ref.content.x': child2.digest } });
    const r = await gc.collect();
    expect(r.leases).toBe(1);
    await expect(content.view('ns').info(heldInfo.digest)).rejects.toThrow(NotFoundError);
    await expect(content.view('ns').info(child2.digest)).rejects.toThrow(NotFoundError);
    expect(await leases.list('ns', [])).toHaveLength(1);
  });

  it('ingests: a leased one survives GC, an expired unleased one is aborted', async () => {
    await leases.create('ns', 'l', {});
    const w1 = await content.view('ns', 'l').writer({ ref: 'kept' });
    await w1.write(Buffer.from('part'), 0);
    await w1.close();
    const w2 = await content.view('ns').writer({ ref: 'fresh' });
    await w2.write(Buffer.from('part'), 0);
    await w2.close();
    await gc.collect();
    expect((await content.view('ns').listStatuses([])).map((s) => s.ref).sort()).toEqual(['fresh', 'kept']);
    await leases.delete('ns', 'l');
    await gc.collect();
    // The unleased ingest has 24 h before it expires; the lease-held one is now unprotected.
    expect((await content.view('ns').listStatuses([])).map((s) => s.ref)).toEqual(['fresh']);
    expect((await local.listStatuses([])).length).toBe(1);
  });

  it('containers reference content through gc.ref labels', async () => {
    const blob = await writeBlob(content.view('ns'), 'cb', Buffer.from('checkpoint'));
    await new ContainerStore(db).create('ns', {
      id: 'c1',
      labels: { 'containerd.io/gc.ref.content.cp': blob.digest },
      image: '',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: { typeUrl: 'x', value: Buffer.from('{}') },
      snapshotter: '',
      snapshotKey: '',
      extensions: {},
    });
    await gc.collect();
    expect((await content.view('ns').info(blob.digest)).digest).toBe(blob.digest);
  });
});
