import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errdefs/errors';
import { parseChallengeHeader, parseChallenges } from '../../src/remotes/challenge';
import { credentialsFromCriAuth, credentialsFromDockerConfig, readDockerConfig } from '../../src/remotes/credentials';
import { mergeScopes, repositoryScope } from '../../src/remotes/auth';
import { appendDistributionSource, indexChildLabels, manifestChildLabels } from '../../src/remotes/labels';
import { formatPlatform, hostPlatform, normalizePlatform, onlyPlatform, parsePlatform } from '../../src/remotes/platforms';

// Logic of the registry client that needs no registry: challenges, scopes, docker
// config.json credentials, label values, platform matching.

describe('WWW-Authenticate challenges', () => {
  it('Bearer with realm, service and scope', () => {
    expect(parseChallengeHeader('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"')).toEqual([
      {
        scheme: 'bearer',
        rawScheme: 'Bearer',
        params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull' },
      },
    ]);
  });
  it('Basic, case-insensitive scheme and names, unquoted values, spaces', () => {
    expect(parseChallengeHeader('basic  Realm=registry ,  charset="UTF-8"')).toEqual([{ scheme: 'basic', rawScheme: 'basic', params: { realm: 'registry', charset: 'UTF-8' } }]);
  });
  it('escapes in quoted strings, several challenges in one header and across headers', () => {
    const got = parseChallenges(['Bearer realm="a\\"b",error="insufficient_scope", Basic realm="x"', 'Negotiate']);
    expect(got.map((c) => [c.scheme, c.params])).toEqual([
      ['bearer', { realm: 'a"b', error: 'insufficient_scope' }],
      ['basic', { realm: 'x' }],
      ['other', {}],
    ]);
  });
  it('garbage yields what parsed, never throws', () => {
    expect(parseChallengeHeader('')).toEqual([]);
    expect(parseChallengeHeader('Bearer realm="unterminated')).toEqual([{ scheme: 'bearer', rawScheme: 'Bearer', params: {} }]);
    expect(parseChallengeHeader('=x')).toEqual([]);
    expect(parseChallenges(undefined)).toEqual([]);
  });
});

describe('scopes', () => {
  it('repository scope and merge (sorted, deduplicated, empty dropped)', () => {
    expect(repositoryScope('library/busybox')).toBe('repository:library/busybox:pull');
    expect(mergeScopes(['repository:b:pull', ''], ['repository:a:pull', 'repository:b:pull'])).toEqual(['repository:a:pull', 'repository:b:pull']);
  });
});

