// Schema 1 → 2: stores written by a berthd that kept times as Date.toISOString()
// (milliseconds) open in this one with every record readable, every instant unchanged,
// and every stored time rewritten to nine fraction digits.

import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDB } from '../../src/metadata/db';
import { SCHEMA_KEY, SCHEMA_VERSION, namespaceKey, objectKey } from '../../src/metadata/keys';
import { NamespaceStore } from '../../src/metadata/namespaces';
import { ImageStore } from '../../src/metadata/images';
import { LeaseStore } from '../../src/metadata/leases';
import { ContainerStore } from '../../src/metadata/containers';
import { encodeContainer } from '../../src/metadata/container-codec';
import { snapshotPrefix } from '../../src/metadata/snapshots';
import { SnapshotStorage } from '../../src/snapshotter/storage';

const NINE_DIGITS = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

// Instants as schema 1 wrote them, and what they are to the nanosecond.
const T1 = '2023-05-06T07:08:09.123Z';
const W1 = { seconds: Date.UTC(2023, 4, 6, 7, 8, 9) / 1000, nanos: 123_000_000 };
const T2 = '2023-05-06T07:08:10.007Z';
const W2 = { seconds: Date.UTC(2023, 4, 6, 7, 8, 10) / 1000, nanos: 7_000_000 };
const T3 = '2023-05-07T07:08:09.000Z';

const DIGEST = `sha256:${'ab'.repeat(32)}`;
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-migrate-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

/** A LevelDB as schema 1 left it. */
async function writeV1(path: string, entries: Array<[string, Buffer]>): Promise<void> {
  const level = new ClassicLevel<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await level.open();
  await level.batch([
    { type: 'put', key: SCHEMA_KEY, value: Buffer.from('1') },
    ...entries.map(([key, value]) => ({ type: 'put' as const, key, value })),
  ]);
  await level.close();
}

async function rawEntries(path: string): Promise<Map<string, Buffer>> {
  const level = new ClassicLevel<string, Buffer>(path, { keyEncoding: 'utf8', valueEncoding: 'buffer' });
  await level.open();
  const out = new Map<string, Buffer>();
  for await (const [k, v] of level.iterator()) out.set(k, v);
  await level.close();
  return out;
}

