// CniManager and the list operations over fake plugins (test/unit/cni-fake-plugin.ts): what
// each plugin is given (CNI_* environment, CNI_ARGS, name/cniVersion, prevResult chaining,
// runtimeConfig only for declared capabilities), the order of ADD/DEL/CHECK, the result
// cache, rollback, and DEL going on past a failing plugin. Real plugins: test/e2e/cni.test.ts.

import { mkdirSync, mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CniConfigError, CniManager, CniPluginError, CniPluginFailedError, ResultCache, checkNetworkList, parseConfList,
  pluginVersionInfo, rollbackErrorOf, selectPodIPs, DEFAULT_EXEC_LIMITS, type PodNetworkRequest,
} from '../../src/cni';
import { FakePlugins } from './cni-fake-plugin';

const FA_RESULT = {
  cniVersion: '1.0.0',
  interfaces: [{ name: 'eth0', mac: '02:00:00:00:00:05', sandbox: '/ns/pod' }],
  ips: [{ address: '10.1.0.5/16', gateway: '10.1.0.1', interface: 0 }],
};
const FB_RESULT = {
  ...FA_RESULT,
  ips: [{ address: 'fd00::5/64', interface: 0 }, ...FA_RESULT.ips],
  dns: { nameservers: ['10.1.0.53'], search: ['svc.local'] },
};
const LO_RESULT = { cniVersion: '0.3.1', interfaces: [{ name: 'lo', sandbox: '/ns/pod' }], ips: [{ version: '4', address: '127.0.0.1/8', interface: 0 }] };

/** The ADDs of one setup: loopback's and the list's run at the same time (go-cni's Setup),
 * so only the list's own order (fa, then fb) is fixed. */
function expectAdds(calls: readonly string[]): void {
  expect([...calls].sort()).toEqual(['fa ADD', 'fb ADD', 'loopback ADD']);
  expect(calls.indexOf('fa ADD')).toBeLessThan(calls.indexOf('fb ADD'));
}

