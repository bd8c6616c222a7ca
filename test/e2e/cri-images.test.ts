// CRI ImageService side by side: berthd and a real containerd 1.6.20 with its CRI plugin
// enabled, both pulling the same images from one loopback registry through a hosts.toml that
// routes registry.k8s.io to it (as the critest runs do). Compared: the CRI answers
// (PullImage, ImageStatus by every kind of reference, ListImages, RemoveImage, ImageFsInfo,
// Version, Status) and what the pull leaves in the core (ctr -n k8s.io images, content and
// snapshots, with their labels). Pull failures (a missing tag, a missing digest, a corrupt
// blob, a layer whose diff ID does not match its config) must leave no record, snapshot or
// blob on either daemon.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildLayer, buildOciImage, busyboxLayer, type Layer } from '../fixtures/images';
import {
  ctrOk,
  makeTempRoot,
  pushArchive,
  startBerthd,
  startContainerd,
  startRegistry,
  type BerthdHandle,
  type ContainerdHandle,
  type RegistryHandle,
  type TempRoot,
} from '../harness';
import { CriClient, type CriCallError } from './cri-grpc';
import { containerdCri } from './cri-reference';
import { collectGarbage, normalize } from './pair';

const NS = 'k8s.io';
const UPSTREAM = 'registry.k8s.io';
const IMG = `${UPSTREAM}/berth-cri/img:1`;
const USER_IMG = `${UPSTREAM}/berth-cri/named-user:2`;
const WRONG_DIFF = `${UPSTREAM}/berth-cri/wrong-diffid:1`;
const CORRUPT = `${UPSTREAM}/berth-cri/corrupt:1`;
const CONCURRENT = `${UPSTREAM}/berth-cri/concurrent:1`;
/** Routed to a Basic-auth proxy in front of the same registry. */
const AUTH_UPSTREAM = 'auth.berth.test';
const AUTH_IMG = `${AUTH_UPSTREAM}/berth-cri/named-user:2`;
const AUTH_USER = 'kubelet';
const AUTH_PASSWORD = 's3cret:with colon';

interface Side {
  name: 'berthd' | 'containerd';
  address: string;
  cri: CriClient;
}

let tmp: TempRoot;
let registry: RegistryHandle;
let berthd: BerthdHandle;
let containerd: ContainerdHandle;
let sides: Side[];
let authProxy: http.Server;
let configDigest = '';
let manifestDigest = '';

const toml = (s: string): string => JSON.stringify(s);
const confDir = (side: string): string => path.join(tmp.path, `cni-conf-${side}`);

/** The shape of containerd's documented CNI config template (bridge + host-local). */
const CNI_TEMPLATE = `{
  "cniVersion": "0.4.0",
  "name": "berth-cri-test",
  "plugins": [
    {
      "type": "bridge",
      "bridge": "cni0",
      "isGateway": true,
      "ipMasq": true,
      "ipam": {
        "type": "host-local",
        "ranges": [{{- range $i, $range := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$range}}"}]{{end}}],
        "routes": [{{- range $i, $route := .Routes}}{{if $i}}, {{end}}{"dst": "{{$route}}"}{{end}}]
      }
    },
    {"type": "portmap", "capabilities": {"portMappings": true}}
  ]
}
`;

async function pushImage(name: string, layers: Layer[], config: Parameters<typeof buildOciImage>[0]['config'], layerDiffIds?: string[]): Promise<{ configDigest: string; manifestDigest: string; layers: Layer[] }> {
  const used = layerDiffIds ? layers.map((l, i) => ({ ...l, diffID: layerDiffIds[i] ?? l.diffID })) : layers;
  const img = await buildOciImage({ name, layers: used, config });
  const file = path.join(tmp.path, `${name.replace(/[/:]/g, '_')}.tar`);
  fs.writeFileSync(file, img.archive);
  await pushArchive(registry, file, name.slice(UPSTREAM.length + 1));
  return { configDigest: img.configDigest, manifestDigest: img.manifestDigest, layers };
}

