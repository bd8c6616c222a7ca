import { createHash } from 'node:crypto';
import * as http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError, UnavailableError } from '../../src/errdefs/errors';
import type { ContentIngester, IngestWriter, OpenWriterOptions } from '../../src/remotes/ingester';
import { pull, type BlobProgress } from '../../src/remotes/pull';
import { Resolver } from '../../src/remotes/resolver';

// The pull pipeline's logic against a small registry served from memory on loopback and
// an in-memory ingester that does NOT check digests at commit (so the checks seen here
// are the pipeline's own): what a registry may get wrong (too many bytes, too few,
// corrupt, schema 1, oversized manifests, a generic Content-Type) and the walk (nested
// indexes, platform filtering). The real registry and store are test/e2e/remotes-pull.

const sha = (b: Buffer | string): string => 'sha256:' + createHash('sha256').update(b).digest('hex');
const OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
const OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
const OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
const OCI_LAYER = 'application/vnd.oci.image.layer.v1.tar+gzip';

interface Served {
  bytes: Buffer;
  mediaType: string;
}

/** A registry from memory: manifests by repo and tag/digest, blobs by digest, with hooks. */
class MemoryRegistry {
  readonly manifests = new Map<string, Served>();
  readonly blobs = new Map<string, Buffer>();
  /** Rewrite a blob's body as served. */
  tamper = new Map<string, (b: Buffer) => Buffer>();
  /** Content-Type to send instead of the manifest's media type. */
  contentTypeOverride: string | undefined;
  readonly log: string[] = [];
  private server!: http.Server;
  host = '';

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      this.log.push(`${req.method} ${url.pathname}${req.headers.range ? ` ${req.headers.range}` : ''}`);
      const m = /^\/v2\/(.+)\/(manifests|blobs)\/([^/]+)$/.exec(url.pathname);
      if (!m) {
        res.writeHead(404).end();
        return;
      }
      const [, repo, kind, ref] = m as unknown as [string, string, string, string];
      let body: Buffer | undefined;
      let type = 'application/octet-stream';
      if (kind === 'manifests') {
        const s = this.manifests.get(`${repo}:${ref}`) ?? this.manifests.get(`${repo}@${ref}`);
        if (s) {
          body = s.bytes;
          type = this.contentTypeOverride ?? s.mediaType;
        }
      } else {
        body = this.blobs.get(ref);
      }
      if (!body) {
        res.writeHead(404).end();
        return;
      }
      const digest = kind === 'blobs' ? ref : sha(body);
      const t = this.tamper.get(digest);
      if (t && req.method === 'GET') body = t(body);
      let status = 200;
      const headers: Record<string, string> = { 'content-type': type, 'docker-content-digest': digest };
      const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
      if (range) {
        const from = Number(range[1]);
        headers['content-range'] = `bytes ${from}-${body.length - 1}/${body.length}`;
        body = body.subarray(from);
        status = 206;
      }
      headers['content-length'] = String(body.length);
      res.writeHead(status, headers);
      res.end(req.method === 'HEAD' ? undefined : body);
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.host = `127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  blob(bytes: Buffer | string, mediaType: string): { mediaType: string; digest: string; size: number } {
    const b = Buffer.from(bytes);
    this.blobs.set(sha(b), b);
    return { mediaType, digest: sha(b), size: b.length };
  }

  manifest(repo: string, tags: string[], doc: object, mediaType: string): { mediaType: string; digest: string; size: number } {
    const bytes = Buffer.from(JSON.stringify(doc));
    const d = sha(bytes);
    for (const t of tags) this.manifests.set(`${repo}:${t}`, { bytes, mediaType });
    this.manifests.set(`${repo}@${d}`, { bytes, mediaType });
    return { mediaType, digest: d, size: bytes.length };
  }

  /** An image for a platform: config + layers, manifest tagged. */
  image(repo: string, tags: string[], platform: { os: string; architecture: string; variant?: string }, layerData: string[]): { mediaType: string; digest: string; size: number } {
    const layers = layerData.map((l) => this.blob(l, OCI_LAYER));
    const config = this.blob(JSON.stringify({ ...platform, rootfs: { type: 'layers', diff_ids: [] } }), OCI_CONFIG);
    return this.manifest(repo, tags, { schemaVersion: 2, mediaType: OCI_MANIFEST, config, layers }, OCI_MANIFEST);
  }
}

/** A ContentIngester in memory. Its commit checks nothing: the pipeline must. */
class MemoryIngester implements ContentIngester {
  readonly blobs = new Map<string, { data: Buffer; labels: Record<string, string> }>();
  readonly ingests = new Map<string, Buffer>();
  readonly aborted: string[] = [];

  async info(digest: string): Promise<{ size: number; labels: Record<string, string> } | undefined> {
    const b = this.blobs.get(digest);
    return b ? { size: b.data.length, labels: { ...b.labels } } : undefined;
  }
  async readBlob(digest: string): Promise<Buffer> {
    const b = this.blobs.get(digest);
    if (!b) throw new NotFoundError(digest);
    return b.data;
  }
  async openWriter(opts: OpenWriterOptions): Promise<IngestWriter | { exists: true }> {
    if (this.blobs.has(opts.digest)) return { exists: true };
    const self = this;
    let data = this.ingests.get(opts.ref) ?? Buffer.alloc(0);
    return {
      offset: data.length,
      async write(chunk: Uint8Array) {
        data = Buffer.concat([data, chunk]);
        self.ingests.set(opts.ref, data);
      },
      async commit(labels: Record<string, string>) {
        self.blobs.set(opts.digest, { data, labels: { ...labels } });
        self.ingests.delete(opts.ref);
      },
      async abort() {
        self.aborted.push(opts.ref);
        self.ingests.delete(opts.ref);
      },
      async close() {},
    };
  }
  async setLabels(digest: string, labels: Record<string, string>): Promise<void> {
    const b = this.blobs.get(digest);
    if (!b) throw new NotFoundError(digest);
    Object.assign(b.labels, labels);
  }
}

let reg: MemoryRegistry;
beforeAll(async () => {
  reg = new MemoryRegistry();
  await reg.start();
});
afterAll(async () => {
  await reg.close();
});

const amd64 = { os: 'linux', architecture: 'amd64' };
const resolver = (): Resolver => new Resolver({ hosts: { plainHttp: true } });

async function pullWith(ref: string, ingester: ContentIngester, extra: Partial<Parameters<typeof pull>[1]> = {}): Promise<Awaited<ReturnType<typeof pull>>> {
  const r = resolver();
  try {
    return await pull(ref, { resolver: r, ingester, platform: amd64, ...extra });
  } finally {
    r.close();
  }
}

describe('pull pipeline', () => {
  it('nested index: index → index → the platform manifest; labels on each parent for all children', async () => {
    const m1 = reg.image('nest/a', [], amd64, ['layer-amd64']);
    const m2 = reg.image('nest/a', [], { os: 'linux', architecture: 'arm64' }, ['layer-arm64']);
    const inner = reg.manifest('nest/a', [], { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [{ ...m2, platform: { os: 'linux', architecture: 'arm64' } }, { ...m1, platform: amd64 }] }, OCI_INDEX);
    const outer = reg.manifest('nest/a', ['1'], { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [inner] }, OCI_INDEX);
    const ing = new MemoryIngester();
    const r = await pullWith(`${reg.host}/nest/a:1`, ing);
    expect(r.target.digest).toBe(outer.digest);
    expect(r.manifestDescriptor.digest).toBe(m1.digest);
    expect(ing.blobs.get(outer.digest)!.labels).toEqual({ 'containerd.io/distribution.source.127.0.0.1': 'nest/a', 'containerd.io/gc.ref.content.m.0': inner.digest });
    expect(ing.blobs.get(inner.digest)!.labels['containerd.io/gc.ref.content.m.1']).toBe(m1.digest);
    expect(ing.blobs.has(m2.digest)).toBe(false);
  });

  it('an index entry without a platform is taken after the matching ones', async () => {
    const plain = reg.image('np/a', [], amd64, ['np-1']);
    const exact = reg.image('np/a', [], amd64, ['np-2']);
    reg.manifest('np/a', ['1'], { schemaVersion: 2, manifests: [plain, { ...exact, platform: amd64 }] }, OCI_INDEX);
    const r = await pullWith(`${reg.host}/np/a:1`, new MemoryIngester());
    expect(r.manifestDescriptor.digest).toBe(exact.digest);
  });

  it('a corrupt blob is caught by the pipeline itself (the ingester checks nothing): aborted, not committed', async () => {
    const m = reg.image('bad/a', ['1'], amd64, ['good bytes', 'bytes to corrupt']);
    const layer = sha('bytes to corrupt');
    reg.tamper.set(layer, (b) => Buffer.from(b.toString().toUpperCase()));
    const ing = new MemoryIngester();
    const err = await pullWith(`${reg.host}/bad/a:1`, ing).catch((e: unknown) => e);
    reg.tamper.delete(layer);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toContain(`expected ${layer}`);
    expect(ing.blobs.has(layer)).toBe(false);
    expect(ing.aborted).toEqual([`layer-${layer}`]);
    expect(ing.blobs.has(m.digest)).toBe(true);
  });

  it('more bytes than the descriptor says: refused while streaming', async () => {
    reg.image('long/a', ['1'], amd64, ['exact']);
    const layer = sha('exact');
    reg.tamper.set(layer, (b) => Buffer.concat([b, Buffer.from('and more')]));
    const ing = new MemoryIngester();
    const err = await pullWith(`${reg.host}/long/a:1`, ing).catch((e: unknown) => e);
    reg.tamper.delete(layer);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toContain('more than the 5 bytes');
    expect(ing.blobs.has(layer)).toBe(false);
  });

  it('a short body keeps the partial ingest; the next pull resumes it with Range and verifies the whole', async () => {
    const data = 'x'.repeat(1000) + 'y'.repeat(1000);
    reg.image('short/a', ['1'], amd64, [data]);
    const layer = sha(data);
    reg.tamper.set(layer, (b) => b.subarray(0, 1200));
    const ing = new MemoryIngester();
    // The descriptor says 2000 bytes, the registry sends 1200 (as a connection cut short would).
    const err = await pullWith(`${reg.host}/short/a:1`, ing).catch((e: unknown) => e);
    reg.tamper.delete(layer);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(ing.ingests.get(`layer-${layer}`)?.length).toBe(1200);
    const events: BlobProgress[] = [];
    reg.log.length = 0;
    await pullWith(`${reg.host}/short/a:1`, ing, { progress: (e) => events.push(e) });
    expect(reg.log).toContain(`GET /v2/short/a/blobs/${layer} bytes=1200-`);
    expect(ing.blobs.get(layer)!.data.toString()).toBe(data);
    expect(events.filter((e) => e.digest === layer).map((e) => e.status)).toEqual(['waiting', 'downloading', 'downloading', 'done']);
  });

  it('a resumed prefix that is wrong is caught at the end (ingester without a running hash: by its commit only)', async () => {
    reg.image('prefix/a', ['1'], amd64, ['0123456789']);
    const layer = sha('0123456789');
    const ing = new MemoryIngester();
    ing.ingests.set(`layer-${layer}`, Buffer.from('abcde'));
    // MemoryIngester's commit checks nothing, so this one commits the wrong bytes: the
    // contract (ingester.ts) puts that check on the ingester. Stores with a running hash
    // (berthd's) let the pipeline refuse it before the commit: see the e2e resume tests.
    await pullWith(`${reg.host}/prefix/a:1`, ing);
    expect(ing.blobs.get(layer)!.data.toString()).toBe('abcde56789');
  });

  it('a digest-checking ingester (running hash) makes the pipeline refuse a wrong resumed prefix', async () => {
    reg.image('prefix/b', ['1'], amd64, ['0123456789']);
    const layer = sha('0123456789');
    const ing = new MemoryIngester();
    ing.ingests.set(`layer-${layer}`, Buffer.from('abcde'));
    const open = ing.openWriter.bind(ing);
    ing.openWriter = async (o) => {
      const w = await open(o);
      if ('exists' in w) return w;
      let data = ing.ingests.get(o.ref) ?? Buffer.alloc(0);
      const write = w.write.bind(w);
      return Object.assign(w, {
        write: async (c: Uint8Array) => {
          data = Buffer.concat([data, c]);
          await write(c);
        },
        digest: () => sha(data),
      });
    };
    const err = await pullWith(`${reg.host}/prefix/b:1`, ing).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect(ing.blobs.has(layer)).toBe(false);
    expect(ing.aborted).toEqual([`layer-${layer}`]);
  });

  it('a manifest served as application/json is recognised by its document', async () => {
    const m = reg.image('json/a', ['1'], amd64, ['j']);
    reg.contentTypeOverride = 'application/json';
    try {
      const r = await pullWith(`${reg.host}/json/a:1`, new MemoryIngester());
      expect(r.target).toEqual({ mediaType: OCI_MANIFEST, digest: m.digest, size: m.size });
    } finally {
      reg.contentTypeOverride = undefined;
    }
  });

  it('schema 1 is NotImplemented; a manifest over 4 MiB and a non-manifest target are InvalidArgument', async () => {
    reg.manifests.set('old/a:1', { bytes: Buffer.from('{"schemaVersion":1}'), mediaType: 'application/vnd.docker.distribution.manifest.v1+prettyjws' });
    await expect(pullWith(`${reg.host}/old/a:1`, new MemoryIngester())).rejects.toBeInstanceOf(NotImplementedError);
    reg.manifests.set('big/a:1', { bytes: Buffer.alloc((4 << 20) + 1, 0x20), mediaType: OCI_MANIFEST });
    const big = await pullWith(`${reg.host}/big/a:1`, new MemoryIngester()).catch((e: unknown) => e);
    expect(big).toBeInstanceOf(InvalidArgumentError);
    expect((big as Error).message).toContain('larger than 4194304 bytes');
    reg.manifests.set('weird/a:1', { bytes: Buffer.from('{}'), mediaType: 'text/html' });
    await expect(pullWith(`${reg.host}/weird/a:1`, new MemoryIngester())).rejects.toBeInstanceOf(InvalidArgumentError);
  });

  it('garbage in a manifest is InvalidArgument naming the digest', async () => {
    const bad = reg.manifest('garbage/a', ['1'], { schemaVersion: 2, config: { mediaType: OCI_CONFIG, digest: 'sha256:nothex', size: 1 }, layers: [] }, OCI_MANIFEST);
    const err = await pullWith(`${reg.host}/garbage/a:1`, new MemoryIngester()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(`manifest ${bad.digest}`);
  });

  it('maxConcurrentDownloads must be a positive integer', async () => {
    reg.image('conc/a', ['1'], amd64, ['c']);
    await expect(pullWith(`${reg.host}/conc/a:1`, new MemoryIngester(), { maxConcurrentDownloads: 0 })).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
