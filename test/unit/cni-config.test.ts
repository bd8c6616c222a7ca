// Network configs: which files of conf_dir are used and in which order (go-cni/libcni),
// a .conf wrapped in a list, loopback first, parse errors with libcni's words, and the
// result shapes of every spec version.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  CniConfigError, CniNotInitializedError, CniPluginError, convertResult, gatherPodResult, loadNetworks, parseConfAsList,
  parseConfList, parseResult, selectPodIPs, type JsonObject,
} from '../../src/cni';

describe('loadNetworks', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cni-conf-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const list = (name: string): string => JSON.stringify({ cniVersion: '1.0.0', name, plugins: [{ type: 'bridge' }, { type: 'portmap', capabilities: { portMappings: true, dns: false } }] });
  const single = (name: string): string => JSON.stringify({ cniVersion: '0.4.0', name, type: 'bridge', bridge: 'cni0' });

  it('no config (missing or empty dir, or only other files): not initialized', async () => {
    await expect(loadNetworks(join(dir, 'missing'))).rejects.toThrow(
      new CniNotInitializedError(`no network config found in ${join(dir, 'missing')}`),
    );
    writeFileSync(join(dir, 'README'), 'x');
    writeFileSync(join(dir, '10-net.conf.bak'), single('x'));
    mkdirSync(join(dir, '05-dir.conf'));
    const err = await loadNetworks(dir).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(CniNotInitializedError);
    expect((err as Error).message).toBe(`no network config found in ${dir}: cni plugin not initialized`);
  });

  it('takes the first file in byte order (.conf, .conflist, .json), loopback first on lo', async () => {
    writeFileSync(join(dir, '20-b.conflist'), list('b'));
    writeFileSync(join(dir, 'a-last.json'), single('c'));
    writeFileSync(join(dir, 'Z-upper.conf'), single('z'));
    writeFileSync(join(dir, '10-a.conf'), single('a'));
    const nets = await loadNetworks(dir);
    expect(nets.map((n) => [n.config.name, n.ifName])).toEqual([['cni-loopback', 'lo'], ['a', 'eth0']]);
    expect(nets[0]!.config.cniVersion).toBe('0.3.1');
    expect(nets[0]!.config.plugins.map((p) => p.type)).toEqual(['loopback']);
    // The .conf became a list of one named as the plugin, with the plugin's version.
    expect(nets[1]!.config.cniVersion).toBe('0.4.0');
    expect(nets[1]!.config.plugins[0]!.raw).toEqual({ cniVersion: '0.4.0', name: 'a', type: 'bridge', bridge: 'cni0' });
    expect(JSON.parse(nets[1]!.config.bytes.toString())).toEqual({ cniVersion: '0.4.0', name: 'a', plugins: [nets[1]!.config.plugins[0]!.raw] });

    const all = await loadNetworks(dir, { maxConfNum: 0, ifPrefix: 'net', loopback: false });
    expect(all.map((n) => [n.config.name, n.ifName])).toEqual([['a', 'net0'], ['b', 'net1'], ['z', 'net2'], ['c', 'net3']]);
    expect(all[1]!.config.plugins[1]!.capabilities).toEqual(new Set(['portMappings']));
    expect((await loadNetworks(dir, { maxConfNum: 2 })).length).toBe(3);
  });

  it("a broken first file is an error, not skipped (libcni's words)", async () => {
    writeFileSync(join(dir, '10-a.conflist'), JSON.stringify({ name: 'a' }));
    writeFileSync(join(dir, '20-b.conflist'), list('b'));
    await expect(loadNetworks(dir)).rejects.toThrow(
      new CniConfigError(`failed to load CNI config list file ${join(dir, '10-a.conflist')}: error parsing configuration list: no 'plugins' key`),
    );
    writeFileSync(join(dir, '10-a.conflist'), '{"name":');
    await expect(loadNetworks(dir)).rejects.toThrow(/^failed to load CNI config list file .*: error parsing configuration list: /);
    rmSync(join(dir, '10-a.conflist'));
    writeFileSync(join(dir, '10-a.conf'), JSON.stringify({ name: 'a', cniVersion: '1.0.0' }));
    await expect(loadNetworks(dir)).rejects.toThrow(`failed to load CNI config file ${join(dir, '10-a.conf')}: error parsing configuration: missing 'type'`);
  });
});

describe('parseConfList / parseConfAsList', () => {
  const bad = (text: string): string => {
    try {
      parseConfList(Buffer.from(text));
    } catch (err) {
      expect(err).toBeInstanceOf(CniConfigError);
      return (err as Error).message;
    }
    throw new Error('parsed');
  };
  it('refuses what libcni refuses', () => {
    expect(bad('{"plugins":[{"type":"x"}]}')).toBe('error parsing configuration list: no name');
    expect(bad('{"name":1,"plugins":[{"type":"x"}]}')).toBe('error parsing configuration list: invalid name type number');
    expect(bad('{"name":"n","plugins":{}}')).toBe("error parsing configuration list: invalid 'plugins' type object");
    expect(bad('{"name":"n","plugins":[]}')).toBe('error parsing configuration list: no plugins in list');
    expect(bad('{"name":"n","plugins":[{"name":"x"}]}')).toBe("failed to parse plugin config 0: error parsing configuration: missing 'type'");
    expect(bad('{"name":"n","plugins":[{"type":"../../bin/sh"}]}')).toMatch(/invalid plugin type/);
    expect(bad('[]')).toBe('error parsing configuration list: not a JSON object');
    expect(bad('{"name":"a/b","plugins":[{"type":"x"}]}')).toBe('error parsing configuration list: invalid network name "a/b"');
    expect(() => parseConfAsList(Buffer.from('{"name":"..","type":"x"}'))).toThrow('error parsing configuration: invalid network name ".."');
  });
  it('reads cniVersion (default 0.1.0), disableCheck (bool or string)', () => {
    const l = parseConfList(Buffer.from('{"name":"n","disableCheck":"true","plugins":[{"type":"x"}]}'));
    expect([l.name, l.cniVersion, l.disableCheck]).toEqual(['n', '0.1.0', true]);
    expect(parseConfAsList(Buffer.from('{"type":"x"}')).cniVersion).toBe('0.1.0');
  });
});

