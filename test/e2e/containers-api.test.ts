import { credentials, makeGenericClientConstructor, Metadata, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPair, type Pair } from './pair';
import { SPEC_TYPE, TestClient, sampleContainer, statusOf } from './grpc-client';
import { callMetadata } from '../../src/client/connection';

// The Containers API over gRPC, berthd next to a real containerd: same results, same
// status codes, same messages, for good and bad input.

let pair: Pair;
let b: TestClient;
let c: TestClient;
beforeAll(async () => {
  pair = await startPair();
  b = new TestClient(pair.berthd.address);
  c = new TestClient(pair.containerd.address);
});
afterAll(async () => {
  b?.close();
  c?.close();
  await pair?.cleanup();
});

/** Run the same call on both daemons and insist on the same status. */
async function sameStatus(fn: (client: TestClient) => Promise<unknown>): Promise<{ code: number; details: string }> {
  const [sb, sc] = await Promise.all([statusOf(fn(b)), statusOf(fn(c))]);
  expect(sb).toEqual(sc);
  return sb;
}

function comparable(x: { id: string; labels: Record<string, string>; image: string; runtime: unknown; spec: unknown; snapshotter: string; snapshot_key: string; extensions: unknown }): unknown {
  return { id: x.id, labels: x.labels, image: x.image, runtime: x.runtime, spec: x.spec, snapshotter: x.snapshotter, snapshot_key: x.snapshot_key, extensions: x.extensions };
}