/** ctr -n k8s.io content ls as {digest → sorted labels}: the AGE column differs by nature. */
async function contentOf(address: string): Promise<Record<string, string>> {
  const out = (await ctrOk(address, ['content', 'ls'], { namespace: NS })).stdout.trim().split('\n').slice(1);
  const res: Record<string, string> = {};
  for (const line of out) {
    const fields = line.trim().split(/\s+/);
    // "k=v,k=v" where a value may hold commas itself (distribution.source lists repositories).
    res[fields[0] as string] = (fields[fields.length - 1] as string).split(/,(?=[^,=]+=)/).sort().join(' ');
  }
  return res;
}

const DIST_SOURCE = 'containerd.io/distribution.source.';

/**
 * berthd's content labels against containerd's. One known difference: containerd 1.6's pull
 * with unpack never fetches a layer whose snapshot exists already (another image unpacked
 * it), so that blob's distribution.source label does not gain the new repository; berth's
 * registry client fetches (skips) it and appends the repository. So for distribution.source
 * labels berth's list must hold containerd's; every other label must be equal.
 */
function expectSameContent(berth: Record<string, string>, ctrd: Record<string, string>): void {
  expect(Object.keys(berth).sort()).toEqual(Object.keys(ctrd).sort());
  const split = (v: string) => Object.fromEntries(v.split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]));
  for (const digest of Object.keys(ctrd)) {
    const b = split(berth[digest] as string);
    const c = split(ctrd[digest] as string);
    for (const k of new Set([...Object.keys(b), ...Object.keys(c)].filter((k) => k.startsWith(DIST_SOURCE)))) {
      expect(b[k]?.split(',') ?? [], `${digest} ${k}`).toEqual(expect.arrayContaining(c[k]?.split(',') ?? []));
      delete b[k];
      delete c[k];
    }
    expect(b, digest).toEqual(c);
  }
}

async function snapshotsOf(address: string): Promise<string> {
  return normalize((await ctrOk(address, ['snapshots', 'ls'], { namespace: NS })).stdout)
    .trim()
    .split('\n')
    .sort()
    .join('\n');
}

async function imagesOf(address: string): Promise<string> {
  return normalize((await ctrOk(address, ['images', 'ls'], { namespace: NS })).stdout)
    .trim()
    .split('\n')
    .sort()
    .join('\n');
}

async function snapshotLabels(address: string, key: string): Promise<{ Kind: string; Parent?: string; Labels?: Record<string, string> }> {
  const info = JSON.parse((await ctrOk(address, ['snapshots', 'info', key], { namespace: NS })).stdout) as {
    Kind: string;
    Parent?: string;
    Labels?: Record<string, string>;
  };
  return { Kind: info.Kind, Parent: info.Parent, Labels: info.Labels };
}

async function both<T>(fn: (s: Side) => Promise<T>): Promise<{ berthd: T; containerd: T }> {
  const [b, c] = await Promise.all(sides.map(fn));
  return { berthd: b as T, containerd: c as T };
}

function sortImages(list: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  return [...list].sort((a, b) => String(a.id).localeCompare(String(b.id)));
}

