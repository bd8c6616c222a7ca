import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errdefs/errors';
import { hostBaseUrl, isLocalhost, parseHostsToml, registryHosts, type RegistryHost } from '../../src/remotes/hosts';

// Registry host routing as containerd 1.6's config_path: defaults, hosts.toml entries in
// file order, the server last, capabilities, TLS settings, override_path, headers.

function summary(h: RegistryHost): string {
  return `${hostBaseUrl(h)} [${[...h.capabilities].sort().join(',')}]${h.skipVerify ? ' skip_verify' : ''}`;
}

describe('registryHosts defaults', () => {
  it('docker.io goes to registry-1.docker.io over https', () => {
    expect(registryHosts('docker.io').map(summary)).toEqual(['https://registry-1.docker.io/v2 [pull,push,resolve]']);
  });
  it('other registries over https; localhost and loopback over plain http', () => {
    expect(registryHosts('registry.k8s.io').map(summary)).toEqual(['https://registry.k8s.io/v2 [pull,push,resolve]']);
    expect(registryHosts('127.0.0.1:5000').map(summary)).toEqual(['http://127.0.0.1:5000/v2 [pull,push,resolve]']);
    expect(registryHosts('localhost').map(summary)).toEqual(['http://localhost/v2 [pull,push,resolve]']);
    expect(registryHosts('[::1]:5000').map(summary)).toEqual(['http://[::1]:5000/v2 [pull,push,resolve]']);
  });
  it('plainHttp and skipVerify options', () => {
    expect(registryHosts('reg.example:5000', { plainHttp: true }).map(summary)).toEqual(['http://reg.example:5000/v2 [pull,push,resolve]']);
    expect(registryHosts('reg.example', { skipVerify: true }).map(summary)).toEqual(['https://reg.example/v2 [pull,push,resolve] skip_verify']);
    // docker.io stays https even with plainHttp, as containerd does.
    expect(registryHosts('docker.io', { plainHttp: true }).map(summary)).toEqual(['https://registry-1.docker.io/v2 [pull,push,resolve]']);
  });
  it('isLocalhost', () => {
    for (const h of ['localhost', 'localhost:80', 'a.localhost', '127.0.0.1', '127.1.2.3:5000', '::1', '[::1]:5000']) expect(isLocalhost(h), h).toBe(true);
    for (const h of ['example.com', '10.0.0.1:5000', '[::2]:1', 'localhostx']) expect(isLocalhost(h), h).toBe(false);
  });
});

