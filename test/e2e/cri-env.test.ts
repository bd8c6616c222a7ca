// The CRI test environment itself (test/harness/cri-env.ts), driven with crictl against a
// real containerd 1.6 with its CRI plugin: the images are served from the loopback
// registry under their upstream names, pods get addresses on the private bridge and serve
// HTTP to the environment, nothing routes off the machine, and cleanup leaves nothing.
import * as fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, type ContainerdHandle } from '../harness';
import { startCriContainerd } from '../harness/cri-daemons';
import { writeContainerConfig, writePodConfig } from '../harness/cri-crictl';
import { CRI_POD_SUBNET, startCriEnv, type CriEnv } from '../harness/cri-env';

let env: CriEnv;
let ctrd: ContainerdHandle;

/** crictl against containerd; throws with its output unless it exits 0. */
async function crictl(...args: string[]): Promise<string> {
  const r = await env.crictl(ctrd.address, args);
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** An HTTP GET from inside the environment's network namespace: the status code, 0 if nothing answered. */
async function httpStatusInside(url: string): Promise<number> {
  const script = `require('http').get(${JSON.stringify(url)}, { timeout: 3000 }, (r) => { console.log(r.statusCode); r.resume(); }).on('error', () => console.log(0)).on('timeout', function () { this.destroy(); })`;
  const r = await env.run(process.execPath, ['-e', script], { timeoutMs: 15_000 });
  return Number(r.stdout.trim()) || 0;
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const n = (a: string): number => a.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  const mask = 2 ** 32 - 2 ** (32 - Number(bits));
  return (n(ip) & mask) >>> 0 === (n(net) & mask) >>> 0;
}

describe('CRI test environment', () => {
  beforeAll(async () => {
    env = await startCriEnv();
    ctrd = await startCriContainerd(env);
  }, 120_000);

  afterAll(async () => {
    await ctrd?.cleanup();
    await env?.cleanup();
  }, 60_000);

  it('serves the images under their upstream names from the loopback registry', async () => {
    expect(env.images.all).toContain(env.images.busybox);
    expect(env.images.all).toContain(env.images.pause);
    expect(env.images.all).toContain('gcr.io/k8s-staging-cri-tools/test-image-tags:3');
    await crictl('pull', env.images.busybox);
    const ls = await crictl('images', '-o', 'json');
    const tags = (JSON.parse(ls) as { images: Array<{ repoTags: string[] }> }).images.flatMap((i) => i.repoTags);
    expect(tags).toContain(env.images.busybox);
    // An image the registry does not hold is not found: no fallback to the real host.
    const missing = await env.crictl(ctrd.address, ['pull', 'registry.k8s.io/e2e-test-images/no-such-image:1']);
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toMatch(/not found/i);
  });

  it('runs a pod and a container through crictl: runp, create, start, ps, exec -s, logs, stats, stopp, rmp', async () => {
    const pod = writePodConfig(env, 'walk');
    const podId = await crictl('runp', pod.file);
    const podStatus = JSON.parse(await crictl('inspectp', podId)) as { status: { network: { ip: string }; state: string } };
    expect(podStatus.status.state).toBe('SANDBOX_READY');
    expect(inSubnet(podStatus.status.network.ip, CRI_POD_SUBNET)).toBe(true);

    const c = writeContainerConfig(env, 'bb', env.images.busybox, { command: ['sh', '-c', 'echo hello from busybox; exec sleep 1000'] });
    const ctrId = await crictl('create', podId, c.file, pod.file);
    await crictl('start', ctrId);
    expect(await crictl('ps', '-q', '--state', 'Running', '--pod', podId)).toBe(ctrId);
    expect(await crictl('exec', '-s', ctrId, 'echo', 'hi')).toBe('hi');
    // The applets are hard links to the dynamic busybox, as in a real image.
    expect(await crictl('exec', '-s', ctrId, 'sh', '-c', 'stat -c %h /bin/ls; ls -l /bin/busybox | cut -c1')).toMatch(/^\d{2,}\n-$/);
    for (let i = 0; i < 50 && !(await crictl('logs', ctrId)).includes('hello from busybox'); i++) await new Promise((r) => setTimeout(r, 100));
    expect(await crictl('logs', ctrId)).toContain('hello from busybox');
    expect(await crictl('stats', '-o', 'json', ctrId)).toContain(ctrId);
    await crictl('stopp', podId);
    await crictl('rmp', podId);
    expect(await crictl('pods', '-q')).toBe('');
  });

  it('gives pods the private bridge: the web server image answers from its pod IP and a host port', async () => {
    const pod = writePodConfig(env, 'web', { portMappings: [{ container_port: 80, host_port: 12080, protocol: 0 }] });
    const podId = await crictl('runp', pod.file);
    try {
      const ip = (JSON.parse(await crictl('inspectp', podId)) as { status: { network: { ip: string } } }).status.network.ip;
      await crictl('pull', env.images.webServer);
      const c = writeContainerConfig(env, 'nginx', env.images.webServer);
      const ctrId = await crictl('create', podId, c.file, pod.file);
      await crictl('start', ctrId);
      let code = 0;
      for (let i = 0; i < 50 && code !== 200; i++) {
        code = await httpStatusInside(`http://${ip}:80/`);
        if (code !== 200) await new Promise((r) => setTimeout(r, 100));
      }
      expect(code).toBe(200);
      expect(await httpStatusInside('http://127.0.0.1:12080/')).toBe(200);
    } finally {
      await crictl('stopp', podId);
      await crictl('rmp', podId);
    }
  });

  it('has no route off the machine', async () => {
    const r = await env.run('ip', ['-o', 'route', 'show', 'table', 'all']);
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/^default/m);
    const links = await env.run('ip', ['-o', 'link', 'show']);
    // lo, the bridge and the pods' veths: no physical interface.
    for (const line of links.stdout.trim().split('\n')) expect(line).toMatch(/^\d+: (lo|berthcri0|veth[\w]+@if\d+):/);
  });

  it('writes nothing to the host: /run and /var/lib are private copies inside', async () => {
    const marker = `berth-cri-env-${process.pid}-${Date.now()}`;
    const r = await env.run('/bin/sh', ['-c', `touch /var/lib/cni/${marker} /run/${marker} && ls /var/lib/cni/${marker} /run/${marker} && ls -d /var/lib/dpkg`]);
    expect(r.code, r.stderr).toBe(0);
    expect(fs.existsSync(`/var/lib/cni/${marker}`)).toBe(false);
    expect(fs.existsSync(`/run/${marker}`)).toBe(false);
  });

  it('cleanup stops everything inside (and what descends from it) by PID and removes its dir', async () => {
    const { startCriEnv: start } = await import('../harness/cri-env');
    const e = await start({ images: false });
    const p = e.spawn('/bin/sleep', ['1000']);
    // A child in a network namespace of its own (as a pod's container is): found through its parent.
    const q = e.spawn('/bin/sh', ['-c', 'unshare --net -- sleep 1000 & echo $!; wait']);
    let child = 0;
    for (let i = 0; i < 100 && !child; i++) {
      child = Number(q.stdout().trim()) || 0;
      if (!child) await new Promise((r) => setTimeout(r, 20));
    }
    expect(isAlive(p.pid) && isAlive(child)).toBe(true);
    await e.cleanup();
    expect(isAlive(e.holderPid)).toBe(false);
    expect(isAlive(p.pid)).toBe(false);
    expect(isAlive(child)).toBe(false);
    expect(fs.existsSync(e.dir)).toBe(false);
  });
});
