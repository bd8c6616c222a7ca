import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/local';
import { FailedPreconditionError, NotFoundError, UnknownError } from '../../src/errdefs/errors';
import { NamespacedContentStore } from '../../src/metadata/content';
import { MetadataDB } from '../../src/metadata/db';
import { GarbageCollector } from '../../src/metadata/gc';
import { LeaseStore } from '../../src/metadata/leases';
import { contentStoreIngester, withPullLease } from '../../src/remotes/content-store-ingester';
import { pull, type BlobProgress, type PullResult } from '../../src/remotes/pull';
import { push, type PushProgress } from '../../src/remotes/push';
import { contentStoreProvider } from '../../src/remotes/content-store-provider';
import { readDockerConfig } from '../../src/remotes/credentials';
import { Resolver, type ResolverOptions } from '../../src/remotes/resolver';
import {
  buildDockerArchive,
  buildLayer,
  buildOciImage,
  busyboxLayer,
  hostPlatform,
  imageConfigJson,
  MEDIA_TYPES,
  ociManifest,
  sha256,
  type Layer,
} from '../fixtures/images';
import { ctr, ctrOk, makeTempRoot, pushArchive, startContainerd, startRegistry, type ContainerdHandle, type RegistryHandle, type TempRoot } from '../harness';
import { startAuthProxy, type AuthProxy } from './registry-auth-proxy';
import { startForwardProxy } from './forward-proxy';
import { HttpClient } from '../../src/remotes/http-client';

// berth's registry client (src/remotes) against Debian's docker-registry on loopback,
// images pushed there by skopeo (and one multi-platform index over the registry's HTTP
// API): anonymous pulls of OCI and Docker manifests, bearer tokens from a token server
// (GET, POST, refresh tokens, fallback), basic auth, an index with several platforms,
// hosts.toml routing, a corrupt blob refused, a partial ingest resumed, and the labels a
// real containerd 1.6 sets pulling the same image from the same registry.

let tmp: TempRoot;
let reg: RegistryHandle;
let base: Layer;
let extra: Layer;
let ociManifestDigest: string;
let ociConfigDigest: string;
let multiIndexDigest: string;
let multiHostManifestDigest: string;
let armManifestDigest: string;
let armLayer: Layer;
let dockerListDigest: string;
let dockerListHostManifest: string;
const proxies: AuthProxy[] = [];

/** A berth content store in a temp dir, as berthd has it (metadata + local blobs). */
interface Store {
  db: MetadataDB;
  content: NamespacedContentStore;
  leases: LeaseStore;
  gc: GarbageCollector;
}
let store: Store;
let nsCounter = 0;
const nextNs = (): string => `pull-${++nsCounter}`;

/** Push a blob over the registry's HTTP API (monolithic upload). */
async function pushBlob(repo: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const start = await httpCall('POST', `${reg.url}/v2/${repo}/blobs/uploads/`);
  expect(start.status, start.body.toString()).toBe(202);
  const loc = new URL(start.headers.location as string, reg.url);
  loc.searchParams.set('digest', digest);
  const put = await httpCall('PUT', loc.href, data, { 'content-type': 'application/octet-stream' });
  expect(put.status, put.body.toString()).toBe(201);
  return digest;
}

async function pushManifest(repo: string, ref: string, mediaType: string, data: Buffer): Promise<string> {
  const put = await httpCall('PUT', `${reg.url}/v2/${repo}/manifests/${ref}`, data, { 'content-type': mediaType });
  expect(put.status, put.body.toString()).toBe(201);
  return sha256(data);
}

