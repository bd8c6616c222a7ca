// CNI with the real plugins (Debian's containernetworking-plugins in /usr/lib/cni: bridge,
// host-local, portmap, loopback, tuning) on the real kernel, never on the host's network:
// the test makes a private network namespace ("the host" of these pods) pinned under its
// temp root, and every plugin runs in it through `nsenter --net=<it> --` (the execPrefix
// option). Pods get network namespaces from src/netns. Everything the plugins create (the
// bridge, veths, iptables rules) lives in the private namespace and goes with it.

import { execFile } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CniManager, CniNotInitializedError, CniPluginError, CniPluginFailedError, rollbackErrorOf, selectPodIPs,
  type PodNetworkRequest,
} from '../../src/cni';
import { createNetNS, isNetNS, type NetNS } from '../../src/netns';
import { makeTempRoot, mountsBelow, sleep, spawnProcess, stopChild, type TempRoot } from '../harness';

const CNI_BIN = '/usr/lib/cni';

function run(cmd: string, args: string[], timeoutMs = 10_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, killSignal: 'SIGKILL' }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${String(stderr)}`));
      else resolve(String(stdout));
    });
  });
}

function inNs(ns: string, cmd: string, args: string[]): Promise<string> {
  return run('nsenter', [`--net=${ns}`, '--', cmd, ...args]);
}

interface IpAddrInfo {
  family: string;
  local: string;
  prefixlen: number;
}
interface IpLink {
  ifname: string;
  flags: string[];
  addr_info?: IpAddrInfo[];
}

async function ipJson(ns: string, args: string[]): Promise<IpLink[]> {
  const out = (await inNs(ns, 'ip', ['-j', ...args])).trim();
  return out === '' ? [] : (JSON.parse(out) as IpLink[]);
}

/** Files host-local keeps per allocated address (its lock and last_reserved_ip.* aside). */
function allocatedIPs(dataDir: string, network: string): string[] {
  const dir = join(dataDir, network);
  if (!existsSync(dir)) return [];
  return readdirSync(dir).filter((f) => f !== 'lock' && !f.startsWith('last_reserved_ip'));
}

// A TCP server in the pod's netns answering "hello from pod", and a client in the test's
// host netns: real traffic over the veth and the bridge (and the portmap DNAT).
const SERVER_JS = `require('net').createServer((s) => s.end('hello from pod\\n')).listen(8080, '0.0.0.0', () => console.log('ready'))`;
const CLIENT_JS = `
const [host, port] = process.argv.slice(-2);
const s = require('net').connect(Number(port), host);
let got = '';
s.setTimeout(3000, () => { console.error('timeout'); process.exit(2); });
s.on('data', (d) => { got += d; });
s.on('end', () => { process.stdout.write(got); process.exit(0); });
s.on('error', (e) => { console.error(e.message); process.exit(1); });`;

async function connectFrom(ns: string, host: string, port: number): Promise<string> {
  return inNs(ns, process.execPath, ['-e', CLIENT_JS, host, String(port)]);
}

describe('CNI: real plugins in a private network namespace', () => {
  let root: TempRoot;
  let hostNs: NetNS;
  let netnsDir: string;
  let dataDir: string;
  const bridge = `bt${randomBytes(4).toString('hex')}`;
  const octet = randomInt(0, 256);
  const subnet = `10.88.${octet}.0/24`;
  const gateway = `10.88.${octet}.1`;
  let seq = 0;

  function bridgePlugin(): Record<string, unknown> {
    return {
      type: 'bridge',
      bridge,
      isGateway: true,
      ipMasq: true,
      ipam: { type: 'host-local', ranges: [[{ subnet }]], routes: [{ dst: '0.0.0.0/0' }], dataDir },
    };
  }

  /** A conf dir holding one file, and a manager over it whose plugins run in hostNs. */
  function managerWith(fileName: string, content: unknown): { mgr: CniManager; confDir: string; cacheDir: string } {
    const dir = join(root.path, `case-${++seq}`);
    const confDir = join(dir, 'net.d');
    mkdirSync(confDir, { recursive: true });
    writeFileSync(join(confDir, fileName), JSON.stringify(content));
    const cacheDir = join(dir, 'cache');
    const mgr = new CniManager({
      confDir,
      binDirs: [CNI_BIN],
      cacheDir,
      limits: { timeoutMs: 20_000, execPrefix: ['nsenter', `--net=${hostNs.path}`, '--'] },
    });
    return { mgr, confDir, cacheDir };
  }

  function podRequest(netnsPath: string, extra: Partial<PodNetworkRequest> = {}): PodNetworkRequest {
    const id = randomBytes(32).toString('hex');
    return { pod: { namespace: 'default', name: `pod-${seq}`, uid: `uid-${seq}`, sandboxId: id }, netnsPath, ...extra };
  }

  async function hostVeths(): Promise<string[]> {
    return (await ipJson(hostNs.path, ['link', 'show', 'type', 'veth'])).map((l) => l.ifname);
  }

  beforeAll(async () => {
    root = makeTempRoot('berth-cni-');
    netnsDir = join(root.path, 'netns');
    dataDir = join(root.path, 'ipam');
    hostNs = await createNetNS(join(root.path, 'hostns'));
    await inNs(hostNs.path, 'ip', ['link', 'set', 'lo', 'up']);
  });

  afterAll(async () => {
    await hostNs?.remove();
    await root?.cleanup();
  });

  it('ADDs a pod (lo + eth0 on a bridge, host-local address, portmap), DELs, and releases everything', async () => {
    const { mgr, cacheDir } = managerWith('10-berth.conflist', {
      cniVersion: '1.0.0',
      name: 'berth-test',
      plugins: [bridgePlugin(), { type: 'portmap', capabilities: { portMappings: true } }],
    });
    expect(await mgr.status()).toEqual({ ready: true, message: '' });

    const pod = await createNetNS(netnsDir);
    expect(isNetNS(pod.path)).toBe(true);
    const hostPort = 18_000 + randomInt(0, 1000);
    const req = podRequest(pod.path, {
      capabilityArgs: { portMappings: [{ hostPort, containerPort: 8080, protocol: 'tcp', hostIP: '' }] },
    });

    const result = await mgr.setup(req);
    try {
      const ips = selectPodIPs(result);
      expect(ips).toBeDefined();
      const podIP = ips!.ip;
      expect(podIP.startsWith(`10.88.${octet}.`)).toBe(true);
      expect(ips!.additionalIps).toEqual([]);
      expect(result.interfaces.get('eth0')!.sandbox).toBe(pod.path);
      expect(result.interfaces.get('eth0')!.ipConfigs[0]!.gateway).toBe(gateway);
      expect(result.interfaces.get('lo')!.ipConfigs.map((c) => c.ip)).toContain('127.0.0.1');
      expect(result.results.map((r) => [r.network, r.ifName])).toEqual([['cni-loopback', 'lo'], ['berth-test', 'eth0']]);

      // The pod: eth0 with the address from the result, lo up.
      const podLinks = await ipJson(pod.path, ['addr', 'show']);
      const eth0 = podLinks.find((l) => l.ifname === 'eth0');
      expect(eth0?.addr_info?.some((a) => a.family === 'inet' && a.local === podIP && a.prefixlen === 24)).toBe(true);
      const lo = podLinks.find((l) => l.ifname === 'lo');
      expect(lo?.flags).toContain('UP');
      expect(lo?.addr_info?.some((a) => a.local === '127.0.0.1')).toBe(true);
      // host-local recorded the allocation under the sandbox ID; a veth is on the bridge.
      expect(allocatedIPs(dataDir, 'berth-test')).toEqual([podIP]);
      expect(readFileSync(join(dataDir, 'berth-test', podIP), 'utf8')).toContain(req.pod.sandboxId);
      expect((await hostVeths()).length).toBe(1);
      expect(existsSync(join(cacheDir, 'results', `berth-test-${req.pod.sandboxId}-eth0`))).toBe(true);

      // Traffic: to the pod's IP directly, and to the bridge's address on the host port (portmap DNAT).
      const server = spawnProcess('nsenter', [`--net=${pod.path}`, '--', process.execPath, '-e', SERVER_JS]);
      try {
        for (let i = 0; i < 100 && !server.stdout().includes('ready'); i++) await sleep(50);
        expect(server.stdout()).toContain('ready');
        expect(await connectFrom(hostNs.path, podIP, 8080)).toBe('hello from pod\n');
        expect(await connectFrom(hostNs.path, gateway, hostPort)).toBe('hello from pod\n');
      } finally {
        await stopChild(server);
      }
      const nat = await inNs(hostNs.path, 'iptables', ['-t', 'nat', '-S']);
      expect(nat).toContain(`--dport ${hostPort}`);
      expect(nat).toContain(req.pod.sandboxId);

      // No CHECK here: portmap 1.1.1's CHECK looks for ip6tables rules an IPv4-only pod never
      // gets and always fails (containernetworking/plugins#819). CHECK is tested on bridge below.
    } catch (err) {
      await mgr.teardown(req).catch(() => undefined); // leave nothing for the next case
      throw err;
    }

    await mgr.teardown(req);
    expect(await hostVeths()).toEqual([]);
    expect((await ipJson(pod.path, ['link', 'show'])).map((l) => l.ifname)).toEqual(['lo']);
    expect(allocatedIPs(dataDir, 'berth-test')).toEqual([]);
    const natAfter = await inNs(hostNs.path, 'iptables', ['-t', 'nat', '-S']);
    expect(natAfter).not.toContain(`--dport ${hostPort}`);
    expect(natAfter).not.toContain(req.pod.sandboxId);
    expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);
    // A second teardown (kubelet retries StopPodSandbox) is harmless.
    await mgr.teardown(req);

    await pod.remove();
    expect(existsSync(pod.path)).toBe(false);
    expect(mountsBelow(netnsDir).filter((m) => m.mountPoint !== netnsDir)).toEqual([]);
    await pod.remove(); // idempotent
  });

  it('pods set up and torn down concurrently get distinct addresses and all of them are released', async () => {
    const { mgr } = managerWith('10-berth.conflist', {
      cniVersion: '1.0.0',
      name: 'berth-many',
      plugins: [bridgePlugin(), { type: 'portmap', capabilities: { portMappings: true } }],
    });
    const pods = await Promise.all([0, 1, 2, 3].map(() => createNetNS(netnsDir)));
    try {
      const reqs = pods.map((p, i) => podRequest(p.path, {
        capabilityArgs: { portMappings: [{ hostPort: 19_000 + i, containerPort: 80, protocol: 'tcp', hostIP: '' }] },
      }));
      const results = await Promise.all(reqs.map((r) => mgr.setup(r)));
      const ips = results.map((r) => selectPodIPs(r)!.ip);
      expect(new Set(ips).size).toBe(4);
      expect(allocatedIPs(dataDir, 'berth-many').sort()).toEqual([...ips].sort());
      expect((await hostVeths()).length).toBe(4);
      await Promise.all(reqs.map((r) => mgr.teardown(r)));
      expect(allocatedIPs(dataDir, 'berth-many')).toEqual([]);
      expect(await hostVeths()).toEqual([]);
      expect(await inNs(hostNs.path, 'iptables', ['-t', 'nat', '-S'])).not.toMatch(/--dport 1900\d/);
    } finally {
      await Promise.all(pods.map((p) => p.remove()));
    }
  });

  it('DEL after the netns is gone runs with an empty CNI_NETNS and still releases the address', async () => {
    const { mgr } = managerWith('10-berth.conflist', { cniVersion: '1.0.0', name: 'berth-gone', plugins: [bridgePlugin()] });
    const pod = await createNetNS(netnsDir);
    const req = podRequest(pod.path);
    const ip = selectPodIPs(await mgr.setup(req))!.ip;
    expect(allocatedIPs(dataDir, 'berth-gone')).toEqual([ip]);
    await pod.remove();
    expect(pod.closed()).toBe(true);
    await mgr.teardown(req);
    expect(allocatedIPs(dataDir, 'berth-gone')).toEqual([]);
    // The kernel destroys the veth pair with the namespace, asynchronously.
    for (const end = Date.now() + 10_000; Date.now() < end && (await hostVeths()).length > 0; ) await sleep(50);
    expect(await hostVeths()).toEqual([]);
  });

  it('a missing plugin binary fails the ADD and rolls back: no veth, no address', async () => {
    const { mgr, cacheDir } = managerWith('10-berth.conflist', {
      cniVersion: '1.0.0',
      name: 'berth-missing',
      plugins: [bridgePlugin(), { type: 'berth-no-such-plugin' }],
    });
    const status = await mgr.status();
    expect(status.ready).toBe(false);
    expect(status.message).toBe(`failed to find plugin "berth-no-such-plugin" in path [${CNI_BIN}]`);

    const pod = await createNetNS(netnsDir);
    try {
      const err = await mgr.setup(podRequest(pod.path)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CniPluginFailedError);
      expect((err as Error).message).toBe(
        `plugin type="berth-no-such-plugin" name="berth-missing" failed (add): failed to find plugin "berth-no-such-plugin" in path [${CNI_BIN}]`,
      );
      // The rollback's DEL of the missing plugin failed too (reported on the error), and DEL
      // still went on to bridge: the veth and the address it had taken are gone again.
      expect(rollbackErrorOf(err)?.message).toBe(
        `plugin type="berth-no-such-plugin" name="berth-missing" failed (delete): failed to find plugin "berth-no-such-plugin" in path [${CNI_BIN}]`,
      );
      expect(await hostVeths()).toEqual([]);
      expect((await ipJson(pod.path, ['link', 'show'])).map((l) => l.ifname)).toEqual(['lo']);
      expect(allocatedIPs(dataDir, 'berth-missing')).toEqual([]);
      expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);
    } finally {
      await pod.remove();
    }
  });

  it("a plugin's own error comes back typed (code, msg) and the ADD rolls back", async () => {
    const { mgr } = managerWith('10-berth.conflist', {
      cniVersion: '1.0.0',
      name: 'berth-bad',
      plugins: [bridgePlugin(), { type: 'tuning', sysctl: { 'net.ipv4.berth_no_such_sysctl': '1' } }],
    });
    const pod = await createNetNS(netnsDir);
    try {
      const err = await mgr.setup(podRequest(pod.path)).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(CniPluginFailedError);
      const cause = (err as CniPluginFailedError).cause;
      expect(cause).toBeInstanceOf(CniPluginError);
      expect((cause as CniPluginError).code).toBeGreaterThan(0);
      expect((cause as CniPluginError).msg).toContain('berth_no_such_sysctl');
      expect((err as Error).message).toMatch(/^plugin type="tuning" name="berth-bad" failed \(add\): .*berth_no_such_sysctl/);
      expect(await hostVeths()).toEqual([]);
      expect(allocatedIPs(dataDir, 'berth-bad')).toEqual([]);
    } finally {
      await pod.remove();
    }
  });

  it('NetworkReady follows the conf dir; a .conf is wrapped in a list; CHECK passes, then fails once the pod is broken', async () => {
    const { mgr, confDir } = managerWith('10-berth.conf', { cniVersion: '0.4.0', name: 'berth-single', ...bridgePlugin() });
    rmSync(join(confDir, '10-berth.conf'));
    const notReady = await mgr.status();
    expect(notReady).toEqual({ ready: false, message: `no network config found in ${confDir}: cni plugin not initialized` });
    const err = await mgr.setup(podRequest('/nonexistent')).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CniNotInitializedError);

    // A single-plugin .conf is wrapped in a list of its own name and version.
    writeFileSync(join(confDir, '10-berth.conf'), JSON.stringify({ cniVersion: '0.4.0', name: 'berth-single', ...bridgePlugin() }));
    expect(await mgr.status()).toEqual({ ready: true, message: '' });
    const pod = await createNetNS(netnsDir);
    try {
      const req = podRequest(pod.path);
      const result = await mgr.setup(req);
      expect(result.results[1]!.result.cniVersion).toBe('0.4.0');
      expect(selectPodIPs(result)!.ip.startsWith(`10.88.${octet}.`)).toBe(true);
      await mgr.check(req);
      // CHECK is real: take the pod's address away and bridge's CHECK notices.
      const cidr = result.interfaces.get('eth0')!.ipConfigs[0]!.cidr;
      await inNs(pod.path, 'ip', ['addr', 'del', cidr, 'dev', 'eth0']);
      const checkErr = await mgr.check(req).then(() => undefined, (e: unknown) => e);
      expect(checkErr).toBeInstanceOf(CniPluginFailedError);
      expect((checkErr as Error).message).toMatch(/^plugin type="bridge" name="berth-single" failed \(check\): /);
      await mgr.teardown(req);
      expect(allocatedIPs(dataDir, 'berth-single')).toEqual([]);
    } finally {
      await pod.remove();
    }
  });
});
