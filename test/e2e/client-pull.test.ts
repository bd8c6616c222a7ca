import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, NotFoundError } from '../../src/client';
import { withImageConfig } from '../../src/oci';
import type { BlobProgress } from '../../src/remotes/pull';
import { buildLayer, buildOciImage, busyboxLayer } from '../fixtures/images';
import { CTR_BIN, RUNC, ctrOk, pushArchive, spawnProcess, startBerthd, startRegistry, type RegistryHandle } from '../harness';
import { SideBySide, uid, type Side } from './sides';
import { startAuthProxy, type AuthProxy } from './registry-auth-proxy';

// Client.pull (src/remotes over the Content service, under a lease) and Client.unpack
// (src/unpack over the Diff and Snapshots services) against berthd and containerd 1.6.20 in
// the same run, from a registry on loopback: the same blobs, labels, snapshots and image,
// checked with ctr, and a container runs from the result.

const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/usr/bin/docker-registry') && fs.existsSync('/usr/bin/skopeo');

let pair: SideBySide;
let reg: RegistryHandle;
let ref: string;
const clients = new Map<Side, Client>();

beforeAll(async () => {
  if (!canRun) return;
  pair = await SideBySide.start({ prefix: 'clientpull', image: 'docker.io/library/berth-unused:1' });
  reg = await startRegistry();
  const extra = await buildLayer([
    { path: 'etc', type: 'dir' },
    { path: 'etc/greeting', type: 'file', content: 'pulled through berth\n' },
  ]);
  const img = await buildOciImage({ name: 'berth.test/pull:1', layers: [await busyboxLayer(), extra], config: { Cmd: ['cat', '/etc/greeting'], Env: ['PATH=/bin'] } });
  const file = path.join(pair.tmp.path, 'pull.tar');
  fs.writeFileSync(file, img.archive);
  await pushArchive(reg, file, 'berth/pull:1');
  ref = `${reg.host}/berth/pull:1`;
  for (const s of [pair.B, pair.C]) clients.set(s, Client.connect(s.address, { namespace: s.ns }));
}, 180_000);

/** An https front to the registry, self-signed for 127.0.0.1, and a hosts dir naming it
 * without a CA: only NODE_EXTRA_CA_CERTS can make it trusted. Made once. */
let extraCaState: Promise<{ certs: string; front: AuthProxy; hostsDir: string }> | undefined;
function extraCaFront(): Promise<{ certs: string; front: AuthProxy; hostsDir: string }> {
  extraCaState ??= (async () => {
    const certs = path.join(pair.tmp.path, 'extra-ca');
    fs.mkdirSync(certs);
    execFileSync('/usr/bin/openssl', [
      'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=berth extra CA test',
      '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', path.join(certs, 'key.pem'), '-out', path.join(certs, 'cert.pem'),
    ], { stdio: 'pipe' });
    const front = await startAuthProxy({ upstream: reg.url, tls: { cert: fs.readFileSync(path.join(certs, 'cert.pem'), 'utf8'), key: fs.readFileSync(path.join(certs, 'key.pem'), 'utf8') } });
    const hostsDir = path.join(certs, 'hosts');
    fs.mkdirSync(path.join(hostsDir, front.host), { recursive: true });
    fs.writeFileSync(path.join(hostsDir, front.host, 'hosts.toml'), `server = "https://${front.host}"\n\n[host."https://${front.host}"]\n`);
    return { certs, front, hostsDir };
  })();
  return extraCaState;
}

/** process.env with NODE_EXTRA_CA_CERTS set to file, or without it. */
function withExtraCa(file: string | undefined): NodeJS.ProcessEnv {
  const env = { ...process.env };
  if (file === undefined) delete env.NODE_EXTRA_CA_CERTS;
  else env.NODE_EXTRA_CA_CERTS = file;
  return env;
}

/** bin/berth itself (its launcher line), bounded; not spawnSync: the TLS front answers
 * from this process's event loop. */
async function runBerth(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number | null; stderr: string }> {
  const p = spawnProcess(path.join(__dirname, '..', '..', 'bin', 'berth'), args, { env });
  const timer = setTimeout(() => p.child.kill('SIGKILL'), 60_000);
  const { code } = await p.exited;
  clearTimeout(timer);
  return { code, stderr: p.stderr() };
}

