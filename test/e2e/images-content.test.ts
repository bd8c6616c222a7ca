import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildDockerArchive, buildLayer, buildOciImage, busyboxLayer, readTar, type Layer } from '../fixtures/images';
import { buildGoProgram, ctrOk, makeTempRoot, pushArchive, runGoProgram, startRegistry, type TempRoot } from '../harness';
import { collectGarbageBoth, normalize, startPair, type Pair } from './pair';
import { ContentWriteSession, TestClient } from './grpc-client';
import { callMetadata, collectStream } from '../../src/client/connection';

// Images and content through the real ctr, berthd next to a real containerd: import,
// ls, label, export, get, rm (with sync GC), active ingests, registry fetch, and the Go
// client's content helpers.

let pair: Pair;
let tmp: TempRoot;
let base: Layer;
let ociFile: string;
let dockerFile: string;
const OCI_NAME = 'docker.io/library/berth-oci:1.0';
const DOCKER_NAME = 'docker.io/library/berth-docker:1.0';

/**
 * ctr prints ages ("Less than a second", "2 seconds") that differ between runs, and its
 * tabwriter pads every column to the widest cell, so an AGE one character wider on one
 * daemon shifts the whole table's spacing. Compare rows cell by cell: ages masked, each
 * run of padding one space.
 */
function normalizeAges(s: string): string {
  return normalize(s)
    .replace(/(Less than a second|About a minute|About an hour|\d+ (seconds?|minutes?|hours?))/g, '<AGE>')
    .split('\n')
    .map((line) => line.replace(/[ \t]+/g, ' ').trimEnd())
    .join('\n');
}