describe('Containers API on berthd, compared with containerd', () => {
  it('create/get round-trips every field byte for byte', async () => {
    const spec = Buffer.from(JSON.stringify({ ociVersion: '1.0.2-dev', root: { path: 'rootfs' }, annotations: { 'ü': '✓' } }));
    const full = sampleContainer('full', {
      labels: { a: 'b', empty: '' },
      image: 'docker.io/library/busybox:latest',
      runtime: { name: 'io.containerd.runc.v2', options: { type_url: 'containerd.runc.v1.Options', value: Buffer.from([0x32, 0x04, 0x72, 0x75, 0x6e, 0x63]) } },
      spec: { type_url: SPEC_TYPE, value: spec },
      snapshotter: 'overlayfs',
      snapshot_key: 'full-snap',
      extensions: { ext1: { type_url: 'x/y', value: Buffer.from([1, 2, 3, 0]) } },
    });
    const [rb, rc] = await Promise.all([b.createContainer('api', full), c.createContainer('api', full)]);
    expect(comparable(rb)).toEqual(comparable(rc));
    expect(rb.spec?.value.equals(spec)).toBe(true);
    expect(rb.created_at?.seconds).toBeGreaterThan(1_700_000_000);
    const [gb, gc] = await Promise.all([b.getContainer('api', 'full'), c.getContainer('api', 'full')]);
    expect(comparable(gb)).toEqual(comparable(gc));
    expect(gb.created_at).toEqual(rb.created_at);
  });

  it('List and ListStream with filters agree with containerd', async () => {
    for (const client of [b, c]) {
      await client.createContainer('lst', sampleContainer('web-1', { labels: { app: 'web', 'containerd.io/restart': 'yes' }, image: 'nginx:1' }));
      await client.createContainer('lst', sampleContainer('web-2', { labels: { app: 'web' }, runtime: { name: 'io.containerd.berth.v1' } }));
      await client.createContainer('lst', sampleContainer('db-1', { labels: { app: 'db' }, image: 'postgres:16' }));
    }
    const filterSets = [
      [],
      ['labels.app==web'],
      ['labels.app==web,id!=web-1'],
      ['image~=^post', 'id==web-2'],
      ['runtime.name==io.containerd.berth.v1'],
      ['labels."containerd.io/restart"'],
      ['labels.containerd.io/restart==yes'], // a parse error in containerd too: '/' starts a quote
      ['id~=/^web-[0-9]$/'],
    ];
    for (const f of filterSets) {
      const ids = (p: Promise<Array<{ id: string }>>): Promise<string[] | { code: number; details: string }> =>
        p.then(
          (l) => l.map((x) => x.id).sort(),
          (e: { code: number; details: string }) => ({ code: e.code, details: e.details }),
        );
      const [lb, lc, sb, sc] = await Promise.all([
        ids(b.listContainers('lst', f)),
        ids(c.listContainers('lst', f)),
        ids(b.listStream('lst', f)),
        ids(c.listStream('lst', f)),
      ]);
      expect(lb, JSON.stringify(f)).toEqual(lc);
      expect(sb, JSON.stringify(f)).toEqual(sc);
    }
  });

  it('Update with masks and without', async () => {
    for (const client of [b, c]) {
      await client.createContainer('upd', sampleContainer('u1', { labels: { a: '1', b: '2' }, image: 'one' }));
    }
    const cases: Array<[Parameters<TestClient['updateContainer']>[1], string[] | undefined]> = [
      [sampleContainer('u1', { labels: { a: 'x' } }), ['labels.a', 'labels.b']],
      [sampleContainer('u1', { image: 'two', snapshotter: 'native', snapshot_key: 'k' }), ['image', 'snapshotkey']],
      [sampleContainer('u1', { labels: { z: '1' } }), undefined],
      [sampleContainer('u1', { labels: { z: '1' } }), ['runtime.name']],
      [sampleContainer('u1', { runtime: { name: 'other' } }), undefined],
      [sampleContainer('u1', { snapshotter: 'native' }), undefined],
      [sampleContainer('u1', { extensions: { e: { type_url: 't', value: Buffer.from('v') } } }), ['extensions.e']],
      [sampleContainer('nope'), undefined],
      [sampleContainer(''), undefined],
    ];
    for (const [ctr, paths] of cases) {
      const [ub, uc] = await Promise.all([statusOf(b.updateContainer('upd', ctr, paths)), statusOf(c.updateContainer('upd', ctr, paths))]);
      expect(ub, `${JSON.stringify(paths)} ${ctr.id}`).toEqual(uc);
      const [gb, gc] = await Promise.all([b.getContainer('upd', 'u1'), c.getContainer('upd', 'u1')]);
      expect(comparable(gb)).toEqual(comparable(gc));
    }
  });

  it('bad input: same status codes and messages as containerd', async () => {
    await sameStatus((x) => x.createContainer(undefined, sampleContainer('no-ns')));
    await sameStatus((x) => x.createContainer('bad ns', sampleContainer('x')));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('bad id!')));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('x'.repeat(77))));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('x', { runtime: { name: '' } })));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('x', { spec: null })));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('x', { snapshot_key: 'k' })));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('x', { labels: { k: 'v'.repeat(5000) } })));
    await sameStatus((x) => x.createContainer('bad', sampleContainer('dup')));
    const dup = await sameStatus((x) => x.createContainer('bad', sampleContainer('dup')));
    expect(dup.code).toBe(6);
    const nf = await sameStatus((x) => x.getContainer('bad', 'missing'));
    expect(nf.code).toBe(5);
    await sameStatus((x) => x.deleteContainer('bad', 'missing'));
    await sameStatus((x) => x.listContainers('bad', ['id==']));
    await sameStatus((x) => x.listContainers('bad', ['id~=|[|']));
    await sameStatus((x) => x.listStream('bad', ['labels.a==b,']));
    // Nothing was half-written by the failures.
    const [lb, lc] = await Promise.all([b.listContainers('bad'), c.listContainers('bad')]);
    expect(lb.map((x) => x.id)).toEqual(['dup']);
    expect(lc.map((x) => x.id)).toEqual(['dup']);
  });

  it('oversized and truncated messages are refused and the daemon keeps serving', async () => {
    const huge = sampleContainer('huge', { spec: { type_url: SPEC_TYPE, value: Buffer.alloc(17 * 1024 * 1024, 0x20) } });
    const big = await sameStatus((x) => x.createContainer('big', huge));
    expect(big.code).toBe(8); // RESOURCE_EXHAUSTED
    // A request whose protobuf is cut short: field 1 claims 100 bytes, 3 follow.
    const truncated = async (address: string): Promise<{ code: number }> => {
      const Ctor = makeGenericClientConstructor(
        {
          Get: {
            path: '/containerd.services.containers.v1.Containers/Get',
            requestStream: false,
            responseStream: false,
            requestSerialize: () => Buffer.from([0x0a, 100, 0x61, 0x62, 0x63]),
            requestDeserialize: (x: Buffer) => x,
            responseSerialize: (x: Buffer) => x,
            responseDeserialize: (x: Buffer) => x,
          },
        },
        'raw',
      );
      const raw = new Ctor(`unix://${address}`, credentials.createInsecure());
      try {
        return await new Promise((resolve) => {
          (raw as unknown as { Get(r: unknown, md: Metadata, cb: (e: ServiceError | null) => void): void }).Get({}, callMetadata('big'), (e) =>
            resolve({ code: e ? e.code : 0 }),
          );
        });
      } finally {
        raw.close();
      }
    };
    const [tb, tc] = await Promise.all([truncated(pair.berthd.address), truncated(pair.containerd.address)]);
    expect(tb.code).not.toBe(0);
    expect(tb).toEqual(tc);
    expect((await b.createContainer('big', sampleContainer('after'))).id).toBe('after');
  });

  it('a client that disconnects mid-stream does not disturb the daemon', async () => {
    for (let i = 0; i < 300; i++) await b.createContainer('stream', sampleContainer(`s${i}`));
    const s = b.raw.containers.ListStream({ filters: [] }, callMetadata('stream'));
    await new Promise<void>((resolve) => {
      s.once('data', () => {
        s.cancel();
        resolve();
      });
    });
    s.on('error', () => undefined);
    expect((await b.listStream('stream')).length).toBe(300);
  });
});