function httpCall(method: string, url: string, body?: Buffer, headers: Record<string, string> = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, headers: { ...headers, 'content-length': String(body?.length ?? 0) } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function openStore(dir: string): Promise<Store> {
  const db = await MetadataDB.open(path.join(dir, 'meta'));
  const local = await LocalContentStore.open(path.join(dir, 'content'));
  const content = new NamespacedContentStore(db, local);
  return { db, content, leases: new LeaseStore(db), gc: new GarbageCollector(db, content, local) };
}

async function labelsIn(ns: string): Promise<Record<string, Record<string, string>>> {
  const out: Record<string, Record<string, string>> = {};
  for await (const info of store.content.view(ns).list([])) out[info.digest] = info.labels;
  return out;
}

/** A pull into namespace ns under a lease, as berthd's CRI will do it; the lease is gone afterwards. */
async function pullInto(ns: string, ref: string, resolverOpts: ResolverOptions, extra: { progress?: (p: BlobProgress) => void; platform?: { os: string; architecture: string; variant?: string } } = {}): Promise<PullResult> {
  const resolver = new Resolver(resolverOpts);
  try {
    return await withPullLease(store.leases, ns, (lease) =>
      pull(ref, { resolver, ingester: contentStoreIngester(store.content.view(ns, lease)), maxConcurrentDownloads: 3, ...extra }),
    );
  } finally {
    resolver.close();
  }
}

beforeAll(async () => {
  tmp = makeTempRoot('berth-remotes-');
  reg = await startRegistry();
  base = await busyboxLayer();
  extra = await buildLayer([{ path: '/etc/motd', type: 'file', content: 'pulled by berth\n' }]);

  // OCI and Docker archives pushed by skopeo.
  const oci = await buildOciImage({ name: 'berth.test/busybox:oci', layers: [base, extra] });
  ociManifestDigest = oci.manifestDigest;
  ociConfigDigest = oci.configDigest;
  const ociFile = path.join(tmp.path, 'oci.tar');
  fs.writeFileSync(ociFile, oci.archive);
  await pushArchive(reg, ociFile, 'berth/busybox:oci');
  await pushArchive(reg, ociFile, 'berth/other:oci');
  const dockerFile = path.join(tmp.path, 'docker.tar');
  fs.writeFileSync(dockerFile, await buildDockerArchive({ name: 'berth.test/busybox:docker', layers: [base] }));
  await pushArchive(reg, dockerFile, 'berth/busybox:docker');

  // An index with three platforms: this host's (a runnable busybox), arm64 and arm/v7.
  const host = hostPlatform();
  const others = [
    { os: 'linux', architecture: host.architecture === 'arm64' ? 'amd64' : 'arm64' },
    { os: 'linux', architecture: 'arm', variant: 'v7' },
  ];
  const repo = 'berth/multi';
  const entries: Array<{ digest: string; size: number; platform: { os: string; architecture: string; variant?: string } }> = [];
  for (const [i, platform] of [host, ...others].entries()) {
    const layers = i === 0 ? [base, extra] : [await buildLayer([{ path: `/etc/arch-${i}`, type: 'file', content: `${platform.architecture}\n` }])];
    if (i === 2) armLayer = layers[0]!;
    const m = ociManifest({ layers, platform });
    for (const l of layers) await pushBlob(repo, l.gz);
    await pushBlob(repo, m.config);
    await pushManifest(repo, m.manifestDigest, MEDIA_TYPES.ociManifest, m.manifest);
    entries.push({ digest: m.manifestDigest, size: m.manifest.length, platform });
    if (i === 0) multiHostManifestDigest = m.manifestDigest;
    if (i === 2) armManifestDigest = m.manifestDigest;
    expect(sha256(imageConfigJson({ layers, platform }))).toBe(m.configDigest);
  }
  const index = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.ociIndex,
    manifests: entries.map((e) => ({ mediaType: MEDIA_TYPES.ociManifest, digest: e.digest, size: e.size, platform: e.platform })),
  }));
  multiIndexDigest = await pushManifest(repo, '1', MEDIA_TYPES.ociIndex, index);

  // The Docker flavour: a manifest list of Docker schema 2 manifests (host and arm64).
  const dlist: Array<{ digest: string; size: number; platform: { os: string; architecture: string } }> = [];
  for (const [i, platform] of [host, others[0]!].entries()) {
    const layers = i === 0 ? [base] : [await buildLayer([{ path: '/etc/docker-arch', type: 'file', content: `${platform.architecture}\n` }])];
    const config = imageConfigJson({ layers, platform });
    for (const l of layers) await pushBlob('berth/dlist', l.gz);
    await pushBlob('berth/dlist', config);
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MEDIA_TYPES.dockerManifest,
      config: { mediaType: MEDIA_TYPES.dockerConfig, digest: sha256(config), size: config.length },
      layers: layers.map((l) => ({ mediaType: MEDIA_TYPES.dockerLayerGzip, digest: l.digest, size: l.size })),
    }));
    dlist.push({ digest: await pushManifest('berth/dlist', sha256(manifest), MEDIA_TYPES.dockerManifest, manifest), size: manifest.length, platform });
  }
  dockerListDigest = await pushManifest('berth/dlist', '1', MEDIA_TYPES.dockerManifestList, Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: MEDIA_TYPES.dockerManifestList,
    manifests: dlist.map((e) => ({ mediaType: MEDIA_TYPES.dockerManifest, digest: e.digest, size: e.size, platform: e.platform })),
  })));
  dockerListHostManifest = dlist[0]!.digest;
}, 120_000);

// A store of its own for each test: blobs on disk are shared across namespaces (a pull
// into another namespace fetches nothing), which would hide what a test looks for.
let storeCounter = 0;
beforeEach(async () => {
  store = await openStore(path.join(tmp.path, `store-${++storeCounter}`));
});
afterEach(async () => {
  await store?.db.close();
});

afterAll(async () => {
  for (const p of proxies) await p.close();
  await reg?.cleanup();
  await tmp?.cleanup();
});

async function proxy(opts: Omit<Parameters<typeof startAuthProxy>[0], 'upstream'>): Promise<AuthProxy> {
  const p = await startAuthProxy({ upstream: reg.url, ...opts });
  proxies.push(p);
  return p;
}