async function both(args: string[], ns = 'imgs'): Promise<string> {
  const [b, c] = await Promise.all([
    ctrOk(pair.berthd.address, args, { namespace: ns }),
    ctrOk(pair.containerd.address, args, { namespace: ns }),
  ]);
  expect(normalizeAges(b.stdout), `ctr ${args.join(' ')}`).toEqual(normalizeAges(c.stdout));
  return b.stdout;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

beforeAll(async () => {
  pair = await startPair();
  tmp = makeTempRoot('berth-img-');
  base = await busyboxLayer();
  const extra = await buildLayer([{ path: '/etc/motd', type: 'file', content: 'berth\n', mode: 0o644 }]);
  const oci = await buildOciImage({ name: OCI_NAME, layers: [base, extra], config: { Cmd: ['/bin/sh'] } });
  ociFile = join(tmp.path, 'oci.tar');
  writeFileSync(ociFile, oci.archive);
  dockerFile = join(tmp.path, 'docker.tar');
  writeFileSync(dockerFile, await buildDockerArchive({ name: DOCKER_NAME, layers: [base] }));
}, 120_000);

afterAll(async () => {
  await pair?.cleanup();
  await tmp?.cleanup();
});

describe('ctr images and content on berthd, compared with containerd', () => {
  it('imports OCI and docker archives (--no-unpack) and lists them identically', async () => {
    await both(['images', 'import', '--no-unpack', ociFile]);
    await both(['images', 'import', '--no-unpack', dockerFile]);
    const ls = await both(['images', 'ls']);
    expect(ls).toContain(OCI_NAME);
    expect(ls).toContain(DOCKER_NAME);
    await both(['images', 'ls', '-q']);
    await both(['images', 'ls', `name==${OCI_NAME}`]);
    const check = await both(['images', 'check']);
    expect(check).toMatch(/complete \(3\/3\)/);
    await collectGarbageBoth(pair, 'imgs');
    await both(['content', 'ls']);
    await both(['content', 'ls', '-q']);
  });

  it('labels images and content', async () => {
    await both(['images', 'label', OCI_NAME, 'team=berth', 'tier=1']);
    await both(['images', 'label', OCI_NAME, 'tier=']);
    await both(['images', 'ls']);
    await both(['content', 'label', `sha256:${base.digest.slice(7)}`, 'note=base-layer']);
    await both(['content', 'ls']);
    await both(['content', 'ls', 'labels.note==base-layer']);
  });

  it('content get returns the exact bytes; export writes byte-identical blobs', async () => {
    // Binary output: read ctr's stdout as bytes, not text.
    const got = execFileSync('/usr/bin/ctr', ['-a', pair.berthd.address, '-n', 'imgs', 'content', 'get', base.digest], {
      maxBuffer: 64 << 20,
    });
    expect(sha(got)).toBe(base.digest.slice(7));
    const outB = join(tmp.path, 'export-b.tar');
    const outC = join(tmp.path, 'export-c.tar');
    await ctrOk(pair.berthd.address, ['images', 'export', outB, OCI_NAME], { namespace: 'imgs' });
    await ctrOk(pair.containerd.address, ['images', 'export', outC, OCI_NAME], { namespace: 'imgs' });
    const blobs = async (file: string): Promise<Map<string, string>> => {
      const m = new Map<string, string>();
      for (const e of await readTar(readFileSync(file))) {
        if (e.name.startsWith('blobs/sha256/') && e.type === 'file') m.set(e.name, sha(e.content));
      }
      return m;
    };
    const [bb, cb] = await Promise.all([blobs(outB), blobs(outC)]);
    expect(bb.size).toBeGreaterThanOrEqual(4);
    expect([...bb.entries()].sort()).toEqual([...cb.entries()].sort());
    for (const [path, hash] of bb) expect(path.endsWith(hash)).toBe(true);
    const imported = await blobs(ociFile);
    for (const [path, hash] of imported) expect(bb.get(path)).toBe(hash);
  });

  it('rm --sync removes the image and, once unreferenced, its blobs from ctr content ls and from disk', async () => {
    const digests = (await ctrOk(pair.berthd.address, ['content', 'ls', '-q'], { namespace: 'imgs' })).stdout.trim().split('\n');
    await both(['images', 'rm', '--sync', DOCKER_NAME]);
    await both(['images', 'rm', '--sync', OCI_NAME]);
    await both(['images', 'ls']);
    const left = await both(['content', 'ls', '-q']);
    expect(left.trim()).toBe('');
    const blobDir = join(pair.berthd.root, 'content', 'blobs', 'sha256');
    for (const d of digests) expect(existsSync(join(blobDir, d.slice(7)))).toBe(false);
    expect(readdirSync(blobDir)).toEqual([]);
  });

  it('content ingest, active, rm', async () => {
    const data = 'ingested by ctr\n';
    for (const address of [pair.berthd.address, pair.containerd.address]) {
      await ctrOk(address, ['content', 'ingest', 'my-ref'], { namespace: 'ing', input: data });
    }
    await both(['content', 'ls'], 'ing');
    await both(['content', 'active'], 'ing');
    const digest = `sha256:${sha(Buffer.from(data))}`;
    await both(['content', 'rm', digest], 'ing');
    await both(['content', 'ls'], 'ing');
  });

  it('Content.Read with offsets and sizes answers as containerd does, small blobs and large', async () => {
    const small = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
    const large = Buffer.from(Array.from({ length: (5 << 19) + 123 }, (_, i) => (i * 7) % 253));
    const clients = [new TestClient(pair.berthd.address), new TestClient(pair.containerd.address)];
    // Written without a lease and labelled gc.root, so no collection races the reads.
    for (const c of clients) {
      for (const [ref, data] of [['read-small', small], ['read-large', large]] as const) {
        const w = new ContentWriteSession(c.raw, 'read');
        await w.send({ action: 'STAT', ref, total: data.length });
        for (let at = 0; at < data.length; at += 1 << 20) await w.send({ action: 'WRITE', offset: at, data: data.subarray(at, at + (1 << 20)) });
        await w.send({ action: 'COMMIT', offset: data.length, total: data.length, expected: `sha256:${sha(data)}`, labels: { 'containerd.io/gc.root': '1' } });
        w.end();
      }
    }
    const read = async (c: TestClient, digest: string, offset: number, size: number): Promise<unknown> => {
      try {
        const ms = await collectStream<{ offset: number | string; data: Buffer }>(
          c.raw.content.Read({ digest, offset, size }, callMetadata('read')),
        );
        return ms.map((m) => ({ offset: Number(m.offset), length: m.data.length, sha: sha(m.data) }));
      } catch (err) {
        const e = err as { code: number; details: string };
        return { code: e.code, details: e.details };
      }
    };
    try {
      const cases: Array<[Buffer, number, number]> = [];
      for (const data of [small, large]) {
        const n = data.length;
        for (const [offset, size] of [[0, 0], [0, n], [100, 50], [n - 10, 100], [n, 0], [n, 10], [n + 1, 0], [-5, 10], [1, -1], [0, 1 << 18], [0, (1 << 18) + 1], [3, 1 << 20]]) {
          cases.push([data, offset!, size!]);
        }
      }
      for (const [data, offset, size] of cases) {
        const digest = `sha256:${sha(data)}`;
        const [b, c] = await Promise.all(clients.map((cl) => read(cl, digest, offset, size)));
        expect(b, `${data.length}@${offset}+${size}`).toEqual(c);
      }
      const missing = `sha256:${sha(Buffer.from('missing'))}`;
      const [b, c] = await Promise.all(clients.map((cl) => read(cl, missing, 0, 0)));
      expect(b).toEqual(c);
      expect((b as { code: number }).code).toBe(5);
      // The bytes themselves.
      const got = (await collectStream<{ data: Buffer }>(
        clients[0]!.raw.content.Read({ digest: `sha256:${sha(small)}`, offset: 10, size: 20 }, callMetadata('read')),
      )).map((m) => m.data);
      expect(Buffer.concat(got).equals(small.subarray(10, 30))).toBe(true);
      const all = (await collectStream<{ data: Buffer }>(
        clients[0]!.raw.content.Read({ digest: `sha256:${sha(large)}`, offset: 0, size: 0 }, callMetadata('read')),
      )).map((m) => m.data);
      expect(Buffer.concat(all).equals(large)).toBe(true);
    } finally {
      for (const cl of clients) cl.close();
    }
  }, 120_000);

  it('content fetch --plain-http from a registry on loopback', async () => {
    const reg = await startRegistry();
    try {
      await pushArchive(reg, ociFile, 'berth/fetch:1');
      const ref = `${reg.host}/berth/fetch:1`;
      for (const address of [pair.berthd.address, pair.containerd.address]) {
        await ctrOk(address, ['content', 'fetch', '--plain-http', ref], { namespace: 'fetch', timeoutMs: 120_000 });
      }
      const ls = await both(['content', 'ls'], 'fetch');
      expect(ls).toContain(base.digest);
      await both(['images', 'ls'], 'fetch');
    } finally {
      await reg.cleanup();
    }
  }, 180_000);

  it('the Go client content helpers behave the same on both', async () => {
    const bin = await buildGoProgram('contentclient');
    const run = async (address: string, extra: string[]): Promise<{ code: number | null; lines: unknown[] }> => {
      const r = await runGoProgram(bin, ['-address', address, '-namespace', 'go-content', ...extra]);
      return { code: r.code, lines: r.lines.map((l) => JSON.parse(normalize(JSON.stringify(l))) as unknown) };
    };
    const cases = [
      ['-step', 'version,writeblob,readblob,info,label,walk', '-data', 'hello berth', '-label', 'a=1', '-fieldpath', 'labels.a', '-filter', 'labels.a==1'],
      ['-step', 'writeblob,deletelease-sync,info', '-data', 'collect me'],
      ['-step', 'writeblob', '-data', 'x', '-digest', `sha256:${sha(Buffer.from('y'))}`],
      ['-step', 'writeblob,readblob', '-data', 'hello berth'],
    ];
    for (const c of cases) {
      const [b, d] = await Promise.all([run(pair.berthd.address, c), run(pair.containerd.address, c)]);
      // version reports each daemon's own version; everything else must agree.
      const strip = (ls: unknown[]): unknown[] => ls.map((l) => ((l as { step?: string }).step === 'version' ? 'version' : l));
      expect(b.code, JSON.stringify(b.lines)).toBe(d.code);
      expect(strip(b.lines)).toEqual(strip(d.lines));
    }
  }, 300_000);
});