describe('metadata schema 1 → 2 (times with nanoseconds)', () => {
  it('migrates every kind of record of berthd metadata without loss', async () => {
    const meta = join(dir, 'meta');
    const container = encodeContainer({
      id: 'c1',
      labels: { a: 'b' },
      image: 'img',
      runtime: { name: 'io.containerd.runc.v2' },
      spec: { typeUrl: 'types.containerd.io/opencontainers/runtime-spec/1/Spec', value: Buffer.from('{}') },
      snapshotter: 'overlayfs',
      snapshotKey: 'c1',
      extensions: {},
      createdAt: W1,
      updatedAt: W2,
    });
    const snapKey = `${snapshotPrefix('ns', 'overlayfs')}${encodeURIComponent('layer/1')}`;
    const ingestKey = objectKey('ns', 'ingests', 'ref-1');
    await writeV1(meta, [
      [namespaceKey('ns'), json({ labels: { x: 'y' }, createdAt: T1, updatedAt: T2 })],
      [objectKey('ns', 'images', 'docker.io/library/a:1'), json({
        labels: {},
        target: { mediaType: 'application/vnd.oci.image.index.v1+json', digest: DIGEST, size: 10, annotations: {} },
        createdAt: T1,
        updatedAt: T2,
      })],
      [objectKey('ns', 'leases', 'l1'), json({ labels: { 'containerd.io/gc.expire': T3 }, createdAt: T1 })],
      [objectKey('ns', 'content', DIGEST), json({ size: 10, labels: { k: 'v' }, createdAt: T1, updatedAt: T2 })],
      [ingestKey, json({ bref: 'ns/abc/ref-1', startedAt: T1, expireAt: T3 })],
      [snapKey, json({ bkey: 'ns/abc/layer/1', parent: '', labels: {}, createdAt: T1, updatedAt: T2 })],
      [objectKey('ns', 'containers', 'c1'), container],
    ]);

    const db = await MetadataDB.open(meta);
    try {
      // Every store reads the same instants as before.
      const ns = await new NamespaceStore(db).get('ns');
      expect(ns).toEqual({ name: 'ns', labels: { x: 'y' }, createdAt: W1, updatedAt: W2 });
      const img = await new ImageStore(db).get('ns', 'docker.io/library/a:1');
      expect([img.createdAt, img.updatedAt]).toEqual([W1, W2]);
      expect(img.target.digest).toBe(DIGEST);
      const lease = await new LeaseStore(db).get('ns', 'l1');
      expect(lease).toEqual({ id: 'l1', labels: { 'containerd.io/gc.expire': T3 }, createdAt: W1 });
      const c = await new ContainerStore(db).get('ns', 'c1');
      expect([c.createdAt, c.updatedAt]).toEqual([W1, W2]);
      expect(c.labels).toEqual({ a: 'b' });
    } finally {
      await db.close();
    }

    const raw = await rawEntries(meta);
    expect(raw.get(SCHEMA_KEY)?.toString()).toBe(String(SCHEMA_VERSION));
    expect(SCHEMA_VERSION).toBe(2);
    const rec = (k: string): Record<string, unknown> => JSON.parse((raw.get(k) as Buffer).toString()) as Record<string, unknown>;
    expect(rec(namespaceKey('ns'))).toEqual({ labels: { x: 'y' }, createdAt: '2023-05-06T07:08:09.123000000Z', updatedAt: '2023-05-06T07:08:10.007000000Z' });
    expect(rec(objectKey('ns', 'content', DIGEST))).toEqual({
      size: 10,
      labels: { k: 'v' },
      createdAt: '2023-05-06T07:08:09.123000000Z',
      updatedAt: '2023-05-06T07:08:10.007000000Z',
    });
    expect(rec(ingestKey)).toEqual({ bref: 'ns/abc/ref-1', startedAt: '2023-05-06T07:08:09.123000000Z', expireAt: '2023-05-07T07:08:09.000000000Z' });
    expect(rec(snapKey).createdAt).toBe('2023-05-06T07:08:09.123000000Z');
    // Labels are the client's: a time-looking label value stays exactly as sent.
    expect(rec(objectKey('ns', 'leases', 'l1')).labels).toEqual({ 'containerd.io/gc.expire': T3 });
    // Container records (wire form) are left byte for byte.
    expect(raw.get(objectKey('ns', 'containers', 'c1'))?.equals(container)).toBe(true);
    for (const [k, v] of raw) {
      if (k === SCHEMA_KEY || k.includes('/containers/')) continue;
      const r = JSON.parse(v.toString()) as Record<string, unknown>;
      for (const f of ['createdAt', 'updatedAt', 'startedAt', 'expireAt']) if (f in r) expect(r[f]).toMatch(NINE_DIGITS);
    }

    // Opening again changes nothing: the migration ran once.
    const again = await MetadataDB.open(meta);
    await again.close();
    expect(await rawEntries(meta)).toEqual(raw);
  });

  it('migrates a snapshotter backend store (same schema key)', async () => {
    const path = join(dir, 'snapshots');
    await writeV1(path, [
      ['v1/seq', json({ next: 3 })],
      ['v1/snapshots/base', json({ id: 1, kind: 'committed', parent: '', labels: {}, createdAt: T1, updatedAt: T2, size: 5, inodes: 2 })],
      ['v1/snapshots/work', json({ id: 2, kind: 'active', parent: 'base', labels: { l: '1' }, createdAt: T2, updatedAt: T2, size: 0, inodes: 0 })],
      [`v1/parents/${String(1).padStart(16, '0')}/${String(2).padStart(16, '0')}`, json({ key: 'work' })],
    ]);
    const storage = await SnapshotStorage.open(path);
    try {
      const base = await storage.getInfo('base');
      expect(base.info).toMatchObject({ name: 'base', kind: 'committed', createdAt: W1, updatedAt: W2 });
      expect(base.usage).toEqual({ size: 5, inodes: 2 });
      const work = await storage.getInfo('work');
      expect(work.info).toMatchObject({ parent: 'base', labels: { l: '1' }, createdAt: W2, updatedAt: W2 });
      expect((await storage.getSnapshot('work')).parentIds).toEqual([1]);
    } finally {
      await storage.close();
    }
    const raw = await rawEntries(path);
    expect(raw.get(SCHEMA_KEY)?.toString()).toBe('2');
    expect(JSON.parse((raw.get('v1/snapshots/base') as Buffer).toString())).toMatchObject({
      createdAt: '2023-05-06T07:08:09.123000000Z',
      updatedAt: '2023-05-06T07:08:10.007000000Z',
    });
    expect(JSON.parse((raw.get('v1/seq') as Buffer).toString())).toEqual({ next: 3 });
  });
});
