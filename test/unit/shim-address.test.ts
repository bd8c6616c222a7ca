// Where the shared shim listens (src/shim/address.ts), the shim's flag parsing, and the
// sh fast path of bin/containerd-shim-berth-v1, which must compute the same socket path
// and answer `start` without Node when a shim serves there.
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SHIM_SOCKET_FALLBACK_DIR, defaultRuncRoot, shimAddress, shimSocketPath, shimSocketPathOf } from '../../src/shim/address';
import { parseShimArgs, UsageError } from '../../src/shim/args';
import { processStartTime } from '../../src/shim/serve';

const BIN = path.resolve(__dirname, '../../bin/containerd-shim-berth-v1');
const hash = (a: string): string => createHash('sha256').update(`berth-shim-v1:${a}`).digest('hex');

describe('shimSocketPath', () => {
  it('puts the socket in s/ beside the daemon socket, named by a hash of its address', () => {
    expect(shimSocketPath('/run/containerd/containerd.sock')).toBe(`/run/containerd/s/${hash('/run/containerd/containerd.sock')}`);
    expect(shimSocketPath('/run/berth/berthd.sock')).toBe(`/run/berth/s/${hash('/run/berth/berthd.sock')}`);
    expect(shimAddress('/run/berth/berthd.sock')).toBe(`unix:///run/berth/s/${hash('/run/berth/berthd.sock')}`);
    // unix:// is stripped for the directory but part of the hashed address
    expect(shimSocketPath('unix:///x/d.sock')).toBe(`/x/s/${hash('unix:///x/d.sock')}`);
    expect(shimSocketPath('/d.sock')).toBe(`/s/${hash('/d.sock')}`);
  });

  it('gives a task with its own process a socket of its own, in the same directory', () => {
    const own = shimSocketPath('/run/berth/berthd.sock', { namespace: 'ns', id: 'c1' });
    expect(own).toBe(`/run/berth/s/${hash('/run/berth/berthd.sock\nns/c1')}`);
    expect(own).not.toBe(shimSocketPath('/run/berth/berthd.sock'));
    expect(shimSocketPath('/run/berth/berthd.sock', { namespace: 'ns', id: 'c2' })).not.toBe(own);
    expect(shimSocketPathOf({ address: '/run/berth/berthd.sock', ownProcess: true, namespace: 'ns', id: 'c1' })).toBe(own);
    expect(shimSocketPathOf({ address: '/run/berth/berthd.sock', ownProcess: false, namespace: 'ns', id: 'c1' })).toBe(shimSocketPath('/run/berth/berthd.sock'));
  });

  it('falls back to /run/berth/s for relative addresses and when sun_path would overflow', () => {
    expect(shimSocketPath('relative.sock')).toBe(`${SHIM_SOCKET_FALLBACK_DIR}/${hash('relative.sock')}`);
    expect(shimSocketPath('')).toBe(`${SHIM_SOCKET_FALLBACK_DIR}/${hash('')}`);
    const deep = `/${'d'.repeat(40)}/${'e'.repeat(10)}/x.sock`; // dir 52 + /s/ + 64 > 107
    expect(shimSocketPath(deep)).toBe(`${SHIM_SOCKET_FALLBACK_DIR}/${hash(deep)}`);
    const fits = `/${'d'.repeat(39)}/x.sock`; // 40 + 3 + 64 = 107
    expect(shimSocketPath(fits)).toBe(`/${'d'.repeat(39)}/s/${hash(fits)}`);
  });
});

describe('defaultRuncRoot', () => {
  it('is runc/ beside the daemon socket unless BERTH_RUNC_ROOT says otherwise', () => {
    expect(defaultRuncRoot('/run/containerd/containerd.sock', {})).toBe('/run/containerd/runc');
    expect(defaultRuncRoot('unix:///run/berth/berthd.sock', {})).toBe('/run/berth/runc');
    expect(defaultRuncRoot('rel.sock', {})).toBe('/run/berth/runc');
    expect(defaultRuncRoot('/run/berth/berthd.sock', { BERTH_RUNC_ROOT: '/srv/runc' })).toBe('/srv/runc');
  });
});