describe('results', () => {
  it('1.0.0 and 0.4.0 results: interfaces, ips with interface index, routes, dns', () => {
    const r = parseResult(
      Buffer.from(JSON.stringify({
        cniVersion: '0.4.0',
        interfaces: [{ name: 'cni0', mac: 'aa' }, { name: 'eth0', mac: 'bb', sandbox: '/ns', mtu: 1400 }],
        ips: [{ version: '4', address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1 }],
        routes: [{ dst: '0.0.0.0/0' }],
        dns: { nameservers: ['10.0.0.53'], domain: 'd', search: ['s'], options: ['o'] },
      })),
      '1.0.0',
    );
    expect(r.cniVersion).toBe('0.4.0');
    expect(r.interfaces).toEqual([{ name: 'cni0', mac: 'aa', sandbox: '' }, { name: 'eth0', mac: 'bb', sandbox: '/ns', mtu: 1400 }]);
    expect(r.ips).toEqual([{ address: '10.0.0.2/24', gateway: '10.0.0.1', interface: 1 }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '' }]);
    expect(r.dns).toEqual({ nameservers: ['10.0.0.53'], domain: 'd', search: ['s'], options: ['o'] });
    const pod = gatherPodResult([{ network: 'n', ifName: 'eth0', result: r }]);
    expect(selectPodIPs(pod)).toEqual({ ip: '10.0.0.2', additionalIps: [] });
    expect(pod.interfaces.get('eth0')!.sandbox).toBe('/ns');
    expect(pod.interfaces.get('cni0')!.ipConfigs).toEqual([]);
  });

  it('0.2.0 results (ip4/ip6) land on the default interface; the version comes from the config when absent', () => {
    const r = parseResult(Buffer.from('{"ip4":{"ip":"10.1.0.9/16","gateway":"10.1.0.1","routes":[{"dst":"0.0.0.0/0","gw":"10.1.0.1"}]},"ip6":{"ip":"fd00::9/64"}}'), '0.2.0');
    expect(r.cniVersion).toBe('0.2.0');
    expect(r.ips).toEqual([{ address: '10.1.0.9/16', gateway: '10.1.0.1' }, { address: 'fd00::9/64', gateway: '' }]);
    expect(r.routes).toEqual([{ dst: '0.0.0.0/0', gw: '10.1.0.1' }]);
    const pod = gatherPodResult([{ network: 'n', ifName: 'eth0', result: r }]);
    expect(selectPodIPs(pod, 'eth0', 'ipv6')).toEqual({ ip: 'fd00::9', additionalIps: ['10.1.0.9'] });
  });

  it('a cached result is brought to the config version (libcni GetAsVersion)', () => {
    const v1: JsonObject = {
      cniVersion: '1.0.0',
      interfaces: [{ name: 'eth0', sandbox: '/ns' }],
      ips: [{ address: 'fd00::5/64', interface: 0 }, { address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0' }],
      dns: { nameservers: ['10.0.0.53'] },
    };
    const v04 = convertResult(v1, '0.4.0');
    expect(v04).toEqual({
      ...v1,
      cniVersion: '0.4.0',
      ips: [{ version: '6', address: 'fd00::5/64', interface: 0 }, { version: '4', address: '10.0.0.5/24', gateway: '10.0.0.1', interface: 0 }],
    });
    expect(convertResult(v04, '1.0.0')).toEqual(v1);
    expect(convertResult(v1, '1.0.0')).toBe(v1);
    const v02 = convertResult(v1, '0.2.0');
    expect(v02).toEqual({
      cniVersion: '0.2.0',
      ip4: { ip: '10.0.0.5/24', gateway: '10.0.0.1', routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }] },
      ip6: { ip: 'fd00::5/64', routes: [{ dst: '::/0' }] },
      dns: { nameservers: ['10.0.0.53'] },
    });
    expect(convertResult(v02, '1.0.0')).toEqual({
      cniVersion: '1.0.0',
      ips: [{ address: '10.0.0.5/24', gateway: '10.0.0.1' }, { address: 'fd00::5/64' }],
      routes: [{ dst: '0.0.0.0/0', gw: '10.0.0.1' }, { dst: '::/0' }],
      dns: { nameservers: ['10.0.0.53'] },
    });
  });

  it('refuses what is not a result (decode failure, code 6) and IPs pointing past the interfaces', () => {
    for (const text of ['nope', '[1]', '{"cniVersion":"1.0.0","ips":{}}', '{"cniVersion":"1.0.0","ips":[{"address":"1.2.3.4/8","interface":-1}]}']) {
      const err = (() => {
        try {
          parseResult(Buffer.from(text), '1.0.0');
        } catch (e) {
          return e;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(CniPluginError);
      expect((err as CniPluginError).code).toBe(6);
    }
    const r = parseResult(Buffer.from('{"cniVersion":"1.0.0","interfaces":[],"ips":[{"address":"1.2.3.4/8","interface":0}]}'), '1.0.0');
    expect(() => gatherPodResult([{ network: 'n', ifName: 'eth0', result: r }])).toThrow(/interface number 0 is outside the range/);
    expect(selectPodIPs(gatherPodResult([]))).toBeUndefined();
  });
});