describe('CniManager over fake plugins', () => {
  let dir: string;
  let fake: FakePlugins;
  let confDir: string;
  let cacheDir: string;
  let mgr: CniManager;
  const req: PodNetworkRequest = {
    pod: { namespace: 'ns1', name: 'web', uid: 'uid-1', sandboxId: 'sb123' },
    netnsPath: '/nonexistent/netns/cni-x', // not a netns: DEL gets CNI_NETNS=""
    capabilityArgs: {
      portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }],
      bandwidth: { ingressRate: 1000, ingressBurst: 10, egressRate: 2000, egressBurst: 20 },
      dns: { servers: ['1.1.1.1'], searches: ['a'], options: ['ndots:5'] },
    },
  };

  function writeList(plugins: unknown[], extra: Record<string, unknown> = {}): void {
    writeFileSync(join(confDir, '10-net1.conflist'), JSON.stringify({ cniVersion: '1.0.0', name: 'net1', plugins, ...extra }));
  }

  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cni-unit-'));
    fake = new FakePlugins(join(dir, 'bin'));
    confDir = join(dir, 'net.d');
    cacheDir = join(dir, 'cache');
    mkdirSync(confDir);
    fake.add('loopback', { result: LO_RESULT });
    fake.add('fa', { result: FA_RESULT });
    fake.add('fb', { result: FB_RESULT });
    writeList([
      { type: 'fa', x: 1, capabilities: { portMappings: true, bandwidth: false } },
      { type: 'fb', capabilities: { dns: true } },
    ]);
    mgr = new CniManager({ confDir, binDirs: [join(dir, 'empty'), fake.dir], cacheDir, limits: { timeoutMs: 10_000 } });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('ADDs loopback then the list in order, each plugin with its env, config, prevResult and runtimeConfig', async () => {
    const result = await mgr.setup(req);
    expectAdds(fake.calls());

    const env = fake.env('fa', 'ADD');
    expect(env).toEqual({
      CNI_COMMAND: 'ADD',
      CNI_CONTAINERID: 'sb123',
      CNI_NETNS: '/nonexistent/netns/cni-x',
      CNI_IFNAME: 'eth0',
      CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns1;K8S_POD_NAME=web;K8S_POD_INFRA_CONTAINER_ID=sb123;K8S_POD_UID=uid-1',
      CNI_PATH: `${join(dir, 'empty')}:${fake.dir}`,
    });
    expect(fake.env('loopback', 'ADD')['CNI_IFNAME']).toBe('lo');

    expect(fake.stdin('loopback', 'ADD')).toEqual({ type: 'loopback', name: 'cni-loopback', cniVersion: '0.3.1' });
    expect(fake.stdin('fa', 'ADD')).toEqual({
      type: 'fa', x: 1, capabilities: { portMappings: true, bandwidth: false }, name: 'net1', cniVersion: '1.0.0',
      runtimeConfig: { portMappings: [{ hostPort: 8080, containerPort: 80, protocol: 'tcp', hostIP: '' }] },
    });
    expect(fake.stdin('fb', 'ADD')).toEqual({
      type: 'fb', capabilities: { dns: true }, name: 'net1', cniVersion: '1.0.0',
      prevResult: FA_RESULT,
      runtimeConfig: { dns: { servers: ['1.1.1.1'], searches: ['a'], options: ['ndots:5'] } },
    });

    // The pod's IPs come from eth0 of the last plugin's result: IPv4 first by default.
    expect(selectPodIPs(result)).toEqual({ ip: '10.1.0.5', additionalIps: ['fd00::5'] });
    expect(selectPodIPs(result, 'eth0', 'ipv6')).toEqual({ ip: 'fd00::5', additionalIps: ['10.1.0.5'] });
    expect(selectPodIPs(result, 'eth0', 'cni')).toEqual({ ip: 'fd00::5', additionalIps: ['10.1.0.5'] });
    expect(result.interfaces.get('lo')!.ipConfigs).toEqual([{ ip: '127.0.0.1', cidr: '127.0.0.1/8', gateway: '' }]);
    expect(result.dns[1]!.nameservers).toEqual(['10.1.0.53']);
    expect(readdirSync(join(cacheDir, 'results')).sort()).toEqual(['cni-loopback-sb123-lo', 'net1-sb123-eth0']);
  });

  it('DELs in reverse with the cached result, asks every plugin when one fails, keeps the cache until all succeed', async () => {
    await mgr.setup(req);
    fake.add('fb', { result: FB_RESULT, fail: { DEL: '{"cniVersion":"1.0.0","code":11,"msg":"busy","details":"try later"}' } });
    const err = await mgr.teardown(req).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CniPluginFailedError);
    expect((err as Error).message).toBe('plugin type="fb" name="net1" failed (delete): busy; try later');
    const cause = (err as CniPluginFailedError).cause as CniPluginError;
    expect([cause.code, cause.msg, cause.details]).toEqual([11, 'busy', 'try later']);
    expect(fake.calls().slice(3)).toEqual(['loopback DEL', 'fb DEL', 'fa DEL']);
    expect(fake.env('fa', 'DEL')['CNI_NETNS']).toBe('');
    expect(fake.stdin('fa', 'DEL')['prevResult']).toEqual(FB_RESULT);
    // loopback is 0.3.1: no prevResult on DEL before 0.4.0.
    expect(fake.stdin('loopback', 'DEL')['prevResult']).toBeUndefined();
    expect(readdirSync(join(cacheDir, 'results'))).toEqual(['net1-sb123-eth0']);

    unlinkSync(join(fake.dir, 'fb.fail-DEL'));
    await mgr.teardown(req);
    expect(fake.stdin('fa', 'DEL')['prevResult']).toEqual(FB_RESULT);
    expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);
  });

  it('DEL errors go-cni counts as done ("not found"; a missing file once the netns is gone) do not fail the teardown', async () => {
    await mgr.setup(req);
    fake.add('fb', { result: FB_RESULT, fail: { DEL: '{"code":3,"msg":"container sb123 not found"}' } });
    fake.add('fa', { result: FA_RESULT, fail: { DEL: '{"code":5,"msg":"open /nonexistent/netns/cni-x: no such file or directory"}' } });
    await mgr.teardown(req);
    expect(fake.calls().slice(3)).toEqual(['loopback DEL', 'fb DEL', 'fa DEL']);
    expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);
  });

  it('pod annotations reach only plugins declaring the capability', async () => {
    writeList([{ type: 'fa', capabilities: { 'io.kubernetes.cri.pod-annotations': true } }, { type: 'fb' }]);
    await mgr.setup({ ...req, capabilityArgs: { podAnnotations: { a: 'b' }, other: { custom: [1] } } });
    expect(fake.stdin('fa', 'ADD')['runtimeConfig']).toEqual({ 'io.kubernetes.cri.pod-annotations': { a: 'b' } });
    expect(fake.stdin('fb', 'ADD')['runtimeConfig']).toBeUndefined();
  });

  it('DEL runs with the config ADD ran with when the config changed since', async () => {
    await mgr.setup(req);
    writeList([{ type: 'fa', x: 2 }]);
    await mgr.teardown(req);
    expect(fake.calls().slice(3)).toEqual(['loopback DEL', 'fb DEL', 'fa DEL']);
    expect(fake.stdin('fa', 'DEL')['x']).toBe(1);
  });

  it('a failed ADD rolls back every network (and does not without rollback)', async () => {
    fake.add('fb', { fail: { ADD: '{"code":7,"msg":"invalid config"}' } });
    const err = await mgr.setup(req).then(() => undefined, (e: unknown) => e);
    expect((err as Error).message).toBe('plugin type="fb" name="net1" failed (add): invalid config');
    // Every ADD has finished before the rollback's first DEL.
    expectAdds(fake.calls().slice(0, 3));
    expect(fake.calls().slice(3)).toEqual(['loopback DEL', 'fb DEL', 'fa DEL']);
    expect(readdirSync(join(cacheDir, 'results'))).toEqual([]);

    const before = fake.calls().length;
    await expect(mgr.setup(req, { rollback: false })).rejects.toBeInstanceOf(CniPluginFailedError);
    expectAdds(fake.calls().slice(before));
  });

  it('a failing rollback keeps the ADD error and records its own', async () => {
    fake.add('fb', { fail: { ADD: '{"code":7,"msg":"invalid config"}', DEL: 'not json' } });
    const err = (await mgr.setup(req).then(() => undefined, (e: unknown) => e)) as Error;
    expect(err.message).toBe('plugin type="fb" name="net1" failed (add): invalid config');
    expect(rollbackErrorOf(err)?.message).toMatch(/^plugin type="fb" name="net1" failed \(delete\): netplugin failed but error parsing its diagnostic message "not json"/);
    expect(fake.calls().slice(3)).toEqual(['loopback DEL', 'fb DEL', 'fa DEL']);
  });

  it('CHECKs each plugin against the cached result; skips pre-0.4.0 lists and disableCheck', async () => {
    await mgr.setup(req);
    await mgr.check(req);
    expect(fake.calls().slice(3)).toEqual(['fa CHECK', 'fb CHECK']);
    expect(fake.stdin('fa', 'CHECK')['prevResult']).toEqual(FB_RESULT);
    expect(fake.env('fa', 'CHECK')['CNI_NETNS']).toBe(req.netnsPath);

    fake.add('fb', { result: FB_RESULT, fail: { CHECK: '{"code":3,"msg":"container gone"}' } });
    await expect(mgr.check(req)).rejects.toThrow('plugin type="fb" name="net1" failed (check): container gone');

    writeList([{ type: 'fa' }], { disableCheck: true });
    const n = fake.calls().length;
    await mgr.check(req);
    expect(fake.calls().length).toBe(n);

    const runner = { binDirs: [fake.dir], limits: DEFAULT_EXEC_LIMITS, cache: new ResultCache(cacheDir) };
    const old = parseConfList(Buffer.from('{"cniVersion":"0.3.1","name":"old","plugins":[{"type":"fa"}]}'));
    const rt = { containerId: 'sb123', netns: '/x', ifName: 'eth0', args: [], capabilityArgs: {} };
    await expect(checkNetworkList(runner, old, rt)).rejects.toThrow('configuration version "0.3.1" does not support the CHECK command');
    const fresh = parseConfList(Buffer.from('{"cniVersion":"1.0.0","name":"fresh","plugins":[{"type":"fa"}]}'));
    await expect(checkNetworkList(runner, fresh, rt)).rejects.toBeInstanceOf(CniConfigError);
  });

  it('status: ready only with a config whose plugins are all found', async () => {
    expect(await mgr.status()).toEqual({ ready: true, message: '' });
    writeList([{ type: 'fa' }, { type: 'absent' }]);
    expect(await mgr.status()).toEqual({
      ready: false,
      message: `failed to find plugin "absent" in path [${join(dir, 'empty')} ${fake.dir}]`,
    });
    unlinkSync(join(fake.dir, 'loopback'));
    writeList([{ type: 'fa' }]);
    expect((await mgr.status()).message).toMatch(/^failed to find plugin "loopback"/);
  });

  it('load, lastLoadStatus and config() as go-cni GetConfig (CRI Status verbose)', async () => {
    await mgr.load();
    expect(mgr.lastLoadStatus()).toBe('OK');
    const c = mgr.config();
    expect([c.PluginConfDir, c.PluginMaxConfNum, c.Prefix, c.PluginDirs]).toEqual([confDir, 1, 'eth', [join(dir, 'empty'), fake.dir]]);
    expect(c.Networks.map((n) => [n.Config.Name, n.Config.CNIVersion, n.IFName])).toEqual([['cni-loopback', '0.3.1', 'lo'], ['net1', '1.0.0', 'eth0']]);
    expect(c.Networks[1]!.Config.Plugins[0]).toEqual({
      Network: { type: 'fa', capabilities: { portMappings: true, bandwidth: false }, ipam: {}, dns: {} },
      Source: '{"capabilities":{"bandwidth":false,"portMappings":true},"type":"fa","x":1}',
    });
    rmSync(join(confDir, '10-net1.conflist'));
    await expect(mgr.load()).rejects.toThrow('cni plugin not initialized');
    expect(mgr.lastLoadStatus()).toBe(`no network config found in ${confDir}: cni plugin not initialized`);
    expect(mgr.config().Networks).toEqual([]);
  });

  it('VERSION probes a real plugin', async () => {
    const runner = { binDirs: ['/usr/lib/cni'], limits: DEFAULT_EXEC_LIMITS, cache: new ResultCache(cacheDir) };
    const info = await pluginVersionInfo(runner, 'bridge');
    expect(info.supportedVersions).toContain('1.0.0');
    expect(info.supportedVersions).toContain('0.4.0');
  });
});
