import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BERTH_SHIM_BINARY, RuntimeResolver, shimBinaryName } from '../../src/runtime';
import { defaultConfig, DEFAULT_CONFIG_TOML, loadConfig } from '../../src/daemon/config';

let dir: string;
let binDir: string;
let selfDir: string;

function exe(p: string): string {
  fs.writeFileSync(p, '#!/bin/sh\nexit 0\n', { mode: 0o755 });
  return p;
}

beforeAll(() => {
  dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'runtime-resolve-'));
  binDir = path.join(dir, 'bin');
  selfDir = path.join(dir, 'self');
  fs.mkdirSync(binDir);
  fs.mkdirSync(selfDir);
  exe(path.join(binDir, 'containerd-shim-runc-v2'));
  exe(path.join(binDir, 'containerd-shim-foo-v1'));
  exe(path.join(selfDir, 'containerd-shim-beside-v1'));
  exe(path.join(dir, 'berth-shim'));
  fs.writeFileSync(path.join(binDir, 'containerd-shim-noexec-v1'), 'not executable', { mode: 0o644 });
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function resolver(runtimes: Record<string, { shim: string }> = {}, berthShim = path.join(dir, 'berth-shim')): RuntimeResolver {
  return new RuntimeResolver({ runtimes, berthShim, selfDir, envPath: () => binDir });
}

describe('runtime name → shim binary', () => {
  it('names the binary like containerd', () => {
    expect(shimBinaryName('io.containerd.runc.v2')).toBe('containerd-shim-runc-v2');
    expect(shimBinaryName('io.containerd.runc.v1')).toBe('containerd-shim-runc-v1');
    expect(shimBinaryName('foo.v3')).toBe('containerd-shim-foo-v3');
    expect(shimBinaryName('runc')).toBe('');
  });

  it('maps io.containerd.runc.v2 and io.containerd.berth.v1 to berth\'s shim by default', () => {
    const r = resolver();
    expect(r.resolve('io.containerd.runc.v2')).toBe(path.join(dir, 'berth-shim'));
    expect(r.resolve('io.containerd.berth.v1')).toBe(path.join(dir, 'berth-shim'));
    expect(BERTH_SHIM_BINARY.endsWith('/bin/containerd-shim-berth-v1')).toBe(true);
  });

  it('a [runtimes] entry wins over every default', () => {
    const runc = path.join(binDir, 'containerd-shim-runc-v2');
    const r = resolver({ 'io.containerd.runc.v2': { shim: runc }, custom: { shim: 'containerd-shim-foo-v1' } });
    expect(r.resolve('io.containerd.runc.v2')).toBe(runc);
    // A bare name is looked up on PATH; the runtime name itself need not have the io.containerd form.
    expect(r.resolve('custom')).toBe(path.join(binDir, 'containerd-shim-foo-v1'));
    expect(() => resolver({ x: { shim: '/no/such/shim' } }).resolve('x')).toThrow(/\/no\/such\/shim/);
  });

  it('looks other names up on PATH, then next to berthd', () => {
    const r = resolver();
    expect(r.resolve('io.containerd.foo.v1')).toBe(path.join(binDir, 'containerd-shim-foo-v1'));
    expect(r.resolve('io.containerd.beside.v1')).toBe(path.join(selfDir, 'containerd-shim-beside-v1'));
  });

  it('reports missing and invalid runtimes with containerd\'s words', () => {
    const r = resolver();
    expect(() => r.resolve('io.containerd.nosuch.v9')).toThrow('runtime "io.containerd.nosuch.v9" binary not installed "containerd-shim-nosuch-v9": file does not exist');
    expect(() => r.resolve('io.containerd.noexec.v1')).toThrow(/binary not installed/);
    expect(() => r.resolve('runc')).toThrow(/invalid runtime name runc/);
    expect(() => r.resolve('')).toThrow(/no runtime name/);
    expect(() => resolver({}, path.join(dir, 'missing-berth-shim')).resolve('io.containerd.runc.v2')).toThrow(/binary not installed/);
  });

  it('uses an absolute path as is, if it exists', () => {
    const r = resolver();
    const p = path.join(binDir, 'containerd-shim-runc-v2');
    expect(r.resolve(p)).toBe(p);
    expect(() => r.resolve('/no/such/file')).toThrow('invalid custom binary path: stat /no/such/file: no such file or directory');
  });
});

describe('[runtimes] in the berthd config', () => {
  const write = (text: string): string => {
    const f = path.join(dir, `cfg-${Math.random().toString(36).slice(2)}.toml`);
    fs.writeFileSync(f, text);
    return f;
  };

  it('defaults to no entries, and `config default` documents the table', () => {
    expect(defaultConfig().runtimes).toEqual({});
    expect(DEFAULT_CONFIG_TOML).toContain('[runtimes]');
    expect(DEFAULT_CONFIG_TOML).toContain('containerd-shim-runc-v2');
    expect(loadConfig(write(DEFAULT_CONFIG_TOML), true).runtimes).toEqual({});
  });

  it('maps any runtime name to a shim', () => {
    const cfg = loadConfig(
      write(`version = 1\n[runtimes."io.containerd.runc.v2"]\nshim = "/usr/bin/containerd-shim-runc-v2"\n[runtimes.mine]\nshim = "containerd-shim-foo-v1"\n`),
      true,
    );
    expect(cfg.runtimes).toEqual({
      'io.containerd.runc.v2': { shim: '/usr/bin/containerd-shim-runc-v2' },
      mine: { shim: 'containerd-shim-foo-v1' },
    });
    expect(cfg.grpc.address).toBe('/run/berth/berthd.sock');
  });

  it('rejects unknown keys and bad values, in runtimes and in the fixed tables', () => {
    expect(() => loadConfig(write(`[runtimes."a.b"]\nshim = "/x"\npath = "/y"\n`), true)).toThrow('unknown configuration key "runtimes."a.b".path"');
    expect(() => loadConfig(write(`[runtimes."a.b"]\nshim = 3\n`), true)).toThrow(/must be a string/);
    expect(() => loadConfig(write(`[runtimes."a.b"]\n`), true)).toThrow(/shim" must be set/);
    expect(() => loadConfig(write(`[runtimes."a.b"]\nshim = "rel/path"\n`), true)).toThrow(/absolute path/);
    expect(() => loadConfig(write(`runtimes = 1\n`), true)).toThrow(/must be a table/);
    expect(() => loadConfig(write(`[grpc]\nadress = "/x"\n`), true)).toThrow('unknown configuration key "grpc.adress"');
    expect(() => loadConfig(write(`[runtime]\n`), true)).toThrow('unknown configuration key "runtime"');
  });
});