afterAll(async () => {
  for (const c of clients.values()) c.close();
  await (await extraCaState)?.front.close();
  await reg?.cleanup();
  await pair?.cleanup();
});

describe.skipIf(!canRun)('Client.pull and unpack', () => {
  it('pulls with progress, unpacks, and runs the image on both daemons', async () => {
    const r = await pair.both(async (s) => {
      const c = clients.get(s)!;
      const seen = new Map<string, Set<BlobProgress['status']>>();
      const pulled = await c.pull(ref, { hosts: { plainHttp: true }, progress: (p) => seen.set(`${p.kind}:${p.digest}`, (seen.get(`${p.kind}:${p.digest}`) ?? new Set()).add(p.status)) });
      const check = (await ctrOk(s.address, ['images', 'check'], { namespace: s.ns })).stdout;
      const snapshots = (await ctrOk(s.address, ['snapshots', 'ls'], { namespace: s.ns })).stdout;
      const leases = await c.leases.list();
      // Run it: the unpacked chain is what the container's snapshot is prepared on.
      const id = pair.track(s, uid('pulled'));
      const container = await c.newContainer(id, { image: pulled.image, specOpts: (img) => [withImageConfig(img!.config.config ?? {})] });
      const out = new PassThrough();
      let text = '';
      out.on('data', (b: Buffer) => (text += b.toString()));
      const task = await container.newTask({ stdout: out });
      const exited = task.wait();
      await task.start();
      const st = await exited;
      await task.delete();
      await container.delete({ withSnapshot: true });
      // Pulling again finds everything present.
      const again = new Set<string>();
      await c.pull(ref, { hosts: { plainHttp: true }, progress: (p) => again.add(p.status) });
      return {
        name: pulled.image.name,
        target: pulled.image.target!.digest,
        chainId: pulled.chainId,
        // Every blob ends downloaded or found present; the new ones were downloaded.
        settled: [...seen.values()].every((st) => st.has('done') || st.has('exists')),
        downloaded: [...seen.values()].filter((st) => st.has('done')).length,
        kinds: [...new Set([...seen.keys()].map((k) => k.split(':')[0]))].sort(),
        complete: new RegExp(`${ref.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s+application/vnd\\.oci\\.image\\.manifest\\.v1\\+json\\s+sha256:\\w+\\s+complete`).test(check),
        committed: snapshots.split('\n').filter((l) => /Committed/.test(l)).length,
        leftoverLeases: leases.length,
        out: text,
        code: st.code,
        again: [...again].sort(),
      };
    });
    expect(r[0]).toMatchObject({
      name: ref,
      settled: true,
      downloaded: 3, // manifest, config, the new layer; the busybox layer is there already (the side's own image)
      kinds: ['config', 'layer', 'manifest'],
      complete: true,
      committed: 2,
      leftoverLeases: 0,
      out: 'pulled through berth\n',
      code: 0,
      again: r[0].again,
    });
    expect(r[0].chainId).toMatch(/^sha256:/);
    expect(r[0].again).toContain('exists');
    expect(r[0].again).not.toContain('done');
    expect(r[1]).toEqual(r[0]);
  });

  it('labels as containerd sets them: the same on both daemons as after ctr pull', async () => {
    const labels = await pair.both(async (s) => {
      const out = execFileSync(CTR_BIN, ['-a', s.address, '-n', s.ns, 'content', 'ls'], { encoding: 'utf8' });
      return out
        .split('\n')
        .slice(1)
        .filter(Boolean)
        .map((l) => l.split(/\s+/).filter((w) => w.includes('=')).join(' ').split(',').sort().join(','))
        .sort();
    });
    expect(labels[0].join('\n')).toContain('containerd.io/distribution.source.');
    expect(labels[0].join('\n')).toContain('containerd.io/gc.ref.snapshot.overlayfs=sha256:');
    expect(labels[1]).toEqual(labels[0]);
  });

  it('berth images pull: log lines, --json progress, then berth run', async () => {
    const BERTH = path.join(__dirname, '..', '..', 'bin', 'berth');
    const berth = (s: Side, args: string[]): { code: number | null; stdout: string; stderr: string } => {
      const r = spawnSync(BERTH, ['-a', s.address, '-n', `${s.ns}-cli`, ...args], { encoding: 'utf8', timeout: 120_000 });
      return { code: r.status, stdout: r.stdout, stderr: r.stderr };
    };
    const r = await pair.both(async (s) => {
      const plain = berth(s, ['images', 'pull', '--plain-http', ref]);
      const json = berth(s, ['--json', 'images', 'pull', '--plain-http', ref]);
      const run = berth(s, ['run', '--rm', ref, pair.track({ ...s, ns: `${s.ns}-cli` }, uid('cli')), 'cat', '/etc/greeting']);
      await ctrOk(s.address, ['images', 'rm', '--sync', ref], { namespace: `${s.ns}-cli` });
      const events = json.stdout.trim().split('\n').map((l) => JSON.parse(l) as { status?: string; kind?: string; image?: string; chainId?: string });
      return {
        plain: { code: plain.code, stderr: plain.stderr, lines: plain.stdout.trim().split('\n').map((l) => l.replace(/sha256:\w+/g, 'D').replace(/[\d.]+ (B|KiB|MiB) in [\d.]+s/, 'N in T').replace(/ in [\d.]+s$/, ' in T').replace(/-[0-9a-f]{12}:/, '-X:')).sort() },
        jsonCode: json.code,
        jsonStatuses: [...new Set(events.filter((e) => e.status).map((e) => e.status))].sort(),
        jsonLast: { image: events[events.length - 1]!.image, chainId: /^sha256:/.test(events[events.length - 1]!.chainId ?? '') },
        run,
      };
    });
    expect(r[0].plain).toEqual({
      code: 0,
      stderr: '',
      // Blobs are shared between namespaces (containerd's default content sharing): the
      // first test's pull stored them already.
      lines: [`${ref}: D unpacked (D) in T`, 'config-X: already exists', 'layer-X: already exists', 'layer-X: already exists', 'manifest-X: already exists'],
    });
    expect(r[0].jsonStatuses).toEqual(expect.arrayContaining(['exists', 'waiting']));
    expect(r[0].jsonLast).toEqual({ image: ref, chainId: true });
    expect(r[0].run).toEqual({ code: 0, stdout: 'pulled through berth\n', stderr: '' });
    expect(r[1]).toEqual(r[0]);
  });

  it('bin/berth defers NODE_EXTRA_CA_CERTS: not read by a command without TLS, trusted by a pull over https', async () => {
    // bin/berth's launcher line keeps node from reading the file at start-up (~38 ms of every
    // command with a system bundle there); the registry client adds it when it connects.
    const { certs, front, hostsDir } = await extraCaFront();
    const tlsRef = `${front.host}/berth/pull:1`;
    // bin/berth run as a person runs it: its launcher line, not `node bin/berth`.
    const berth = (extraCa: string | undefined, args: string[]): Promise<{ code: number | null; stderr: string }> =>
      runBerth(withExtraCa(extraCa), [`-a`, pair.B.address, '-n', `${pair.B.ns}-extra-ca`, ...args]);
    // A file that cannot be read: node warns at start-up when it reads it; deferred, a
    // command that makes no TLS connection never reads it.
    const missing = path.join(certs, 'missing.pem');
    expect(await berth(missing, ['namespaces', 'ls', '-q'])).toEqual({ code: 0, stderr: '' });
    const pull = (extraCa: string | undefined): Promise<{ code: number | null; stderr: string }> =>
      berth(extraCa, ['images', 'pull', '--local', '--hosts-dir', hostsDir, tlsRef]);
    const refused = await pull(undefined);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toMatch(/self[- ]signed certificate/);
    const before = front.requests.length;
    expect(await pull(path.join(certs, 'cert.pem'))).toEqual({ code: 0, stderr: '' });
    // Through the front (the blobs may be in the store already: the manifest, at least).
    expect(front.requests.slice(before).some((q) => q.path.includes('/manifests/') && q.status === 200)).toBe(true);
    // Where it is read, an unreadable file is node's warning, not a failure.
    const warned = await pull(missing);
    expect(warned.stderr).toContain(`Ignoring extra certs from \`${missing}\``);
    expect(warned.stderr).toMatch(/self[- ]signed certificate/);
  });

  it('berthd defers NODE_EXTRA_CA_CERTS past its re-exec, and its Transfer pulls over https trust it', async () => {
    const { certs, front, hostsDir } = await extraCaFront();
    const cert = path.join(certs, 'cert.pem');
    const d = await startBerthd({ logLevel: 'warn', env: { NODE_EXTRA_CA_CERTS: cert } });
    try {
      // The daemon's node (after its exec with the V8 flags) was started without it.
      const environ = fs.readFileSync(`/proc/${d.pid}/environ`, 'utf8').split('\0');
      expect(environ.filter((e) => /EXTRA_CA_CERTS=/.test(e))).toEqual([`BERTH_DEFERRED_EXTRA_CA_CERTS=${cert}`]);
      // berth images pull goes through the daemon's Transfer service: berthd connects.
      const before = front.requests.length;
      const r = await runBerth(withExtraCa(undefined), ['-a', d.address, '-n', 'extra-ca', 'images', 'pull', '--hosts-dir', hostsDir, `${front.host}/berth/pull:1`]);
      expect(r).toMatchObject({ code: 0, stderr: '' });
      expect(front.requests.slice(before).some((q) => q.method === 'GET' && q.path.includes('/blobs/'))).toBe(true);
    } finally {
      await d.cleanup();
    }
  });

  it('push (library and berth images push), then ctr pulls what was pushed', async () => {
    const BERTH = path.join(__dirname, '..', '..', 'bin', 'berth');
    const r = await pair.both(async (s) => {
      const c = clients.get(s)!;
      await c.pull(ref, { hosts: { plainHttp: true }, unpack: false }); // present whatever ran before
      const target = (await c.getImage(ref)).target!.digest;
      const viaLib = `${reg.host}/berth/pushed-lib-${s.name}:1`;
      const seen = new Set<string>();
      await c.push(ref, { ref: viaLib, hosts: { plainHttp: true }, progress: (p) => seen.add(p.status) });
      const viaCli = `${reg.host}/berth/pushed-cli-${s.name}:1`;
      const cli = spawnSync(BERTH, ['-a', s.address, '-n', s.ns, 'images', 'push', '--plain-http', viaCli, ref], { encoding: 'utf8', timeout: 60_000 });
      const pulled = [];
      for (const pushed of [viaLib, viaCli]) {
        await ctrOk(s.address, ['images', 'pull', '--plain-http', pushed], { namespace: `${s.ns}-pushed`, timeoutMs: 60_000 });
        const ls = (await ctrOk(s.address, ['images', 'ls'], { namespace: `${s.ns}-pushed` })).stdout;
        pulled.push(ls.includes(pushed) && ls.includes(target));
      }
      return { statuses: [...seen].filter((x) => x !== 'waiting' && x !== 'uploading').sort(), cliCode: cli.status, cliLast: cli.stdout.trim().split('\n').pop()!.replace(/[\d.]+s$/, 'T').replace(s.name, 'SIDE'), pulled };
    });
    expect(r[0]).toMatchObject({ cliCode: 0, cliLast: `${reg.host}/berth/pushed-cli-SIDE:1: pushed in T`, pulled: [true, true] });
    expect(r[0].statuses.length).toBeGreaterThan(0);
    expect(r[1]).toMatchObject({ cliCode: 0, pulled: [true, true] });
  });

  it('an unknown tag is NotFoundError', async () => {
    const r = await pair.both((s) => clients.get(s)!.pull(`${reg.host}/berth/pull:nope`, { hosts: { plainHttp: true } }).then(() => 'ok', (e: Error) => e.constructor.name));
    expect(r).toEqual(['NotFoundError', 'NotFoundError']);
    await expect(clients.get(pair.B)!.getImage(`${reg.host}/berth/pull:nope`)).rejects.toBeInstanceOf(NotFoundError);
  });
});
