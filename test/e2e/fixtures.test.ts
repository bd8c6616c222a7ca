// Proves the test fixtures against the reference: image archives built in TypeScript
// import into a private, real containerd 1.6 (with and without unpack) and run; a private
// docker-registry filled by skopeo serves them to `ctr --plain-http`; the Go client test
// programs pass against containerd.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  buildDockerArchive,
  buildLayer,
  buildOciImage,
  busyboxLayer,
  multiLayerImage,
  opaqueWhiteout,
  readTar,
  sha256,
  whiteout,
  type Layer,
  type LayerEntry,
} from '../fixtures/images';
import {
  buildGoProgram,
  ctr,
  ctrOk,
  makeTempRoot,
  pushArchive,
  runGoProgram,
  startContainerd,
  startRegistry,
  type ContainerdHandle,
  type RegistryHandle,
  type TempRoot,
} from '../harness/index';

/** A second layer exercising every entry type, a whiteout, an opaque dir and an xattr. */
const extraEntries: LayerEntry[] = [
  { path: '/etc/hello', type: 'file', content: 'hello\n', mode: 0o640, uid: 1000, gid: 1001, xattrs: { 'user.berth': 'yes' } },
  { path: '/etc/hello-hard', type: 'hardlink', linkname: '/etc/hello' },
  { path: '/etc/hello-sym', type: 'symlink', linkname: 'hello' },
  { path: '/etc/secret', type: 'file', content: 's', mode: 0 },
  // Not below /dev or /run: the runtime mounts tmpfs there.
  { path: '/srv/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: '/srv/loop', type: 'block', mode: 0o660, devmajor: 7, devminor: 0 },
  { path: '/srv/fifo', type: 'fifo', mode: 0o644 },
  { path: '/var/data', type: 'dir', mode: 0o700 },
  whiteout('/bin/yes'),
  opaqueWhiteout('/var'),
];

const lines = (s: string): string[] => s.split('\n').filter((l) => l.trim() !== '');

describe('fixtures: image archives in the real containerd', () => {
  let cd: ContainerdHandle;
  let tmp: TempRoot;
  let base: Layer;
  let extra: Layer;
  let ociFile: string;
  let dockerFile: string;
  let ociManifestDigest: string;
  const ociName = 'berth.test/fixtures/busybox:oci';
  const dockerName = 'berth.test/fixtures/busybox:docker';

  beforeAll(async () => {
    tmp = makeTempRoot('fixtures-');
    [cd, base, extra] = await Promise.all([startContainerd(), busyboxLayer(), buildLayer(extraEntries)]);
    const oci = await buildOciImage({
      name: ociName,
      layers: [base, extra],
      config: { Env: ['PATH=/bin', 'BERTH=1'], Cmd: ['/bin/sh'], WorkingDir: '/etc', Labels: { 'berth.test/fixture': 'oci' } },
    });
    ociManifestDigest = oci.manifestDigest;
    ociFile = path.join(tmp.path, 'busybox-oci.tar');
    fs.writeFileSync(ociFile, oci.archive);
    dockerFile = path.join(tmp.path, 'busybox-docker.tar');
    fs.writeFileSync(dockerFile, await buildDockerArchive({ name: dockerName, layers: [base, extra] }));
  });

  afterAll(async () => {
    await cd?.cleanup();
    await tmp?.cleanup();
  });

  it('builds deterministic layers: digests of the bytes, gzip of the tar, every entry type', async () => {
    const again = await buildLayer(extraEntries);
    expect(again.digest).toBe(extra.digest);
    expect(again.diffID).toBe(extra.diffID);
    expect((await busyboxLayer()).digest).toBe(base.digest);
    expect(extra.diffID).toBe(sha256(extra.tar));
    expect(extra.digest).toBe(sha256(extra.gz));
    expect(extra.size).toBe(extra.gz.length);
    expect(zlib.gunzipSync(extra.gz).equals(extra.tar)).toBe(true);

    const entries = await readTar(extra.gz);
    const by = new Map(entries.map((e) => [e.name, e]));
    expect(entries.map((e) => e.name)).toEqual([
      'etc/hello', 'etc/hello-hard', 'etc/hello-sym', 'etc/secret', 'srv/null', 'srv/loop', 'srv/fifo',
      'var/data/', 'bin/.wh.yes', 'var/.wh..wh..opq',
    ]);
    expect(by.get('etc/hello')).toMatchObject({ type: 'file', mode: 0o640, uid: 1000, gid: 1001, xattrs: { 'user.berth': 'yes' } });
    expect(by.get('etc/hello')!.content.toString()).toBe('hello\n');
    expect(by.get('etc/hello-hard')).toMatchObject({ type: 'link', linkname: 'etc/hello', mode: 0o640, uid: 1000, gid: 1001 });
    expect(by.get('etc/hello-sym')).toMatchObject({ type: 'symlink', linkname: 'hello', mode: 0o777 });
    expect(by.get('etc/secret')).toMatchObject({ type: 'file', mode: 0 });
    expect(by.get('srv/null')).toMatchObject({ type: 'character-device', devmajor: 1, devminor: 3 });
    expect(by.get('srv/loop')).toMatchObject({ type: 'block-device', devmajor: 7, devminor: 0 });
    expect(by.get('srv/fifo')).toMatchObject({ type: 'fifo' });
    expect(by.get('var/data/')).toMatchObject({ type: 'directory', mode: 0o700 });

    const bb = new Map((await readTar(base.tar)).map((e) => [e.name, e]));
    expect(bb.get('bin/busybox')).toMatchObject({ type: 'file', mode: 0o755 });
    expect(bb.get('bin/sh')).toMatchObject({ type: 'symlink', linkname: 'busybox' });
    expect(bb.get('tmp/')).toMatchObject({ type: 'directory', mode: 0o1777 });
    expect(bb.get('etc/passwd')!.content.toString()).toMatch(/^root:x:0:0:/);
  });

  it('imports the OCI archive without unpacking: name, manifest digest, blobs', async () => {
    await ctrOk(cd.address, ['images', 'import', '--no-unpack', ociFile], { namespace: 'oci-nounpack' });
    const ls = await ctrOk(cd.address, ['images', 'ls'], { namespace: 'oci-nounpack' });
    const row = lines(ls.stdout).find((l) => l.startsWith(ociName + ' '));
    expect(row, ls.stdout).toBeDefined();
    expect(row).toContain('application/vnd.oci.image.manifest.v1+json');
    expect(row).toContain(ociManifestDigest);
    const content = await ctrOk(cd.address, ['content', 'ls', '-q'], { namespace: 'oci-nounpack' });
    expect(lines(content.stdout)).toEqual(expect.arrayContaining([base.digest, extra.digest, ociManifestDigest]));
    const snaps = await ctrOk(cd.address, ['snapshots', 'ls'], { namespace: 'oci-nounpack' });
    expect(lines(snaps.stdout)).toHaveLength(1); // header only: nothing unpacked
  });

  it('imports the docker archive without unpacking', async () => {
    await ctrOk(cd.address, ['images', 'import', '--no-unpack', dockerFile], { namespace: 'docker-nounpack' });
    const ls = await ctrOk(cd.address, ['images', 'ls'], { namespace: 'docker-nounpack' });
    const row = lines(ls.stdout).find((l) => l.startsWith(dockerName + ' '));
    expect(row, ls.stdout).toBeDefined();
    expect(row).toContain('application/vnd.docker.distribution.manifest.v2+json');
    const check = await ctrOk(cd.address, ['images', 'check'], { namespace: 'docker-nounpack' });
    expect(check.stdout).toMatch(/complete \(3\/3\)/);
  });

  it('imports the OCI archive with unpack and runs busybox echo', async () => {
    const ns = 'oci-unpack';
    const imp = await ctrOk(cd.address, ['images', 'import', ociFile], { namespace: ns });
    expect(imp.stdout).toContain(`unpacking ${ociName}`);
    const run = await ctrOk(cd.address, ['run', '--rm', ociName, 't1', '/bin/busybox', 'echo', 'hi'], { namespace: ns });
    expect(run.stdout.trim()).toBe('hi');
    // The image config is applied: Env, WorkingDir.
    const env = await ctrOk(cd.address, ['run', '--rm', ociName, 't2', 'sh', '-c', 'echo $BERTH $PATH; pwd'], { namespace: ns });
    expect(lines(env.stdout)).toEqual(['1 /bin', '/etc']);
  });

  it('imports the docker archive with unpack; the second layer applies (hardlink, whiteouts, modes)', async () => {
    const ns = 'docker-unpack';
    await ctrOk(cd.address, ['images', 'import', dockerFile], { namespace: ns });
    const script = [
      'cat /etc/hello-hard /etc/hello-sym',
      'stat -c "%h %a %u:%g" /etc/hello',
      'stat -c "%a %F %t:%T" /srv/null',
      'stat -c "%a %F %t:%T" /srv/loop',
      'stat -c "%a %F" /srv/fifo',
      'stat -c "%a" /etc/secret',
      'test -e /bin/yes && echo yes-present || echo yes-gone',
      'ls -A /var',
      'echo end',
    ].join('; ');
    const r = await ctrOk(cd.address, ['run', '--rm', dockerName, 't1', 'sh', '-c', script], { namespace: ns });
    expect(lines(r.stdout)).toEqual([
      'hello',
      'hello',
      '2 640 1000:1001',
      '666 character special file 1:3',
      '660 block special file 7:0',
      '644 fifo',
      '0',
      'yes-gone',
      'data',
      'end',
    ]);
  });

  it('multiLayerImage: deterministic data layers that import and run', async () => {
    const opts = { layers: 2, filesPerLayer: 30, bytesPerFile: 1000 };
    const img = await multiLayerImage(opts);
    const again = await multiLayerImage(opts);
    expect(img.layers.map((l) => l.digest)).toEqual(again.layers.map((l) => l.digest));
    expect(img.layers).toHaveLength(3); // busybox + 2
    expect(img.files).toBe(60);
    // Pseudo-random content: gzip cannot shrink the data layers much.
    expect(img.layers[1]!.size).toBeGreaterThan(30 * 1000 * 0.9);
    const file = path.join(tmp.path, 'multi.tar');
    fs.writeFileSync(file, await buildDockerArchive({ name: 'berth.test/multi:1', layers: img.layers }));
    await ctrOk(cd.address, ['images', 'import', file], { namespace: 'multi' });
    const r = await ctrOk(cd.address, ['run', '--rm', 'berth.test/multi:1', 't1', 'sh', '-c', 'ls /data/l0/d0 /data/l1/d0 | grep -c ^f; wc -c < /data/l1/d0/f29'], {
      namespace: 'multi',
    });
    expect(lines(r.stdout).map((l) => l.trim())).toEqual(['60', '1000']);
  });

  describe('registry', () => {
    let reg: RegistryHandle;

    beforeAll(async () => {
      reg = await startRegistry();
    });

    afterAll(async () => {
      await reg?.cleanup();
    });

    it('serves /v2/ on loopback, stops by PID', () => {
      expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
      expect(fs.readlinkSync(`/proc/${reg.pid}/exe`)).toBe('/usr/bin/docker-registry');
      expect(fs.readFileSync(reg.configPath, 'utf8')).toContain(`addr: "${reg.host}"`);
    });

    it('skopeo pushes the OCI archive; ctr content fetch and images pull --plain-http get it', async () => {
      const pushed = await pushArchive(reg, ociFile, 'fixtures/busybox:oci');
      expect(pushed.ref).toBe(`${reg.host}/fixtures/busybox:oci`);
      const ns = 'registry-oci';
      await ctrOk(cd.address, ['content', 'fetch', '--plain-http', pushed.ref], { namespace: ns });
      const content = await ctrOk(cd.address, ['content', 'ls', '-q'], { namespace: ns });
      // The same blobs: skopeo copies OCI → registry without recompressing.
      expect(lines(content.stdout)).toEqual(expect.arrayContaining([base.digest, extra.digest, ociManifestDigest]));
      await ctrOk(cd.address, ['images', 'pull', '--plain-http', pushed.ref], { namespace: ns });
      const run = await ctrOk(cd.address, ['run', '--rm', pushed.ref, 't1', '/bin/busybox', 'echo', 'pulled'], { namespace: ns });
      expect(run.stdout.trim()).toBe('pulled');
    });

    it('skopeo pushes the docker archive; ctr images pull --plain-http', async () => {
      const pushed = await pushArchive(reg, dockerFile, 'fixtures/busybox:docker');
      const ns = 'registry-docker';
      const pull = await ctrOk(cd.address, ['images', 'pull', '--plain-http', pushed.ref], { namespace: ns });
      expect(pull.stdout).toContain('unpacking linux/');
      const ls = await ctrOk(cd.address, ['images', 'ls', '-q'], { namespace: ns });
      expect(lines(ls.stdout)).toEqual([pushed.ref]);
      // For a loopback host, containerd 1.6's resolver defaults to plain HTTP anyway
      // (remotes/docker/config: IsLocalhost → scheme http): the same pull works without the flag.
      const again = await ctr(cd.address, ['images', 'pull', pushed.ref], { namespace: 'registry-default-scheme', timeoutMs: 30_000 });
      expect(again.code, again.stderr).toBe(0);
    });
  });

  describe('Go client programs', () => {
    it('test/go/basic passes against the real containerd', async () => {
      const bin = await buildGoProgram('basic');
      const r = await runGoProgram(bin, ['-address', cd.address, '-namespace', 'go-basic']);
      expect(r.code, r.stdout + r.stderr).toBe(0);
      const steps = r.lines.map((l) => l.step);
      expect(steps).toEqual([
        'version', 'namespace.create', 'namespace.create-again', 'namespace.list', 'namespace.labels',
        'lease.create', 'lease.list', 'lease.delete', 'subscribe', 'container.create', 'event',
        'container.get', 'container.list', 'container.update', 'container.delete', 'namespace.delete', 'done',
      ]);
      expect(r.lines[0]).toMatchObject({ version: expect.stringMatching(/^1\.6\./) });
      expect(r.lines.find((l) => l.step === 'event')).toMatchObject({ topic: '/containers/create', namespace: 'go-basic', id: 'basic-c1' });
    }, 300_000);

    it('test/go/contentclient: writeblob/readblob/info/label/walk, sync lease delete collects the blob', async () => {
      const bin = await buildGoProgram('contentclient');
      const args = ['-address', cd.address, '-namespace', 'go-content'];
      const a = await runGoProgram(bin, [...args, '-step', 'version,writeblob,readblob,info,label,walk', '-data', 'hello berth', '-label', 'a=1', '-fieldpath', 'labels.a', '-filter', 'labels.a==1']);
      expect(a.code, a.stdout + a.stderr).toBe(0);
      const dgst = sha256('hello berth');
      expect(a.lines.map((l) => l.step)).toEqual(['version', 'writeblob', 'readblob', 'info', 'label', 'walk']);
      expect(a.lines[1]).toMatchObject({ digest: dgst, size: 11, lease_created: true });
      expect(a.lines[2]).toMatchObject({ data: 'hello berth', verified: true });
      expect(a.lines[4]).toMatchObject({ labels: { a: '1' } });
      expect(a.lines[5]!.infos).toEqual([expect.objectContaining({ digest: dgst })]);

      const b = await runGoProgram(bin, [...args, '-step', 'writeblob,deletelease-sync,info', '-data', 'collect me']);
      expect(b.code).toBe(1);
      expect(b.lines.map((l) => l.step)).toEqual(['writeblob', 'deletelease-sync', 'info']);
      expect(b.lines[2]).toMatchObject({ code: 'NotFound' });

      const c = await runGoProgram(bin, [...args, '-step', 'writeblob', '-data', 'x', '-digest', sha256('y')]);
      expect(c.code).toBe(1);
      expect(c.lines[0]).toMatchObject({ step: 'writeblob', code: 'FailedPrecondition' });
    }, 300_000);
  });
});