describe('hosts.toml', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-hosts-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  function write(registry: string, text: string): void {
    fs.mkdirSync(path.join(dir, registry), { recursive: true });
    fs.writeFileSync(path.join(dir, registry, 'hosts.toml'), text);
  }

  it('mirrors in file order, then the server; capabilities, skip_verify, plain http by scheme', () => {
    write(
      'registry.k8s.io',
      `server = "https://registry.k8s.io"

[host."http://127.0.0.1:5000"]
  capabilities = ["pull", "resolve"]

[host."https://mirror.example/some/path"]
  capabilities = ["pull"]
  skip_verify = true
  ca = ["ca.crt", "/abs/ca2.crt"]
  client = [["c.cert", "c.key"]]
  [host."https://mirror.example/some/path".header]
    x-a = "1"
    x-b = ["2", "3"]

[host."https://aaa.example"]
  override_path = true
`,
    );
    const hosts = registryHosts('registry.k8s.io', { configPath: dir });
    expect(hosts.map(summary)).toEqual([
      'http://127.0.0.1:5000/v2 [pull,resolve]',
      'https://mirror.example/some/path/v2 [pull] skip_verify',
      'https://aaa.example [pull,push,resolve]',
      'https://registry.k8s.io/v2 [pull,push,resolve]',
    ]);
    expect(hosts[1]!.caFiles).toEqual([path.join(dir, 'registry.k8s.io', 'ca.crt'), '/abs/ca2.crt']);
    expect(hosts[1]!.clientPairs).toEqual([[path.join(dir, 'registry.k8s.io', 'c.cert'), path.join(dir, 'registry.k8s.io', 'c.key')]]);
    expect(hosts[1]!.header).toEqual({ 'x-a': ['1'], 'x-b': ['2', '3'] });
    // override_path keeps the URL's path as the API root.
    expect(hosts[2]!.path).toBe('');
  });

  it('a server naming a loopback registry routes there (never the upstream)', () => {
    write('gcr.io', 'server = "http://127.0.0.1:5000"\n[host."http://127.0.0.1:5000"]\n  capabilities = ["pull", "resolve"]\n');
    expect(registryHosts('gcr.io', { configPath: dir }).map(summary)).toEqual([
      'http://127.0.0.1:5000/v2 [pull,resolve]',
      'http://127.0.0.1:5000/v2 [pull,push,resolve]',
    ]);
  });

  it('server without a scheme is https; a path gets /v2 unless it ends in it', () => {
    write('a.example', 'server = "b.example/prefix"\n');
    write('c.example', 'server = "https://c.example/v2"\n');
    write('d.example', 'server = "https://d.example/api"\noverride_path = true\n');
    expect(registryHosts('a.example', { configPath: dir }).map(hostBaseUrl)).toEqual(['https://b.example/prefix/v2']);
    expect(registryHosts('c.example', { configPath: dir }).map(hostBaseUrl)).toEqual(['https://c.example/v2']);
    expect(registryHosts('d.example', { configPath: dir }).map(hostBaseUrl)).toEqual(['https://d.example/api']);
  });

  it('no server: the registry itself last; _default applies to registries without a directory', () => {
    write('_default', '[host."http://127.0.0.1:9999"]\n  capabilities = ["pull", "resolve"]\n');
    expect(registryHosts('docker.io', { configPath: dir }).map(summary)).toEqual([
      'http://127.0.0.1:9999/v2 [pull,resolve]',
      'https://registry-1.docker.io/v2 [pull,push,resolve]',
    ]);
  });

  it('host:port directories, and the host_port_ spelling', () => {
    write('127.0.0.1_5000_', 'server = "http://127.0.0.1:6000"\n');
    expect(registryHosts('127.0.0.1:5000', { configPath: dir }).map(hostBaseUrl)).toEqual(['http://127.0.0.1:6000/v2']);
    fs.rmSync(path.join(dir, '127.0.0.1_5000_'), { recursive: true });
    write('127.0.0.1:5000', 'server = "http://127.0.0.1:7000"\n');
    expect(registryHosts('127.0.0.1:5000', { configPath: dir }).map(hostBaseUrl)).toEqual(['http://127.0.0.1:7000/v2']);
  });

  it('a directory without hosts.toml: docker certs.d files for the default host', () => {
    fs.mkdirSync(path.join(dir, 'reg.example'));
    for (const f of ['ca.crt', 'client.cert', 'client.key']) fs.writeFileSync(path.join(dir, 'reg.example', f), '');
    const [h] = registryHosts('reg.example', { configPath: dir });
    expect(hostBaseUrl(h!)).toBe('https://reg.example/v2');
    expect(h!.caFiles).toEqual([path.join(dir, 'reg.example', 'ca.crt')]);
    expect(h!.clientPairs).toEqual([[path.join(dir, 'reg.example', 'client.cert'), path.join(dir, 'reg.example', 'client.key')]]);
  });

  it.each([
    ['capabilities = ["pull", "fly"]', 'unknown capability fly'],
    ['skip_verify = "yes"', '"skip_verify" must be a boolean'],
    ['server = 1', '"server" must be a string'],
    ['server = "ftp://x"', 'scheme must be http or https'],
    ['[host', 'failed to parse TOML'],
    ['override_path = 1', '"override_path" must be a boolean'],
    ['ca = 5', '"ca" must be a string or a list of strings'],
  ])('%s → InvalidArgument naming the problem', (text, why) => {
    let err: unknown;
    try {
      parseHostsToml(text, dir);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).toContain(path.join(dir, 'hosts.toml'));
  });
});