beforeAll(async () => {
  tmp = makeTempRoot('berth-cri-images-');
  registry = await startRegistry();
  const hostsDir = path.join(tmp.path, 'certs.d');
  fs.mkdirSync(path.join(hostsDir, UPSTREAM), { recursive: true });
  // The upstream is never tried: the only host entry is the loopback registry.
  fs.writeFileSync(
    path.join(hostsDir, UPSTREAM, 'hosts.toml'),
    `server = ${toml(registry.url)}\n[host.${toml(registry.url)}]\n  capabilities = ["pull", "resolve"]\n`,
  );
  // A registry that wants Basic auth: a proxy that checks the header and passes the rest on.
  const expected = `Basic ${Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64')}`;
  authProxy = http.createServer((req, res) => {
    if (req.headers.authorization !== expected) {
      res.writeHead(401, { 'WWW-Authenticate': 'Basic realm="berth-test"', 'Docker-Distribution-API-Version': 'registry/2.0', 'Content-Type': 'application/json' });
      res.end('{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}');
      return;
    }
    const headers = { ...req.headers };
    delete headers.authorization;
    const up = http.request({ host: '127.0.0.1', port: registry.port, method: req.method, path: req.url, headers }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, upRes.headers);
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((resolve) => authProxy.listen(0, '127.0.0.1', resolve));
  const proxyUrl = `http://127.0.0.1:${(authProxy.address() as { port: number }).port}`;
  fs.mkdirSync(path.join(hostsDir, AUTH_UPSTREAM), { recursive: true });
  fs.writeFileSync(path.join(hostsDir, AUTH_UPSTREAM, 'hosts.toml'), `server = ${toml(proxyUrl)}\n[host.${toml(proxyUrl)}]\n  capabilities = ["pull", "resolve"]\n`);

  const cniBin = path.join(tmp.path, 'cni-bin');
  fs.mkdirSync(cniBin);
  // Each daemon its own conf_dir: UpdateRuntimeConfig writes into it.
  for (const side of ['berthd', 'containerd']) fs.mkdirSync(path.join(tmp.path, `cni-conf-${side}`));
  const confTemplate = path.join(tmp.path, 'cni.tmpl');
  fs.writeFileSync(confTemplate, CNI_TEMPLATE);
  const berthConfig = path.join(tmp.path, 'berthd.toml');
  fs.writeFileSync(
    berthConfig,
    `[cri]\nrestrict_oom_score_adj = true\n[cri.cni]\nbin_dir = ${toml(cniBin)}\nconf_dir = ${toml(confDir('berthd'))}\nconf_template = ${toml(confTemplate)}\n[cri.registry]\nconfig_path = ${toml(hostsDir)}\n`,
  );

  const base = await busyboxLayer();
  const second = await buildLayer([{ path: '/etc/berth-cri', type: 'file', content: 'cri\n', mode: 0o644 }]);
  const pushed = await pushImage(IMG, [base, second], { Cmd: ['/bin/sh'], User: '1234:5678', Env: ['PATH=/bin'] });
  configDigest = pushed.configDigest;
  manifestDigest = pushed.manifestDigest;
  await pushImage(USER_IMG, [base], { Cmd: ['/bin/sh'], User: 'nobody' });
  // Config says the second layer's diff ID is something else: the unpack of layer 2 fails
  // after layer 1 (shared with no other image) was committed as a snapshot, under the pull's lease.
  const own = await buildLayer([{ path: '/etc/own', type: 'file', content: 'only here\n', mode: 0o644 }]);
  const third = await buildLayer([{ path: '/etc/wrong', type: 'file', content: 'x\n', mode: 0o644 }]);
  await pushImage(WRONG_DIFF, [own, third], { Cmd: ['/bin/sh'] }, [own.diffID, `sha256:${'0'.repeat(64)}`]);
  // A layer the registry then serves with other bytes: the pull's digest check fails.
  const fourth = await buildLayer([{ path: '/etc/corrupt', type: 'file', content: 'will be corrupted\n', mode: 0o644 }]);
  await pushImage(CORRUPT, [base, fourth], { Cmd: ['/bin/sh'] });
  await pushImage(CONCURRENT, [await buildLayer([{ path: '/c1', type: 'file', content: 'one\n', mode: 0o644 }]), await buildLayer([{ path: '/c2', type: 'file', content: 'two\n', mode: 0o644 }])], { Cmd: ['/bin/sh'] });
  const hex = fourth.digest.slice('sha256:'.length);
  const blob = execFileSync('find', [registry.dir, '-path', `*/blobs/sha256/${hex.slice(0, 2)}/${hex}/data`], { encoding: 'utf8' }).trim();
  expect(blob).not.toBe('');
  const bytes = fs.readFileSync(blob);
  bytes[bytes.length - 10] = (bytes[bytes.length - 10] as number) ^ 0xff;
  fs.writeFileSync(blob, bytes);

  const cri = containerdCri({ hostsDir, cniBinDir: cniBin, cniConfDir: confDir('containerd'), confTemplate });
  [berthd, containerd] = await Promise.all([startBerthd({ config: berthConfig }), startContainerd(cri)]);
  sides = [
    { name: 'berthd', address: berthd.address, cri: new CriClient(berthd.address) },
    { name: 'containerd', address: containerd.address, cri: new CriClient(containerd.address) },
  ];
}, 180_000);

afterAll(async () => {
  for (const s of sides ?? []) s.cri.close();
  await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
  await new Promise((resolve) => (authProxy ? authProxy.close(resolve) : resolve(undefined)));
  await registry?.cleanup();
  await tmp?.cleanup();
});

describe('CRI runtime info', () => {
  it('Version: same shape, berth names itself', async () => {
    const v = await both((s) => s.cri.runtimeCall('Version', { version: 'v1' }));
    expect(v.containerd).toMatchObject({ version: '0.1.0', runtime_name: 'containerd', runtime_api_version: 'v1' });
    expect(v.berthd).toMatchObject({ version: '0.1.0', runtime_name: 'berth', runtime_api_version: 'v1' });
    expect(String(v.berthd.runtime_version)).not.toBe('');
  });

  it('Status: runtime ready, network not ready with an empty conf_dir, same reason and message', async () => {
    const st = await both((s) => s.cri.runtimeCall<{ status: { conditions: unknown[] } }>('Status', {}));
    expect(st.berthd.status.conditions).toEqual(st.containerd.status.conditions);
    expect(st.berthd.status.conditions).toEqual([
      { type: 'RuntimeReady', status: true, reason: '', message: '' },
      { type: 'NetworkReady', status: false, reason: 'NetworkPluginNotReady', message: 'Network plugin returns error: cni plugin not initialized' },
    ]);
  });
});

describe('CRI runtime config', () => {
  it('UpdateRuntimeConfig renders conf_template with the pod CIDRs as containerd does; the network then becomes ready', async () => {
    const bad = await both((s) => s.cri.failure(s.cri.runtimeCall('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '10.0.0.0/33' } } })));
    expect(bad.berthd).toEqual(bad.containerd);
    const none = await both((s) => s.cri.runtimeCall('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: '' } } }));
    expect(none.berthd).toEqual(none.containerd);
    expect(fs.readdirSync(confDir('berthd'))).toEqual([]);

    const cidr = '10.233.0.0/24, fd00:233::/64';
    const res = await both((s) => s.cri.runtimeCall('UpdateRuntimeConfig', { runtime_config: { network_config: { pod_cidr: cidr } } }));
    expect(res.berthd).toEqual(res.containerd);
    const files = { berthd: fs.readdirSync(confDir('berthd')), containerd: fs.readdirSync(confDir('containerd')) };
    expect(files.berthd).toEqual(files.containerd);
    expect(files.berthd).toEqual(['10-containerd-net.conflist']);
    const written = (side: string) => fs.readFileSync(path.join(confDir(side), '10-containerd-net.conflist'), 'utf8');
    expect(written('berthd')).toBe(written('containerd'));

    // containerd reloads its CNI config from conf_dir on change: wait for it, then compare.
    type St = { status: { conditions: Array<{ type: string; status: boolean }> } };
    const deadline = Date.now() + 10_000;
    let st = await both((s) => s.cri.runtimeCall<St>('Status', {}));
    while (Date.now() < deadline && !st.containerd.status.conditions.every((c) => c.status)) {
      await new Promise((r) => setTimeout(r, 250));
      st = await both((s) => s.cri.runtimeCall<St>('Status', {}));
    }
    expect(st.berthd.status.conditions).toEqual(st.containerd.status.conditions);
    expect(st.berthd.status.conditions.map((c) => c.status)).toEqual([true, true]);

    // Status verbose: the loaded CNI config as go-cni's GetConfig() and the last load's outcome.
    const verbose = await both((s) => s.cri.runtimeCall<{ info: Record<string, string> }>('Status', { verbose: true }));
    for (const key of ['lastCNILoadStatus', 'lastCNILoadStatus.default']) expect(verbose.berthd.info[key], key).toBe(verbose.containerd.info[key]);
    // "Source" holds each config's text: compared as JSON (go-cni writes its built-in
    // loopback config indented, berth's src/cni compact).
    const sources = (v: unknown): unknown =>
      Array.isArray(v)
        ? v.map(sources)
        : v && typeof v === 'object'
          ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, k === 'Source' && typeof x === 'string' ? JSON.parse(x) : sources(x)]))
          : v;
    const cniconfig = (side: 'berthd' | 'containerd') => sources(JSON.parse((verbose[side].info.cniconfig as string).replaceAll(confDir(side), '<conf_dir>')));
    expect(cniconfig('berthd')).toEqual(cniconfig('containerd'));
  });
});

describe('CRI images', () => {
  it('PullImage answers the image ID on both; the core holds the same records, blobs, labels and snapshots', async () => {
    const pulled = await both((s) => s.cri.imageCall('PullImage', { image: { image: IMG } }));
    expect(pulled.berthd).toEqual({ image_ref: configDigest });
    expect(pulled.containerd).toEqual({ image_ref: configDigest });

    const imgs = await both((s) => imagesOf(s.address));
    expect(imgs.berthd).toBe(imgs.containerd);
    expect(imgs.berthd).toContain(`${IMG} `);
    expect(imgs.berthd).toContain(`${UPSTREAM}/berth-cri/img@${manifestDigest} `);
    expect(imgs.berthd).toContain(`${configDigest} `);
    expect(imgs.berthd.match(/io\.cri-containerd\.image=managed/g)).toHaveLength(3);

    const content = await both((s) => contentOf(s.address));
    expect(content.berthd).toEqual(content.containerd);
    expect(content.berthd[configDigest]).toContain('containerd.io/gc.ref.snapshot.overlayfs=sha256:');

    const snaps = await both((s) => snapshotsOf(s.address));
    expect(snaps.berthd).toBe(snaps.containerd);
    expect(snaps.berthd.split('\n').filter((l) => l.includes('Committed'))).toHaveLength(2);

    // Each unpacked snapshot: kind, parent and labels (containerd.io/snapshot.ref = its chain ID).
    const keys = snaps.berthd.split('\n').filter((l) => l.startsWith('sha256:')).map((l) => l.split(' ')[0] as string);
    for (const key of keys) {
      const info = await both((s) => snapshotLabels(s.address, key));
      expect(info.berthd).toEqual(info.containerd);
      expect(info.berthd.Labels?.['containerd.io/snapshot.ref']).toBe(key);
    }
  });

  it('ImageStatus by tag, familiar name, digest reference, full and short ID: the same image on both', async () => {
    const id = configDigest;
    const queries = [IMG, 'registry.k8s.io/berth-cri/img:1', `${UPSTREAM}/berth-cri/img@${manifestDigest}`, id, id.slice('sha256:'.length, 'sha256:'.length + 12), id.slice(0, 20)];
    for (const q of queries) {
      const st = await both((s) => s.cri.imageCall<{ image: Record<string, unknown> | null }>('ImageStatus', { image: { image: q } }));
      expect(st.berthd.image, q).toEqual(st.containerd.image);
      expect(st.berthd.image, q).toMatchObject({
        id,
        repo_tags: [IMG],
        repo_digests: [`${UPSTREAM}/berth-cri/img@${manifestDigest}`],
        uid: { value: 1234 },
        username: '',
      });
    }
    const verbose = await both((s) => s.cri.imageCall<{ info: Record<string, string> }>('ImageStatus', { image: { image: IMG }, verbose: true }));
    const b = JSON.parse(verbose.berthd.info.info as string) as { chainID: string; imageSpec: { config: { User: string } } };
    const c = JSON.parse(verbose.containerd.info.info as string) as { chainID: string; imageSpec: { config: { User: string } } };
    expect(b.chainID).toBe(c.chainID);
    expect(b.imageSpec.config.User).toBe(c.imageSpec.config.User);
  });

  it('ImageStatus of an unknown image is empty, not an error', async () => {
    for (const q of [`${UPSTREAM}/berth-cri/none:1`, 'sha256:' + 'f'.repeat(64), 'ffffffffffff']) {
      const st = await both((s) => s.cri.imageCall('ImageStatus', { image: { image: q } }));
      expect(st.berthd, q).toEqual(st.containerd);
      expect(st.berthd.image, q).toBeNull();
    }
  });

  it('a user name in the image config is the username, with no uid', async () => {
    await both((s) => s.cri.imageCall('PullImage', { image: { image: USER_IMG } }));
    const st = await both((s) => s.cri.imageCall<{ image: Record<string, unknown> }>('ImageStatus', { image: { image: USER_IMG } }));
    expect(st.berthd.image).toEqual(st.containerd.image);
    expect(st.berthd.image).toMatchObject({ uid: null, username: 'nobody' });
  });

  it('ListImages: the same images, tags, digests and sizes', async () => {
    const list = await both((s) => s.cri.imageCall<{ images: Array<Record<string, unknown>> }>('ListImages', {}));
    expect(sortImages(list.berthd.images)).toEqual(sortImages(list.containerd.images));
    expect(list.berthd.images).toHaveLength(2);
  });

  it('ImageFsInfo: the snapshotter root and the bytes and inodes of the CRI snapshots', async () => {
    // containerd sums usage it refreshes every 10 s: wait until it has seen the pulls.
    const deadline = Date.now() + 25_000;
    type Fs = { image_filesystems: Array<{ timestamp: number; fs_id: { mountpoint: string }; used_bytes: { value: number }; inodes_used: { value: number } }> };
    let fsInfo = await both((s) => s.cri.imageCall<Fs>('ImageFsInfo', {}));
    while (Date.now() < deadline && fsInfo.containerd.image_filesystems[0]?.inodes_used.value !== fsInfo.berthd.image_filesystems[0]?.inodes_used.value) {
      await new Promise((r) => setTimeout(r, 1000));
      fsInfo = await both((s) => s.cri.imageCall<Fs>('ImageFsInfo', {}));
    }
    const [b, c] = [fsInfo.berthd.image_filesystems, fsInfo.containerd.image_filesystems];
    expect(b).toHaveLength(1);
    expect(c).toHaveLength(1);
    expect(b[0]?.fs_id.mountpoint).toBe(path.join(berthd.root, 'snapshots', 'overlayfs'));
    expect(c[0]?.fs_id.mountpoint).toBe(path.join(containerd.root, 'io.containerd.snapshotter.v1.overlayfs'));
    expect(b[0]?.inodes_used.value).toBe(c[0]?.inodes_used.value);
    expect(b[0]?.used_bytes.value).toBe(c[0]?.used_bytes.value);
    expect(b[0]?.used_bytes.value).toBeGreaterThan(0);
    expect(Math.abs((b[0]?.timestamp ?? 0) / 1e6 - Date.now())).toBeLessThan(60_000);
  });

  it('RemoveImage by short ID removes every name of it, and its snapshots and blobs with the last', async () => {
    const short = configDigest.slice('sha256:'.length, 'sha256:'.length + 12);
    const rm = await both((s) => s.cri.imageCall('RemoveImage', { image: { image: short } }));
    expect(rm.berthd).toEqual({});
    expect(rm.containerd).toEqual({});
    const imgs = await both((s) => imagesOf(s.address));
    expect(imgs.berthd).toBe(imgs.containerd);
    expect(imgs.berthd).not.toContain('berth-cri/img');
    const list = await both((s) => s.cri.imageCall<{ images: Array<Record<string, unknown>> }>('ListImages', {}));
    expect(sortImages(list.berthd.images)).toEqual(sortImages(list.containerd.images));
    expect(list.berthd.images).toHaveLength(1);
    // What only the removed image held is gone; the base layer stays for USER_IMG.
    const snaps = await both((s) => snapshotsOf(s.address));
    expect(snaps.berthd).toBe(snaps.containerd);
    const content = await both((s) => contentOf(s.address));
    expectSameContent(content.berthd, content.containerd);
    expect(content.berthd[configDigest]).toBeUndefined();
    // Removing what is not there is no error.
    const again = await both((s) => s.cri.imageCall('RemoveImage', { image: { image: IMG } }));
    expect(again.berthd).toEqual(again.containerd);
  });

  it('an image imported with ctr into k8s.io is adopted as containerd adopts it (ID record, managed label)', async () => {
    const name = 'docker.io/library/berth-cri-import:1';
    const img = await buildOciImage({ name, layers: [await busyboxLayer()], config: { Cmd: ['/bin/sh'], User: '7' } });
    const file = path.join(tmp.path, 'import.tar');
    fs.writeFileSync(file, img.archive);
    await Promise.all(sides.map((s) => ctrOk(s.address, ['images', 'import', file], { namespace: NS })));
    // Adoption follows the image events: poll until both list it by its ID.
    const deadline = Date.now() + 10_000;
    let imgs = await both((s) => imagesOf(s.address));
    while (Date.now() < deadline && !(imgs.berthd.includes(img.configDigest) && imgs.containerd.includes(img.configDigest))) {
      await new Promise((r) => setTimeout(r, 200));
      imgs = await both((s) => imagesOf(s.address));
    }
    expect(imgs.berthd).toBe(imgs.containerd);
    expect(imgs.berthd).toMatch(new RegExp(`${img.configDigest} .* io\\.cri-containerd\\.image=managed`));
    const st = await both((s) => s.cri.imageCall<{ image: Record<string, unknown> }>('ImageStatus', { image: { image: 'berth-cri-import:1' } }));
    expect(st.berthd.image).toEqual(st.containerd.image);
    expect(st.berthd.image).toMatchObject({ id: img.configDigest, repo_tags: [name], uid: { value: 7 } });

    // Removing the tag with ctr: the CRI follows (the image stays, by its ID record).
    await Promise.all(sides.map((s) => ctrOk(s.address, ['images', 'rm', name], { namespace: NS })));
    const gone = Date.now() + 10_000;
    let byTag = await both((s) => s.cri.imageCall<{ image: unknown }>('ImageStatus', { image: { image: name } }));
    while (Date.now() < gone && (byTag.berthd.image !== null || byTag.containerd.image !== null)) {
      await new Promise((r) => setTimeout(r, 200));
      byTag = await both((s) => s.cri.imageCall<{ image: unknown }>('ImageStatus', { image: { image: name } }));
    }
    expect(byTag.berthd.image).toBeNull();
    expect(byTag.containerd.image).toBeNull();
    const byId = await both((s) => s.cri.imageCall<{ image: Record<string, unknown> }>('ImageStatus', { image: { image: img.configDigest } }));
    expect(byId.berthd.image).toEqual(byId.containerd.image);
    expect(byId.berthd.image).toMatchObject({ id: img.configDigest, repo_tags: [] });
  });

  it('after a berthd restart the CRI lists the same images (its index is rebuilt from the core)', async () => {
    const before = await sides[0]!.cri.imageCall<{ images: Array<Record<string, unknown>> }>('ListImages', {});
    expect(before.images.length).toBeGreaterThan(0);
    await berthd.restart();
    const after = await sides[0]!.cri.imageCall<{ images: Array<Record<string, unknown>> }>('ListImages', {});
    expect(sortImages(after.images)).toEqual(sortImages(before.images));
  });

  it('PullImage takes credentials from the request: none or a wrong password fail alike, the right ones pull', async () => {
    const none = await both((s) => s.cri.failure(s.cri.imageCall('PullImage', { image: { image: AUTH_IMG } })));
    expect(none.berthd.code).toBe(none.containerd.code);
    const wrong = await both((s) => s.cri.failure(s.cri.imageCall('PullImage', { image: { image: AUTH_IMG }, auth: { username: AUTH_USER, password: 'nope' } })));
    expect(wrong.berthd.code).toBe(wrong.containerd.code);
    // Credentials for another server are not sent.
    const other = await both((s) =>
      s.cri.failure(s.cri.imageCall('PullImage', { image: { image: AUTH_IMG }, auth: { username: AUTH_USER, password: AUTH_PASSWORD, server_address: 'https://elsewhere.test' } })),
    );
    expect(other.berthd.code).toBe(other.containerd.code);
    const ok = await both((s) => s.cri.imageCall('PullImage', { image: { image: AUTH_IMG }, auth: { username: AUTH_USER, password: AUTH_PASSWORD } }));
    expect(ok.berthd).toEqual(ok.containerd);
    // The "auth" form: base64 of "user:password".
    const b64 = await both((s) =>
      s.cri.imageCall('PullImage', { image: { image: AUTH_IMG }, auth: { auth: Buffer.from(`${AUTH_USER}:${AUTH_PASSWORD}`).toString('base64') } }),
    );
    expect(b64.berthd).toEqual(b64.containerd);
    const st = await both((s) => s.cri.imageCall<{ image: Record<string, unknown> }>('ImageStatus', { image: { image: AUTH_IMG } }));
    expect(st.berthd.image).toEqual(st.containerd.image);
    await both((s) => s.cri.imageCall('RemoveImage', { image: { image: AUTH_IMG } }));
  });

  it('four PullImage of one new image at once all succeed, same core state as containerd', async () => {
    const res = await both((s) => Promise.all([0, 1, 2, 3].map(() => s.cri.imageCall<{ image_ref: string }>('PullImage', { image: { image: CONCURRENT } }))));
    expect(new Set([...res.berthd, ...res.containerd].map((r) => r.image_ref)).size).toBe(1);
    const imgs = await both((s) => imagesOf(s.address));
    expect(imgs.berthd).toBe(imgs.containerd);
    const snaps = await both((s) => snapshotsOf(s.address));
    expect(snaps.berthd).toBe(snaps.containerd);
    const content = await both((s) => contentOf(s.address));
    expectSameContent(content.berthd, content.containerd);
    await both((s) => s.cri.imageCall('RemoveImage', { image: { image: CONCURRENT } }));
  });

  describe('a failed pull leaves nothing behind', () => {
    const cases: Array<[string, string]> = [
      ['a tag the registry does not have', `${UPSTREAM}/berth-cri/img:missing`],
      ['a digest the registry does not have', `${UPSTREAM}/berth-cri/img@sha256:${'a'.repeat(64)}`],
      ['a layer blob whose bytes do not match its digest', CORRUPT],
      ['a layer whose diff ID does not match the config', WRONG_DIFF],
    ];
    it.each(cases)('%s', async (_what, ref) => {
      const before = await both(async (s) => ({ images: await imagesOf(s.address), snaps: await snapshotsOf(s.address), content: await contentOf(s.address) }));
      const errs = await both((s) => s.cri.failure(s.cri.imageCall('PullImage', { image: { image: ref } })));
      for (const e of [errs.berthd, errs.containerd] as CriCallError[]) expect(e.details).toContain(`failed to pull and unpack image "${ref}"`);
      expect(errs.berthd.code).toBe(errs.containerd.code);
      await Promise.all(sides.map((s) => collectGarbage(s.address, NS)));
      const after = await both(async (s) => ({ images: await imagesOf(s.address), snaps: await snapshotsOf(s.address), content: await contentOf(s.address) }));
      for (const side of ['berthd', 'containerd'] as const) {
        expect(after[side].images, side).toBe(before[side].images);
        expect(after[side].snaps, side).toBe(before[side].snaps);
        expect(Object.keys(after[side].content).sort(), side).toEqual(Object.keys(before[side].content).sort());
      }
      expectSameContent(after.berthd.content, after.containerd.content);
      const st = await both((s) => s.cri.imageCall('ImageStatus', { image: { image: ref } }));
      expect(st.berthd.image).toBeNull();
    });
  });
});