describe('anonymous pulls', () => {
  it('OCI manifest: target, manifest, config, layers in the store, digests verified, labels set, progress to done', async () => {
    const ns = nextNs();
    const events: BlobProgress[] = [];
    const r = await pullInto(ns, `${reg.host}/berth/busybox:oci`, {}, { progress: (p) => events.push(p) });
    expect(r.name).toBe(`${reg.host}/berth/busybox:oci`);
    expect(r.target).toEqual({ mediaType: MEDIA_TYPES.ociManifest, digest: ociManifestDigest, size: expect.any(Number) });
    expect(r.manifestDescriptor.digest).toBe(ociManifestDigest);
    expect(r.manifest.config.digest).toBe(ociConfigDigest);
    expect(r.layers.map((l) => l.digest)).toEqual([base.digest, extra.digest]);
    expect(r.platform).toEqual(hostPlatform());
    expect(r.config.rootfs?.diff_ids).toEqual([base.diffID, extra.diffID]);
    const view = store.content.view(ns);
    for (const [d, bytes] of [[base.digest, base.gz], [extra.digest, extra.gz]] as const) {
      const got = await view.read(d, 0, bytes.length + 1);
      expect(sha256(got)).toBe(d);
    }
    const labels = await labelsIn(ns);
    // containerd's key names the registry's host without the port.
    const src = 'containerd.io/distribution.source.127.0.0.1';
    expect(labels[ociManifestDigest]).toEqual({
      [src]: 'berth/busybox',
      'containerd.io/gc.ref.content.config': ociConfigDigest,
      'containerd.io/gc.ref.content.l.0': base.digest,
      'containerd.io/gc.ref.content.l.1': extra.digest,
    });
    expect(labels[base.digest]).toEqual({ [src]: 'berth/busybox' });
    expect(Object.keys(labels).sort()).toEqual([ociManifestDigest, ociConfigDigest, base.digest, extra.digest].sort());
    // The pull's lease is gone; nothing is left in flight.
    expect(await store.leases.list(ns, [])).toEqual([]);
    expect(await view.listStatuses([])).toEqual([]);
    // Progress: every blob went waiting → downloading → done, bytes never going back.
    const baseEvents = events.filter((e) => e.digest === base.digest);
    expect(baseEvents[0]).toMatchObject({ status: 'waiting', kind: 'layer', ref: `layer-${base.digest}`, total: base.size });
    expect(baseEvents.at(-1)).toMatchObject({ status: 'done', offset: base.size });
    const offsets = baseEvents.filter((e) => e.status === 'downloading').map((e) => e.offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    expect(new Set(events.filter((e) => e.status === 'done').map((e) => e.digest))).toEqual(new Set(Object.keys(labels)));
  });

  it('a second pull fetches no blob again: every blob "exists"; another repository is added to the source label', async () => {
    const ns = nextNs();
    const p = await proxy({});
    await pullInto(ns, `${p.host}/berth/busybox:oci`, {});
    expect(p.requests.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toHaveLength(3);
    const before = p.requests.length;
    const events: BlobProgress[] = [];
    await pullInto(ns, `${p.host}/berth/busybox:oci`, {}, { progress: (e) => events.push(e) });
    const again = p.requests.slice(before);
    expect(again.filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toEqual([]);
    expect(new Set(events.filter((e) => e.status !== 'waiting').map((e) => e.status))).toEqual(new Set(['exists']));
    // The same blobs under another repository: it joins the label's sorted set.
    await pullInto(ns, `${p.host}/berth/other:oci`, {});
    const labels = await labelsIn(ns);
    expect(labels[base.digest]).toEqual({ 'containerd.io/distribution.source.127.0.0.1': 'berth/busybox,berth/other' });
    // Another namespace of the same store: the blobs are on disk, nothing is fetched.
    const n = p.requests.length;
    const other: BlobProgress[] = [];
    await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, {}, { progress: (e) => other.push(e) });
    expect(p.requests.slice(n).filter((r) => r.method === 'GET' && r.path.includes('/blobs/'))).toEqual([]);
    expect(other.filter((e) => e.status === 'exists')).toHaveLength(4);
  });

  it('Docker schema 2 manifest (skopeo from a docker save archive)', async () => {
    const ns = nextNs();
    const r = await pullInto(ns, `${reg.host}/berth/busybox:docker`, {});
    expect(r.target.mediaType).toBe(MEDIA_TYPES.dockerManifest);
    expect(r.manifest.config.mediaType).toBe(MEDIA_TYPES.dockerConfig);
    expect(r.layers.map((l) => [l.mediaType, l.digest])).toEqual([[MEDIA_TYPES.dockerLayerGzip, expect.stringMatching(/^sha256:/)]]);
    expect(r.config.rootfs?.diff_ids).toEqual([base.diffID]);
  });

  it('by digest, and tag@digest; unknown tags and repositories are NotFound', async () => {
    const ns = nextNs();
    const r = await pullInto(ns, `${reg.host}/berth/busybox@${ociManifestDigest}`, {});
    expect(r.target.digest).toBe(ociManifestDigest);
    expect(r.name).toBe(`${reg.host}/berth/busybox@${ociManifestDigest}`);
    const r2 = await pullInto(ns, `${reg.host}/berth/busybox:whatever@${ociManifestDigest}`, {});
    expect(r2.target.digest).toBe(ociManifestDigest);
    await expect(pullInto(ns, `${reg.host}/berth/busybox:nope`, {})).rejects.toBeInstanceOf(NotFoundError);
    await expect(pullInto(ns, `${reg.host}/berth/nothing:1`, {})).rejects.toThrow(/not found/);
  });

  it('index with several platforms: this host by default, arm/v7 when asked, none for ppc64le', async () => {
    const ns = nextNs();
    const r = await pullInto(ns, `${reg.host}/berth/multi:1`, {});
    expect(r.target).toMatchObject({ mediaType: MEDIA_TYPES.ociIndex, digest: multiIndexDigest });
    expect(r.manifestDescriptor.digest).toBe(multiHostManifestDigest);
    expect(r.platform).toEqual(hostPlatform());
    const labels = await labelsIn(ns);
    // The index names all three manifests; only this host's is fetched.
    expect(Object.keys(labels[multiIndexDigest]!).filter((k) => k.startsWith('containerd.io/gc.ref.content.m.')).sort()).toEqual([
      'containerd.io/gc.ref.content.m.0',
      'containerd.io/gc.ref.content.m.1',
      'containerd.io/gc.ref.content.m.2',
    ]);
    expect(labels[armManifestDigest]).toBeUndefined();

    const arm = await pullInto(ns, `${reg.host}/berth/multi:1`, {}, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    expect(arm.manifestDescriptor.digest).toBe(armManifestDigest);
    expect(arm.layers.map((l) => l.digest)).toEqual([armLayer.digest]);
    expect(arm.platform).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });

    const err = await pullInto(nextNs(), `${reg.host}/berth/multi:1`, {}, { platform: { os: 'linux', architecture: 'ppc64le' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toContain('no match for platform linux/ppc64le');
  });

  it('Docker manifest list: this host\'s Docker manifest', async () => {
    const ns = nextNs();
    const r = await pullInto(ns, `${reg.host}/berth/dlist:1`, {});
    expect(r.target).toMatchObject({ mediaType: MEDIA_TYPES.dockerManifestList, digest: dockerListDigest });
    expect(r.manifestDescriptor).toMatchObject({ mediaType: MEDIA_TYPES.dockerManifest, digest: dockerListHostManifest });
    expect(r.layers.map((l) => l.digest)).toEqual([base.digest]);
    const labels = await labelsIn(ns);
    expect(Object.keys(labels[dockerListDigest]!).sort()).toEqual([
      'containerd.io/distribution.source.127.0.0.1',
      'containerd.io/gc.ref.content.m.0',
      'containerd.io/gc.ref.content.m.1',
    ]);
  });

  it('a single manifest for another platform is refused', async () => {
    const err = await pullInto(nextNs(), `${reg.host}/berth/busybox:oci`, {}, { platform: { os: 'linux', architecture: 's390x' } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect((err as Error).message).toMatch(/no match for platform linux\/s390x/);
  });
});

describe('routing and auth', () => {
  it('hosts.toml routes registry.k8s.io to the loopback registry (the upstream never tried); mirrors get ?ns=', async () => {
    const p = await proxy({});
    const certs = path.join(tmp.path, 'certs.d');
    fs.mkdirSync(path.join(certs, 'registry.k8s.io'), { recursive: true });
    fs.writeFileSync(path.join(certs, 'registry.k8s.io', 'hosts.toml'), `server = "http://${p.host}"\n\n[host."http://${p.host}"]\n  capabilities = ["pull", "resolve"]\n`);
    const ns = nextNs();
    const r = await pullInto(ns, 'registry.k8s.io/berth/busybox:oci', { hosts: { configPath: certs } });
    expect(r.name).toBe('registry.k8s.io/berth/busybox:oci');
    expect(r.manifestDescriptor.digest).toBe(ociManifestDigest);
    expect(p.requests.length).toBeGreaterThan(0);
    expect(p.requests.every((q) => q.path.includes('ns=registry.k8s.io'))).toBe(true);
    expect((await labelsIn(ns))[base.digest]).toEqual({ 'containerd.io/distribution.source.registry.k8s.io': 'berth/busybox' });
  });

  it('bearer, anonymous: tokens by GET, one per scope set, cached for the whole pull', async () => {
    const p = await proxy({ auth: { kind: 'bearer', anonymous: true } });
    const r = await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, {});
    expect(r.layers).toHaveLength(2);
    expect(p.tokenRequests).toEqual([{ method: 'GET', scopes: ['repository:berth/busybox:pull'], service: 'berth-test-registry', user: '' }]);
    // Every registry request after the first 401 carried the token.
    const authorized = p.requests.filter((q) => q.authorization?.startsWith('Bearer '));
    expect(authorized.length).toBeGreaterThanOrEqual(5);
    expect(p.requests.filter((q) => q.status === 401)).toHaveLength(1);
  });

  it('a token the registry stops accepting is fetched again once; a registry refusing fresh tokens is a denial', async () => {
    const p = await proxy({ auth: { kind: 'bearer', anonymous: true } });
    const resolver = new Resolver({});
    try {
      const ns = nextNs();
      const once = (): Promise<PullResult> => withPullLease(store.leases, ns, (lease) => pull(`${p.host}/berth/busybox:oci`, { resolver, ingester: contentStoreIngester(store.content.view(ns, lease)) }));
      await once();
      expect(p.tokenRequests).toHaveLength(1);
      await once();
      expect(p.tokenRequests).toHaveLength(1);
      p.revokeTokens();
      await once();
      expect(p.tokenRequests).toHaveLength(2);
    } finally {
      resolver.close();
    }
    // A registry that accepts none of the tokens its token server issues.
    const q = await proxy({ auth: { kind: 'bearer', anonymous: true, rejectTokens: true } });
    const err = await pullInto(nextNs(), `${q.host}/berth/busybox:oci`, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownError);
    expect((err as Error).message).toMatch(/failed to authorize with 127\.0\.0\.1:\d+: 401 Unauthorized/);
    // Anonymous, then with a fresh token: then it gives up.
    expect(q.tokenRequests).toHaveLength(1);
    expect(q.requests.map((r) => r.status)).toEqual([401, 401]);
  });

  it('bearer with a password: token by POST (OAuth2 password grant); refused credentials are an error', async () => {
    const p = await proxy({ auth: { kind: 'bearer', users: { alice: 's3cret' } } });
    await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, { credentials: () => ({ username: 'alice', password: 's3cret' }) });
    expect(p.tokenRequests).toEqual([
      { method: 'POST', grantType: 'password', scopes: ['repository:berth/busybox:pull'], service: 'berth-test-registry', clientId: 'containerd-client', user: 'alice' },
    ]);
    const err = await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, { credentials: () => ({ username: 'alice', password: 'wrong' }) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownError);
    expect((err as Error).message).toMatch(/failed to fetch anonymous token|401/);
    const anon = await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, {}).catch((e: unknown) => e);
    expect(anon).toBeInstanceOf(UnknownError);
  });

  it('bearer where POST is not served: GET with basic auth; identity tokens by refresh_token grant', async () => {
    const p = await proxy({ auth: { kind: 'bearer', users: { bob: 'pw' }, refreshTokens: { 'refresh-1': 'carol' }, post: false } });
    await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, { credentials: () => ({ username: 'bob', password: 'pw' }) });
    expect(p.tokenRequests.map((t) => [t.method, t.grantType, t.user])).toEqual([
      ['POST', 'password', undefined],
      ['GET', undefined, 'bob'],
    ]);
    const q = await proxy({ auth: { kind: 'bearer', refreshTokens: { 'refresh-1': 'carol' } } });
    await pullInto(nextNs(), `${q.host}/berth/busybox:oci`, { credentials: () => ({ identityToken: 'refresh-1' }) });
    expect(q.tokenRequests.map((t) => [t.method, t.grantType, t.user])).toEqual([['POST', 'refresh_token', 'carol']]);
  });

  it('basic auth from a docker config.json; without credentials it is refused', async () => {
    const p = await proxy({ auth: { kind: 'basic', users: { dave: 'pa:ss' } } });
    const cfg = path.join(tmp.path, 'docker-config.json');
    fs.writeFileSync(cfg, JSON.stringify({ auths: { [p.host]: { auth: Buffer.from('dave:pa:ss').toString('base64') } } }));
    const r = await pullInto(nextNs(), `${p.host}/berth/busybox:docker`, { credentials: readDockerConfig(cfg) });
    expect(r.layers).toHaveLength(1);
    const expected = `Basic ${Buffer.from('dave:pa:ss').toString('base64')}`;
    expect(p.requests.filter((q) => q.status !== 401).every((q) => q.authorization === expected)).toBe(true);
    const err = await pullInto(nextNs(), `${p.host}/berth/busybox:docker`, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownError);
    expect((err as Error).message).toMatch(/no credentials for the registry's auth scheme \(Basic\)/);
  });
});

/** A TLS front (self-signed for 127.0.0.1) to the registry, made once, and hosts.toml dirs for it. */
let tlsState: Promise<{ certs: string; front: AuthProxy }> | undefined;
function tlsFront(): Promise<{ certs: string; front: AuthProxy }> {
  tlsState ??= (async () => {
    const certs = path.join(tmp.path, 'tls');
    fs.mkdirSync(certs);
    // A self-signed certificate for 127.0.0.1, valid a day.
    execFileSync('/usr/bin/openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=berth test registry',
      '-addext', 'subjectAltName=IP:127.0.0.1,DNS:registry.berth.test', '-keyout', path.join(certs, 'key.pem'), '-out', path.join(certs, 'cert.pem'),
    ], { stdio: 'pipe' });
    const front = await proxy({ tls: { cert: fs.readFileSync(path.join(certs, 'cert.pem'), 'utf8'), key: fs.readFileSync(path.join(certs, 'key.pem'), 'utf8') } });
    return { certs, front };
  })();
  return tlsState;
}

/** A config_path with `<front>/hosts.toml`; kind 'with-ca' also gets the CA file next to it. */
async function tlsHostsDir(kind: 'with-ca' | 'no-ca' | 'skip'): Promise<string> {
  const { certs, front } = await tlsFront();
  const root = path.join(certs, kind);
  if (fs.existsSync(root)) return root;
  fs.mkdirSync(path.join(root, front.host), { recursive: true });
  const text = { 'with-ca': '  ca = "ca.pem"\n', 'no-ca': '', skip: '  skip_verify = true\n' }[kind];
  // A [host] table even where the server alone would do: containerd 1.6.20 refuses a
  // hosts.toml without one ("invalid `host` tree") and falls back to certs.d files.
  fs.writeFileSync(path.join(root, front.host, 'hosts.toml'), `server = "https://${front.host}"\n\n[host."https://${front.host}"]\n${text}`);
  if (kind === 'with-ca') fs.copyFileSync(path.join(certs, 'cert.pem'), path.join(root, front.host, 'ca.pem'));
  return root;
}

describe('TLS (hosts.toml ca, skip_verify)', () => {
  let front: AuthProxy;
  beforeAll(async () => {
    front = (await tlsFront()).front;
  });

  it('https with the registry CA from hosts.toml (relative to the host directory)', async () => {
    const root = await tlsHostsDir('with-ca');
    const r = await pullInto(nextNs(), `${front.host}/berth/busybox:oci`, { hosts: { configPath: root } });
    expect(r.manifestDescriptor.digest).toBe(ociManifestDigest);
  });

  it('an unknown CA is refused; skip_verify accepts it', async () => {
    const refuse = await tlsHostsDir('no-ca');
    const err = await pullInto(nextNs(), `${front.host}/berth/busybox:oci`, { hosts: { configPath: refuse } }).catch((e: unknown) => e);
    expect((err as Error).message).toMatch(/self[- ]signed certificate/);
    const skip = await tlsHostsDir('skip');
    const r = await pullInto(nextNs(), `${front.host}/berth/busybox:oci`, { hosts: { configPath: skip } });
    expect(r.layers).toHaveLength(2);
  });
});

describe('outbound HTTP proxy (HTTP_PROXY / HTTPS_PROXY as containerd)', () => {
  // registry.berth.test exists only inside the forward proxy: reaching it proves the way.
  const NAME = 'registry.berth.test';

  it('plain http through the proxy in absolute form, https through a CONNECT tunnel, with proxy credentials; loopback never proxied', async () => {
    const fp = await startForwardProxy([NAME], { user: 'px', password: 'secret' });
    const { certs, front } = await tlsFront();
    const frontPort = front.host.split(':')[1]!;
    const proxyUrl = fp.url.replace('http://', 'http://px:secret@');
    const http1 = new HttpClient({ proxy: { httpProxy: proxyUrl, httpsProxy: proxyUrl } });
    try {
      const plain = await pullInto(nextNs(), `${NAME}:${reg.port}/berth/busybox:oci`, { http: http1, hosts: { plainHttp: true } });
      expect(plain.manifestDescriptor.digest).toBe(ociManifestDigest);
      expect(fp.seen).toContain(`HEAD http://${NAME}:${reg.port}/v2/berth/busybox/manifests/oci`);
      expect(fp.seen).toContain(`GET http://${NAME}:${reg.port}/v2/berth/busybox/blobs/${base.digest}`);

      const secure = await pullInto(nextNs(), `${NAME}:${frontPort}/berth/busybox:oci`, {
        http: http1,
        hosts: () => [{ scheme: 'https', host: `${NAME}:${frontPort}`, path: '/v2', capabilities: new Set(['pull', 'resolve'] as const), caFiles: [path.join(certs, 'cert.pem')] }],
      });
      expect(secure.layers).toHaveLength(2);
      expect(fp.seen.filter((l) => l === `CONNECT ${NAME}:${frontPort}`).length).toBeGreaterThanOrEqual(1);

      const before = fp.seen.length;
      await pullInto(nextNs(), `${reg.host}/berth/busybox:oci`, { http: http1 });
      expect(fp.seen.length).toBe(before);
    } finally {
      http1.close();
    }
    // Wrong proxy credentials: the proxy's 407 is the error.
    const http2 = new HttpClient({ proxy: { httpProxy: fp.url } });
    try {
      const err = await pullInto(nextNs(), `${NAME}:${reg.port}/berth/busybox:oci`, { http: http2, hosts: { plainHttp: true } }).catch((e: unknown) => e);
      expect((err as Error).message).toMatch(/407/);
    } finally {
      http2.close();
      await fp.close();
    }
  });
});

describe('integrity and resume', () => {
  it('a corrupt layer is refused: no blob, no ingest, and after the lease GC leaves nothing', async () => {
    const p = await proxy({ corrupt: [extra.digest] });
    const ns = nextNs();
    const err = await pullInto(ns, `${p.host}/berth/busybox:oci`, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FailedPreconditionError);
    expect((err as Error).message).toContain(`unexpected commit digest`);
    expect((err as Error).message).toContain(`expected ${extra.digest}`);
    const view = store.content.view(ns);
    await expect(view.info(extra.digest)).rejects.toBeInstanceOf(NotFoundError);
    // The corrupt blob's ingest is gone. Another layer that was still downloading when the
    // pull failed keeps its partial ingest for a resume, as containerd's do (seen under
    // load; on a quiet machine the small layers are all in before the corrupt one fails).
    expect((await view.listStatuses([])).filter((st) => st.ref.includes(extra.digest))).toEqual([]);
    await store.gc.collect();
    expect(await labelsIn(ns)).toEqual({});
  });

  it('a partial ingest is resumed with a Range request and committed whole', async () => {
    const ns = nextNs();
    const half = base.gz.subarray(0, base.size >> 1);
    // An earlier pull stopped half way through the layer (same ingest ref as containerd's).
    const w = await store.content.view(ns).writer({ ref: `layer-${base.digest}`, total: base.size, expected: base.digest });
    await w.write(half, 0);
    await w.close();
    const p = await proxy({});
    const events: BlobProgress[] = [];
    await pullInto(ns, `${p.host}/berth/busybox:oci`, {}, { progress: (e) => events.push(e) });
    const layerGets = p.requests.filter((q) => q.method === 'GET' && q.path.includes(`/blobs/${base.digest}`));
    expect(layerGets.map((q) => [q.range, q.status])).toEqual([[`bytes=${half.length}-`, 206]]);
    expect(events.find((e) => e.digest === base.digest && e.status === 'done')).toMatchObject({ resumedFrom: half.length, offset: base.size });
    const got = await store.content.view(ns).read(base.digest, 0, base.size + 1);
    expect(createHash('sha256').update(got).digest('hex')).toBe(base.digest.slice(7));
    expect(await store.content.view(ns).listStatuses([])).toEqual([]);
  });
});

describe('registry behaviours', () => {
  it('HEAD without Docker-Content-Digest: the manifest is read by GET and digested', async () => {
    const p = await proxy({ headWithoutDigest: true });
    const r = await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, {});
    expect(r.target.digest).toBe(ociManifestDigest);
    expect(p.requests.filter((q) => q.path.endsWith('/manifests/oci')).map((q) => q.method)).toEqual(['HEAD', 'GET']);
  });

  it('blobs behind a redirect to another host: followed, and the registry token is not sent there', async () => {
    const p = await proxy({ auth: { kind: 'bearer', anonymous: true }, redirectBlobs: true });
    const r = await pullInto(nextNs(), `${p.host}/berth/busybox:oci`, {});
    expect(r.layers).toHaveLength(2);
    const storage = p.requests.filter((q) => q.path.startsWith('/storage/'));
    expect(storage.map((q) => q.status)).toEqual([200, 200, 200]);
    expect(storage.every((q) => q.authorization === undefined)).toBe(true);
  });

  it('an interrupted pull (aborted) keeps its partial ingest; the next pull resumes it, also from a registry that ignores Range', async () => {
    const ns = nextNs();
    const controller = new AbortController();
    const resolver = new Resolver({});
    let abortedAt = 0;
    const err = await withPullLease(store.leases, ns, (lease) =>
      pull(`${reg.host}/berth/busybox:oci`, {
        resolver,
        ingester: contentStoreIngester(store.content.view(ns, lease)),
        signal: controller.signal,
        progress: (e) => {
          if (e.digest === base.digest && e.status === 'downloading' && e.offset > 0 && abortedAt === 0) {
            abortedAt = e.offset;
            controller.abort();
          }
        },
      }),
    ).catch((e: unknown) => e);
    resolver.close();
    expect((err as Error).name, String(err)).toBe('AbortError');
    expect(abortedAt).toBeGreaterThan(0);
    const [st] = await store.content.view(ns).listStatuses([`ref==layer-${base.digest}`]);
    expect(st!.offset).toBeGreaterThanOrEqual(abortedAt);
    expect(st!.offset).toBeLessThan(base.size);
    await expect(store.content.view(ns).info(base.digest)).rejects.toBeInstanceOf(NotFoundError);

    const p = await proxy({ ignoreRange: true });
    const events: BlobProgress[] = [];
    await pullInto(ns, `${p.host}/berth/busybox:oci`, {}, { progress: (e) => events.push(e) });
    const get = p.requests.filter((q) => q.path.endsWith(`/blobs/${base.digest}`));
    expect(get.map((q) => [q.range, q.status])).toEqual([[`bytes=${st!.offset}-`, 200]]);
    expect(events.find((e) => e.digest === base.digest && e.status === 'done')).toMatchObject({ resumedFrom: st!.offset });
    expect(sha256(await store.content.view(ns).read(base.digest, 0, base.size))).toBe(base.digest);
  });

  it('maxConcurrentDownloads 1: one blob at a time', async () => {
    const resolver = new Resolver({});
    const ns = nextNs();
    const active = new Set<string>();
    let most = 0;
    try {
      await withPullLease(store.leases, ns, (lease) =>
        pull(`${reg.host}/berth/busybox:oci`, {
          resolver,
          ingester: contentStoreIngester(store.content.view(ns, lease)),
          maxConcurrentDownloads: 1,
          progress: (e) => {
            if (e.status === 'downloading') active.add(e.digest);
            if (e.status === 'done' || e.status === 'exists') active.delete(e.digest);
            most = Math.max(most, active.size);
          },
        }),
      );
    } finally {
      resolver.close();
    }
    expect(most).toBe(1);
  });
});

describe('push', () => {
  async function pushFrom(ns: string, ref: string, target: PullResult['target'], resolverOpts: ResolverOptions = {}, events: PushProgress[] = []): Promise<void> {
    const resolver = new Resolver(resolverOpts);
    try {
      await push(ref, { resolver, provider: contentStoreProvider(store.content.view(ns)), target, progress: (e) => events.push(e) });
    } finally {
      resolver.close();
    }
  }

  it('an image pulled from one repository pushed to another: blobs mounted across repositories, the manifest under the tag; pulled back the same', async () => {
    const ns = nextNs();
    const p = await proxy({});
    const pulled = await pullInto(ns, `${p.host}/berth/busybox:oci`, {});
    const events: PushProgress[] = [];
    await pushFrom(ns, `${p.host}/berth/copy:v1`, pulled.target, {}, events);
    const final = (d: string): string | undefined => events.filter((e) => e.digest === d).at(-1)?.status;
    expect([final(base.digest), final(extra.digest), final(ociConfigDigest)]).toEqual(['mounted', 'mounted', 'mounted']);
    expect(final(ociManifestDigest)).toBe('done');
    expect(p.requests.filter((q) => q.method === 'POST').every((q) => q.path.includes('mount=') && q.path.includes('from=berth%2Fbusybox'))).toBe(true);
    expect(p.requests.filter((q) => q.method === 'PUT').map((q) => q.path)).toEqual(['/v2/berth/copy/manifests/v1']);
    // Again: everything is there.
    const again: PushProgress[] = [];
    await pushFrom(ns, `${p.host}/berth/copy:v1`, pulled.target, {}, again);
    expect(new Set(again.filter((e) => e.status !== 'waiting').map((e) => e.status))).toEqual(new Set(['exists']));
    const back = await pullInto(nextNs(), `${reg.host}/berth/copy:v1`, {});
    expect(back.target.digest).toBe(ociManifestDigest);
  });

  it('an index with every platform pulled, pushed whole through bearer auth (pull,push scope; mounts, and uploads where no source label names a repository) and pulled by containerd', async () => {
    const ns = nextNs();
    // Every platform of the index into one namespace: three pulls.
    await pullInto(ns, `${reg.host}/berth/multi:1`, {});
    const arm = await pullInto(ns, `${reg.host}/berth/multi:1`, {}, { platform: { os: 'linux', architecture: 'arm', variant: 'v7' } });
    // The arm image's blobs forget where they came from: those are uploaded, not mounted.
    const view = store.content.view(ns);
    for (const d of [arm.manifest.config, ...arm.layers]) await view.update({ digest: d.digest, labels: {} }, ['labels']);
    const other = hostPlatform().architecture === 'arm64' ? 'amd64' : 'arm64';
    const last = await pullInto(ns, `${reg.host}/berth/multi:1`, {}, { platform: { os: 'linux', architecture: other } });
    // Through the proxy the registry's name differs (another port, same host name): the
    // source labels name 127.0.0.1, so mounts from berth/multi are tried; the token server
    // gives pull on it only when asked, and berth asks.
    const p = await proxy({ auth: { kind: 'bearer', users: { erin: 'pw' } } });
    const events: PushProgress[] = [];
    await pushFrom(ns, `${p.host}/berth/multi-copy:2`, last.target, { credentials: () => ({ username: 'erin', password: 'pw' }) }, events);
    // One token for the repository (the challenge's own scope merged in, as containerd
    // does), one more for mounts (pull on the source too).
    expect(p.tokenRequests.map((t) => [t.method, t.grantType, t.scopes])).toEqual([
      ['POST', 'password', ['repository:berth/multi-copy:pull', 'repository:berth/multi-copy:pull,push']],
      ['POST', 'password', ['repository:berth/multi-copy:pull', 'repository:berth/multi-copy:pull,push', 'repository:berth/multi:pull']],
    ]);
    expect(p.requests.some((q) => q.mountRefused)).toBe(false);
    const final = (d: string): string | undefined => events.filter((e) => e.digest === d).at(-1)?.status;
    expect([final(arm.manifest.config.digest), final(armLayer.digest)]).toEqual(['done', 'done']);
    expect(final(base.digest)).toBe('mounted');
    const uploads = events.filter((e) => e.digest === armLayer.digest && e.status === 'uploading').map((e) => e.offset);
    expect(uploads.at(-1)).toBe(armLayer.size);
    const blobPuts = p.requests.filter((q) => q.method === 'PUT' && q.path.includes('/blobs/uploads/'));
    expect(blobPuts.map((q) => [decodeURIComponent(/digest=([^&]+)/.exec(q.path)?.[1] ?? ''), q.status]).sort()).toEqual(
      [[arm.manifest.config.digest, 201], [armLayer.digest, 201]].sort(),
    );
    const manifestPuts = p.requests.filter((q) => q.method === 'PUT' && q.path.includes('/manifests/')).map((q) => q.path);
    expect(manifestPuts).toHaveLength(4);
    // The index last, under the tag; its manifests before it, by digest.
    expect(manifestPuts.at(-1)).toBe('/v2/berth/multi-copy/manifests/2');
    expect(manifestPuts.slice(0, 3).every((m) => /\/manifests\/sha256:[a-f0-9]{64}$/.test(m))).toBe(true);

    const cd = await startContainerd();
    try {
      const r = await ctr(cd.address, ['images', 'pull', '--plain-http', `${reg.host}/berth/multi-copy:2`], { namespace: 'pushed', timeoutMs: 30_000 });
      expect(r.code, r.stderr).toBe(0);
      const ls = await ctrOk(cd.address, ['images', 'ls'], { namespace: 'pushed' });
      expect(ls.stdout).toContain(multiIndexDigest);
    } finally {
      await cd.cleanup();
    }
  }, 60_000);

  it('refusals: a manifest missing from the store, and a reference naming another digest', async () => {
    const ns = nextNs();
    const pulled = await pullInto(ns, `${reg.host}/berth/multi:1`, {});
    // Only this host's manifest is in the store: the whole index cannot be pushed…
    await expect(pushFrom(ns, `${reg.host}/berth/partial:1`, pulled.target)).rejects.toBeInstanceOf(NotFoundError);
    // …but this platform's part of it can be (the registry then refuses the index, whose
    // other manifests it does not have, as containerd's push would be refused).
    const resolver = new Resolver({});
    try {
      const err = await push(`${reg.host}/berth/partial:1`, { resolver, provider: contentStoreProvider(store.content.view(ns)), target: pulled.target, platform: hostPlatform() }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(UnknownError);
      expect((err as Error).message).toMatch(/putting manifest .* as 1: unexpected status .*: 400/);
      await expect(push(`${reg.host}/berth/partial@${ociManifestDigest}`, { resolver, provider: contentStoreProvider(store.content.view(ns)), target: pulled.target })).rejects.toThrow(/names another digest/);
    } finally {
      resolver.close();
    }
  });
});

describe('side by side with containerd 1.6', () => {
  let cd: ContainerdHandle;
  beforeAll(async () => {
    cd = await startContainerd();
  }, 60_000);
  afterAll(async () => {
    await cd?.cleanup();
  });

  // First in this group: containerd shares blobs across namespaces, so once any test here
  // has pulled an image it fetches nothing for it again.
  it('the same registry requests as containerd for a pull (endpoints, methods, status)', async () => {
    const c = await proxy({});
    const b = await proxy({});
    await ctrOk(cd.address, ['images', 'pull', '--plain-http', `${c.host}/berth/multi:1`], { namespace: 'reqs', timeoutMs: 30_000 });
    await pullInto('reqs-b', `${b.host}/berth/multi:1`, {});
    const shape = (p: AuthProxy): string[] => p.requests.map((q) => `${q.method} ${q.path} ${q.status}`).sort();
    expect(shape(b)).toEqual(shape(c));
  });

  /** `ctr content ls` rows: digest → labels (containerd's own unpack labels removed). */
  async function containerdLabels(ns: string): Promise<Record<string, Record<string, string>>> {
    const out = await ctrOk(cd.address, ['content', 'ls'], { namespace: ns });
    const rows: Record<string, Record<string, string>> = {};
    for (const line of out.stdout.split('\n').slice(1)) {
      const m = /^(sha256:[a-f0-9]{64})\s.*\s(\S+)$/.exec(line.trim());
      if (!m) continue;
      const labels: Record<string, string> = {};
      if (m[2] !== '' && m[2]!.includes('=')) {
        for (const kv of m[2]!.split(',')) {
          const i = kv.indexOf('=');
          const k = kv.slice(0, i);
          if (k === 'containerd.io/uncompressed' || k.startsWith('containerd.io/gc.ref.snapshot.')) continue;
          labels[k] = kv.slice(i + 1);
        }
      }
      rows[m[1]!] = labels;
    }
    return rows;
  }

  it.each([['berth/multi:1'], ['berth/busybox:docker'], ['berth/busybox:oci'], ['berth/dlist:1']])('%s: the same blobs with the same labels as ctr images pull', async (image) => {
    const ns = `cmp-${image.replace(/[^a-z0-9]/g, '-')}`;
    const r = await ctr(cd.address, ['images', 'pull', '--plain-http', `${reg.host}/${image}`], { namespace: ns, timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(0);
    const theirs = await containerdLabels(ns);
    await pullInto(ns, `${reg.host}/${image}`, {});
    const ours = await labelsIn(ns);
    expect(Object.keys(theirs).length).toBeGreaterThanOrEqual(3);
    expect(ours).toEqual(theirs);
  });

  /** What a token server saw, without the per-run parts. */
  const tokenShape = (p: AuthProxy): unknown[] => p.tokenRequests.map((t) => ({ ...t }));

  it('bearer token flows: the same token requests from berth and from containerd (anonymous GET, password POST)', async () => {
    const anonC = await proxy({ auth: { kind: 'bearer', anonymous: true } });
    const anonB = await proxy({ auth: { kind: 'bearer', anonymous: true } });
    await ctrOk(cd.address, ['images', 'pull', '--plain-http', `${anonC.host}/berth/busybox:oci`], { namespace: 'tok-anon', timeoutMs: 30_000 });
    await pullInto('tok-anon', `${anonB.host}/berth/busybox:oci`, {});
    expect(tokenShape(anonB)).toEqual(tokenShape(anonC));
    expect(anonC.tokenRequests).toHaveLength(1);

    const pwC = await proxy({ auth: { kind: 'bearer', users: { alice: 's3cret' } } });
    const pwB = await proxy({ auth: { kind: 'bearer', users: { alice: 's3cret' } } });
    await ctrOk(cd.address, ['images', 'pull', '--plain-http', '--user', 'alice:s3cret', `${pwC.host}/berth/busybox:oci`], { namespace: 'tok-pw', timeoutMs: 30_000 });
    await pullInto('tok-pw', `${pwB.host}/berth/busybox:oci`, { credentials: () => ({ username: 'alice', password: 's3cret' }) });
    expect(tokenShape(pwB)).toEqual(tokenShape(pwC));
    expect(pwC.tokenRequests[0]).toMatchObject({ method: 'POST', grantType: 'password', clientId: 'containerd-client' });

    // Where POST is refused, containerd falls back to GET with basic auth; so does berth.
    const getC = await proxy({ auth: { kind: 'bearer', users: { bob: 'pw' }, post: false } });
    const getB = await proxy({ auth: { kind: 'bearer', users: { bob: 'pw' }, post: false } });
    await ctrOk(cd.address, ['images', 'pull', '--plain-http', '--user', 'bob:pw', `${getC.host}/berth/busybox:oci`], { namespace: 'tok-get', timeoutMs: 30_000 });
    await pullInto('tok-get', `${getB.host}/berth/busybox:oci`, { credentials: () => ({ username: 'bob', password: 'pw' }) });
    expect(tokenShape(getB)).toEqual(tokenShape(getC));
  });

  it('the same hosts.toml TLS settings work (and fail) the same for containerd', async () => {
    const { front } = await tlsFront();
    const ref = `${front.host}/berth/busybox:docker`;
    for (const [kind, ok] of [['with-ca', true], ['no-ca', false], ['skip', true]] as const) {
      const dir = await tlsHostsDir(kind);
      const theirs = await ctr(cd.address, ['images', 'pull', '--hosts-dir', dir, ref], { namespace: `tls-${kind}`, timeoutMs: 30_000 });
      const ours = await pullInto(`tls-${kind}`, ref, { hosts: { configPath: dir } }).then(() => true, () => false);
      expect([kind, theirs.code === 0, ours], theirs.stderr).toEqual([kind, ok, ok]);
    }
  });

  it('basic auth: the same Authorization header from berth and containerd', async () => {
    const c = await proxy({ auth: { kind: 'basic', users: { dave: 'x' } } });
    const b = await proxy({ auth: { kind: 'basic', users: { dave: 'x' } } });
    await ctrOk(cd.address, ['images', 'pull', '--plain-http', '--user', 'dave:x', `${c.host}/berth/busybox:docker`], { namespace: 'basic', timeoutMs: 30_000 });
    await pullInto('basic', `${b.host}/berth/busybox:docker`, { credentials: () => ({ username: 'dave', password: 'x' }) });
    const authHeaders = (p: AuthProxy): string[] => [...new Set(p.requests.map((q) => q.authorization ?? '(none)'))].sort();
    expect(authHeaders(b)).toEqual(authHeaders(c));
  });
});