describe('docker config.json credentials', () => {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  it('auth, username/password, identitytoken; Docker Hub keys; URL keys', async () => {
    const creds = credentialsFromDockerConfig({
      auths: {
        'https://index.docker.io/v1/': { auth: b64('hubuser:hub:pass') },
        '127.0.0.1:5000': { auth: b64('u:p') },
        'https://reg.example:8443/v2/': { username: 'a', password: 'b' },
        'tok.example': { auth: b64('<token>:'), identitytoken: 'refresh-me' },
        'empty.example': {},
      },
    });
    expect(await creds('registry-1.docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
    expect(await creds('docker.io')).toEqual({ username: 'hubuser', password: 'hub:pass' });
    expect(await creds('127.0.0.1:5000')).toEqual({ username: 'u', password: 'p' });
    expect(await creds('reg.example:8443')).toEqual({ username: 'a', password: 'b' });
    expect(await creds('tok.example')).toEqual({ identityToken: 'refresh-me' });
    expect(await creds('empty.example')).toBeUndefined();
    expect(await creds('other.example')).toBeUndefined();
  });
  it('bad auth and bad documents are InvalidArgument; a missing file is no credentials', async () => {
    expect(() => credentialsFromDockerConfig({ auths: { x: { auth: b64('nocolon') } } })).toThrow(InvalidArgumentError);
    expect(() => credentialsFromDockerConfig({ auths: [] })).toThrow(InvalidArgumentError);
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-dockercfg-'));
    try {
      expect(await readDockerConfig(path.join(dir, 'none.json'))('x')).toBeUndefined();
      fs.writeFileSync(path.join(dir, 'config.json'), '{"auths":{"h:1":{"auth":"' + b64('a:b') + '"}}}');
      expect(await readDockerConfig(path.join(dir, 'config.json'))('h:1')).toEqual({ username: 'a', password: 'b' });
      fs.writeFileSync(path.join(dir, 'bad.json'), '{');
      expect(() => readDockerConfig(path.join(dir, 'bad.json'))).toThrow(InvalidArgumentError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('CRI AuthConfig credentials (containerd ParseAuth)', () => {
  it('username first, then identity token, then auth; server_address limits the host', async () => {
    const b64 = Buffer.from('u:p').toString('base64');
    expect(await credentialsFromCriAuth(undefined)('h')).toBeUndefined();
    expect(await credentialsFromCriAuth({})('h')).toBeUndefined();
    expect(await credentialsFromCriAuth({ username: 'a', password: 'b', identityToken: 't', auth: b64 })('h')).toEqual({ username: 'a', password: 'b' });
    expect(await credentialsFromCriAuth({ identityToken: 't', auth: b64 })('h')).toEqual({ identityToken: 't' });
    expect(await credentialsFromCriAuth({ auth: b64 })('h')).toEqual({ username: 'u', password: 'p' });
    const scoped = credentialsFromCriAuth({ username: 'a', password: 'b', serverAddress: '127.0.0.1:5000' });
    expect(await scoped('127.0.0.1:5000')).toEqual({ username: 'a', password: 'b' });
    expect(await scoped('127.0.0.1:6000')).toBeUndefined();
    expect(await credentialsFromCriAuth({ username: 'a', password: 'b', serverAddress: 'https://reg.example/v2/' })('reg.example')).toEqual({ username: 'a', password: 'b' });
  });
});

describe('pull labels', () => {
  it('distribution source: a sorted set', () => {
    expect(appendDistributionSource(undefined, 'library/busybox')).toBe('library/busybox');
    expect(appendDistributionSource('b/x,d/y', 'c/z')).toBe('b/x,c/z,d/y');
    expect(appendDistributionSource('a,b', 'a')).toBe('a,b');
  });
  it('gc refs of an index and a manifest', () => {
    const d = (c: string): string => 'sha256:' + c.repeat(64);
    expect(indexChildLabels({ schemaVersion: 2, manifests: [{ mediaType: 'm', digest: d('1'), size: 1 }, { mediaType: 'm', digest: d('2'), size: 1 }] })).toEqual({
      'containerd.io/gc.ref.content.m.0': d('1'),
      'containerd.io/gc.ref.content.m.1': d('2'),
    });
    expect(manifestChildLabels({ schemaVersion: 2, config: { mediaType: 'c', digest: d('c'), size: 1 }, layers: [{ mediaType: 'l', digest: d('a'), size: 1 }, { mediaType: 'l', digest: d('b'), size: 1 }] })).toEqual({
      'containerd.io/gc.ref.content.config': d('c'),
      'containerd.io/gc.ref.content.l.0': d('a'),
      'containerd.io/gc.ref.content.l.1': d('b'),
    });
  });
});

describe('platforms', () => {
  it('normalises names as containerd does', () => {
    expect(normalizePlatform({ os: 'Linux', architecture: 'x86_64' })).toEqual({ os: 'linux', architecture: 'amd64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'aarch64', variant: 'v8' })).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(normalizePlatform({ os: 'linux', architecture: 'armhf' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(normalizePlatform({ os: 'linux', architecture: 'arm' })).toEqual({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(parsePlatform('linux/arm64/v8')).toEqual({ os: 'linux', architecture: 'arm64' });
    expect(formatPlatform(parsePlatform('linux/arm/6'))).toBe('linux/arm/v6');
  });
  it('host platform is linux/<node arch in OCI spelling>', () => {
    const h = hostPlatform();
    expect(h.os).toBe('linux');
    if (process.arch === 'x64') expect(h).toEqual({ os: 'linux', architecture: 'amd64' });
  });
  it('Only(linux/amd64) matches amd64 only; Only(arm/v7) prefers v7 over v6 over v5', () => {
    const amd = onlyPlatform({ os: 'linux', architecture: 'amd64' });
    expect(amd.match({ os: 'linux', architecture: 'x86_64' })).toBe(true);
    expect(amd.match({ os: 'linux', architecture: 'arm64' })).toBe(false);
    expect(amd.match({ os: 'windows', architecture: 'amd64' })).toBe(false);
    expect(amd.match({ os: 'linux', architecture: 'amd64', variant: 'v3' })).toBe(false);
    const arm = onlyPlatform({ os: 'linux', architecture: 'arm', variant: 'v7' });
    expect(arm.match({ os: 'linux', architecture: 'arm', variant: 'v8' })).toBe(false);
    expect(arm.match({ os: 'linux', architecture: 'arm', variant: 'v5' })).toBe(true);
    expect(arm.less({ os: 'linux', architecture: 'arm', variant: 'v7' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(true);
    expect(arm.less({ os: 'linux', architecture: 'arm', variant: 'v5' }, { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
  });
});