describe('parseShimArgs (Go flag rules)', () => {
  it('parses containerd\'s start and delete invocations', () => {
    expect(parseShimArgs(['-namespace', 'default', '-address', '/run/containerd/containerd.sock', '-publish-binary', '/usr/bin/containerd', '-id', 'c1', '-debug', 'start'])).toEqual({
      namespace: 'default', address: '/run/containerd/containerd.sock', publishBinary: '/usr/bin/containerd', id: 'c1', bundle: '', debug: true, ownProcess: false, version: false, action: 'start', rest: [],
    });
    expect(parseShimArgs(['-address', '/a', '-namespace', 'n', '-id', 'x', '-own-process', 'start'])).toMatchObject({ ownProcess: true, action: 'start' });
    const d = parseShimArgs(['--namespace=n', '-address=/a', '-id', 'x', '-bundle', '/b', 'delete', 'extra']);
    expect(d).toMatchObject({ namespace: 'n', address: '/a', id: 'x', bundle: '/b', action: 'delete', rest: ['extra'], debug: false });
    expect(parseShimArgs(['-debug=false', '-v'])).toMatchObject({ debug: false, version: true, action: '' });
    expect(parseShimArgs(['-id', 'a', '--', '-notaflag'])).toMatchObject({ id: 'a', action: '-notaflag' });
  });

  it('rejects what Go\'s flag package rejects', () => {
    expect(() => parseShimArgs(['-bogus', 'start'])).toThrow(UsageError);
    expect(() => parseShimArgs(['-id'])).toThrow(/needs an argument/);
    expect(() => parseShimArgs(['-debug=maybe'])).toThrow(/invalid boolean/);
    expect(() => parseShimArgs(['---id', 'x'])).toThrow(/bad flag syntax/);
  });
});

describe('bin/containerd-shim-berth-v1 start: the sh fast path', () => {
  let dir: string;
  let server: net.Server;
  let sock: string;
  let address: string;
  let bundle: string;
  let toolsOnly: string; // a PATH with the tools the fast path uses, and no node

  beforeAll(async () => {
    dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'shim addr ')));
    address = path.join(dir, 'd.sock');
    sock = shimSocketPath(address);
    fs.mkdirSync(path.dirname(sock));
    server = net.createServer((c) => c.destroy());
    await new Promise<void>((r) => server.listen(sock, r));
    bundle = path.join(dir, 'bundle');
    fs.mkdirSync(bundle);
    toolsOnly = path.join(dir, 'tools');
    fs.mkdirSync(toolsOnly);
    for (const t of ['sha256sum', 'mv']) {
      const real = ['/usr/bin', '/bin'].map((d) => path.join(d, t)).find((p) => fs.existsSync(p))!;
      fs.symlinkSync(real, path.join(toolsOnly, t));
    }
  });

  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const start = (env: NodeJS.ProcessEnv, extra: string[] = []) =>
    spawnSync(BIN, ['-namespace', 'ns', '-address', address, '-publish-binary', '/x', '-id', 'c1', ...extra, 'start'], { cwd: bundle, env, encoding: 'utf8' });

  it('answers from <socket>.pid without starting Node, and writes <bundle>/address', () => {
    fs.writeFileSync(`${sock}.pid`, `${process.pid} ${processStartTime()}\n`);
    const r = start({ PATH: toolsOnly });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`unix://${sock}`);
    expect(fs.readFileSync(path.join(bundle, 'address'), 'utf8')).toBe(`unix://${sock}`);
    // -bundle given: the address goes there
    const other = path.join(dir, 'other bundle');
    fs.mkdirSync(other);
    expect(start({ PATH: toolsOnly }, ['-bundle', other, '-debug']).status).toBe(0);
    expect(fs.readFileSync(path.join(other, 'address'), 'utf8')).toBe(`unix://${sock}`);
  });

  it('falls back to Node when the recorded process is not the shim (stale pid file)', () => {
    fs.writeFileSync(`${sock}.pid`, `${process.pid} 1\n`); // wrong start time
    const noNode = start({ PATH: toolsOnly }); // node is not on that PATH: only the fast path could answer
    expect(noNode.status).not.toBe(0);
    expect(noNode.stdout).toBe('');
    const viaNode = start({ ...process.env });
    expect(viaNode.status).toBe(0); // Node connects: something serves there
    expect(viaNode.stdout).toBe(`unix://${sock}`);
  });

  it('a start for a task\'s own process goes to Node, even with the shared shim serving', () => {
    fs.writeFileSync(`${sock}.pid`, `${process.pid} ${processStartTime()}\n`);
    const r = start({ PATH: toolsOnly }, ['-own-process']); // no node on that PATH
    expect(r.status).not.toBe(0);
    expect(r.stdout).toBe('');
  });

  it('other actions go to Node', () => {
    const r = spawnSync(BIN, ['-bogus'], { encoding: 'utf8', env: process.env });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/flag provided but not defined: -bogus/);
  });
});
