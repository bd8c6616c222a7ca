import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'smol-toml';
import { BERTHD_BIN, ctr, ctrOk, makeTempRoot, startBerthd, type BerthdHandle } from '../harness';
import { TestClient, sampleContainer } from './grpc-client';
import { DAEMON_V8_FLAGS } from '../../src/daemon/v8-flags';

// berthd as a process: flags, config, socket, lock, signals, restart persistence.

async function waitFor(cond: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('berthd process', () => {
  let d: BerthdHandle;
  beforeAll(async () => {
    d = await startBerthd();
  });
  afterAll(async () => {
    await d?.cleanup();
  });

  it('ctr version prints the server version, revision and a stable UUID', async () => {
    const r = await ctrOk(d.address, ['version']);
    const pkg = JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version: string };
    expect(r.stdout).toMatch(/Server:\s*\n\s*Version:\s+\S+/);
    expect(r.stdout).toContain(`Version:  ${pkg.version}`);
    const uuid = /UUID:\s+([0-9a-f-]{36})/.exec(r.stdout)?.[1];
    expect(uuid).toBeDefined();
    await d.restart();
    const again = await ctrOk(d.address, ['version']);
    expect(/UUID:\s+([0-9a-f-]{36})/.exec(again.stdout)?.[1]).toBe(uuid);
  });

  it('ctr plugins ls lists berthd parts and honours filters', async () => {
    const all = await ctrOk(d.address, ['plugins', 'ls']);
    expect(all.stdout).toMatch(/TYPE\s+ID\s+PLATFORMS\s+STATUS/);
    for (const id of ['containers', 'leases', 'namespaces', 'events', 'introspection', 'version']) {
      expect(all.stdout).toMatch(new RegExp(`io\\.containerd\\.grpc\\.v1\\s+${id}\\s+-\\s+ok`));
    }
    const grpcOnly = await ctrOk(d.address, ['plugins', 'ls', 'type==io.containerd.grpc.v1']);
    const rows = grpcOnly.stdout.trim().split('\n').slice(1);
    expect(rows.length).toBeGreaterThanOrEqual(6);
    expect(rows.every((r) => r.startsWith('io.containerd.grpc.v1'))).toBe(true);
    const one = await ctrOk(d.address, ['plugins', 'ls', 'id==leases,type==io.containerd.grpc.v1']);
    expect(one.stdout.trim().split('\n')).toHaveLength(2);
    const bad = await ctr(d.address, ['plugins', 'ls', 'id==']);
    expect(bad.code).not.toBe(0);
  });

  it('creates its socket 0660 and refuses a second daemon on the same root', async () => {
    expect(statSync(d.address).mode & 0o777).toBe(0o660);
    const r = spawnSync(process.execPath, [BERTHD_BIN, '--root', d.root, '--state', d.state, '--address', `${d.address}.2`], {
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/another berthd \(pid \d+\) is already running on root/);
    expect(existsSync(`${d.address}.2`)).toBe(false);
    // The running daemon is unaffected.
    await ctrOk(d.address, ['version']);
  });

  it('refuses a socket path where another daemon listens', async () => {
    const tmp = makeTempRoot('berth-sock-');
    try {
      const r = spawnSync(process.execPath, [BERTHD_BIN, '--root', join(tmp.path, 'root'), '--state', join(tmp.path, 'state'), '--address', d.address], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`another daemon is already serving on ${d.address}`);
      await ctrOk(d.address, ['version']);
    } finally {
      await tmp.cleanup();
    }
  });

  it('survives SIGKILL: the stale lock and socket are taken over on restart', async () => {
    const client = new TestClient(d.address);
    await client.createContainer('persist', sampleContainer('before-kill'));
    client.close();
    await d.kill();
    expect(existsSync(d.address)).toBe(true); // stale socket left behind
    await d.restart();
    const c2 = new TestClient(d.address);
    expect((await c2.getContainer('persist', 'before-kill')).id).toBe('before-kill');
    c2.close();
  });

  it('snapshot directories a crash left mid-removal (rm-<id>, ids without a record) are deleted at start', async () => {
    const dirs = join(d.root, 'snapshots', 'overlayfs', 'snapshots');
    const ls = (): string[] => readdirSync(dirs).sort();
    await ctrOk(d.address, ['snapshots', 'prepare', 'keep', ''], { namespace: 'rmcrash' });
    await ctrOk(d.address, ['snapshots', 'prepare', 'gone', ''], { namespace: 'rmcrash' });
    const before = ls();
    await ctrOk(d.address, ['snapshots', 'rm', 'gone'], { namespace: 'rmcrash' });
    await waitFor(() => ls().length === before.length - 1);
    const kept = ls();
    await d.kill();
    for (const leftover of ['rm-9999', '9998']) {
      mkdirSync(join(dirs, leftover, 'fs', 'etc'), { recursive: true });
      writeFileSync(join(dirs, leftover, 'fs', 'etc', 'hosts'), 'x');
    }
    await d.restart();
    await waitFor(() => ls().join() === kept.join());
    const out = await ctrOk(d.address, ['snapshots', 'ls'], { namespace: 'rmcrash' });
    expect(out.stdout).toContain('keep');
    expect(out.stdout).not.toContain('gone');
    await ctrOk(d.address, ['snapshots', 'rm', 'keep'], { namespace: 'rmcrash' });
  });

  it('runs under its V8 flags: bin/berthd exec\'d itself once, same pid, stdio and env kept clean', () => {
    // The harness started `node bin/berthd …` and holds that pid.
    const argv = readFileSync(`/proc/${d.pid}/cmdline`, 'utf8').split('\0');
    for (const f of DAEMON_V8_FLAGS) expect(argv).toContain(f);
    expect(argv.filter((a) => a.startsWith('--max-semi-space-size'))).toHaveLength(1);
    // Its log still reaches the file the harness gave it as stdout/stderr.
    expect(readFileSync(d.logFile, 'utf8')).toContain('"serving"');
    // Turned off: no exec, no flag.
    const r = spawnSync(process.execPath, [BERTHD_BIN, '--bogus'], { encoding: 'utf8', env: { ...process.env, BERTH_V8_FLAGS: '0' } });
    expect(r.status).toBe(1);
    expect(r.stderr).toContain("Unknown option '--bogus'");
    const relaunched = spawnSync(process.execPath, [BERTHD_BIN, '--bogus'], { encoding: 'utf8' });
    expect(relaunched.stderr).toBe(r.stderr);
  });

  it('SIGTERM stops it cleanly: exit 0, socket and lock removed', async () => {
    const code = await d.stop();
    expect(code).toBe(0);
    expect(existsSync(d.address)).toBe(false);
    expect(existsSync(join(d.root, 'berthd.lock'))).toBe(false);
    await d.restart();
  });
});

describe('berthd configuration', () => {
  it('config default prints the TOML it runs with', () => {
    const out = execFileSync(process.execPath, [BERTHD_BIN, 'config', 'default']).toString();
    const cfg = parse(out) as { root: string; state: string; grpc: { address: string; tcp_address: string; max_recv_message_size: number } };
    expect(cfg.root).toBe('/var/lib/berth');
    expect(cfg.state).toBe('/run/berth');
    expect(cfg.grpc.address).toBe('/run/berth/berthd.sock');
    expect(cfg.grpc.tcp_address).toBe('');
    expect(cfg.grpc.max_recv_message_size).toBe(16 * 1024 * 1024);
  });

  it('takes root, state and address from a config file, and flags win', async () => {
    const tmp = makeTempRoot('berth-cfg-');
    const file = join(tmp.path, 'config.toml');
    writeFileSync(
      file,
      `root = "${join(tmp.path, 'cfgroot')}"\nstate = "${join(tmp.path, 'cfgstate')}"\n[grpc]\naddress = "${join(tmp.path, 'cfg.sock')}"\n[log]\nlevel = "warn"\n`,
    );
    const d = await startBerthd({ config: file, root: join(tmp.path, 'flagroot') });
    try {
      expect(existsSync(join(tmp.path, 'flagroot', 'meta'))).toBe(true);
      expect(existsSync(join(tmp.path, 'cfgroot'))).toBe(false);
      await ctrOk(d.address, ['version']);
    } finally {
      await d.cleanup();
      await tmp.cleanup();
    }
  });

  it('rejects a bad config file with a clear message', () => {
    const tmp = makeTempRoot('berth-badcfg-');
    try {
      const file = join(tmp.path, 'bad.toml');
      writeFileSync(file, '[grpc]\nadress = "/x"\n');
      const r = spawnSync(process.execPath, [BERTHD_BIN, '--config', file], { encoding: 'utf8' });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('unknown configuration key "grpc.adress"');
      writeFileSync(file, 'root = 5\n');
      const r2 = spawnSync(process.execPath, [BERTHD_BIN, '--config', file], { encoding: 'utf8' });
      expect(r2.stderr).toContain('configuration key "root" must be a string');
      const r3 = spawnSync(process.execPath, [BERTHD_BIN, '--config', join(tmp.path, 'missing.toml')], { encoding: 'utf8' });
      expect(r3.status).toBe(1);
      expect(r3.stderr).toContain('cannot read config');
    } finally {
      void tmp.cleanup();
    }
  });

  it('refuses to replace a path that is not a socket', async () => {
    const tmp = makeTempRoot('berth-notsock-');
    const path = join(tmp.path, 'file.sock');
    writeFileSync(path, 'precious');
    try {
      const r = spawnSync(process.execPath, [BERTHD_BIN, '--root', join(tmp.path, 'r'), '--state', join(tmp.path, 's'), '--address', path], {
        encoding: 'utf8',
      });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain('is not a socket');
      expect(existsSync(path)).toBe(true);
    } finally {
      await tmp.cleanup();
    }
  });

  it('replaces a stale socket file', async () => {
    const tmp = makeTempRoot('berth-stale-');
    const path = join(tmp.path, 'stale.sock');
    // A socket file nobody listens on, as a killed daemon leaves behind.
    execFileSync('python3', ['-c', 'import socket,sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])', path]);
    try {
      expect(existsSync(path)).toBe(true);
      const d = await startBerthd({ address: path });
      await ctrOk(d.address, ['version']);
      await d.cleanup();
    } finally {
      await tmp.cleanup();
    }
  });
});
