// Exercises the test harness against the reference daemon: a private, real containerd 1.6
// driven by the real ctr. (berthd's own e2e tests use the same harness.)
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ctr,
  ctrOk,
  ctrSpawn,
  isAlive,
  makeBusyboxRootfs,
  makeTempRoot,
  mountsBelow,
  pidsUsingPath,
  startBerthd,
  startContainerd,
  type ContainerdHandle,
} from '../harness/index';

describe('harness: private containerd + ctr', () => {
  let cd: ContainerdHandle;

  beforeAll(async () => {
    cd = await startContainerd();
  });

  afterAll(async () => {
    await cd?.cleanup();
  });

  it('runs containerd in its own temp dir, never the system one', () => {
    expect(cd.address.startsWith(cd.dir + '/')).toBe(true);
    expect(cd.root.startsWith(cd.dir + '/')).toBe(true);
    expect(cd.state.startsWith(cd.dir + '/')).toBe(true);
    expect(fs.statSync(cd.address).isSocket()).toBe(true);
    expect(isAlive(cd.pid)).toBe(true);
    const config = fs.readFileSync(cd.configPath, 'utf8');
    expect(config).toContain('"io.containerd.grpc.v1.cri"');
    expect(config).not.toMatch(/\/var\/lib\/containerd|"\/run\/containerd/);
    expect(fs.readlinkSync(`/proc/${cd.pid}/exe`)).toBe('/usr/bin/containerd');
  });

  it('ctr version reports the 1.6 server', async () => {
    const r = await ctrOk(cd.address, ['version']);
    expect(r.stdout).toMatch(/Client:\s*\n\s*Version:\s+1\.6\./);
    expect(r.stdout).toMatch(/Server:\s*\n\s*Version:\s+1\.6\./);
    expect(r.stdout).toMatch(/UUID:\s+[0-9a-f-]{36}/);
  });

  it('ctr namespaces create + ls', async () => {
    await ctrOk(cd.address, ['namespaces', 'create', 't1', 'a=b']);
    const ls = await ctrOk(cd.address, ['namespaces', 'ls']);
    const lines = ls.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+LABELS\s*$/);
    expect(lines.slice(1).map((l) => l.trim().split(/\s+/))).toContainEqual(['t1', 'a=b']);
    const quiet = await ctrOk(cd.address, ['namespaces', 'ls', '-q']);
    expect(quiet.stdout.split('\n')).toContain('t1');
  });

  it('ctr failures come back as exit code + stderr, and ctrOk throws with stderr', async () => {
    await ctrOk(cd.address, ['namespaces', 'create', 'dup']);
    const again = await ctr(cd.address, ['namespaces', 'create', 'dup']);
    expect(again.code).not.toBe(0);
    expect(again.stderr).toMatch(/already exists/);
    await expect(ctrOk(cd.address, ['namespaces', 'create', 'dup'])).rejects.toThrow(/already exists/);
  });

  it('ctrSpawn streams `ctr events` lines as they come', async () => {
    const ev = ctrSpawn(cd.address, ['events']);
    try {
      // ctr events prints nothing until an event arrives; retry the create until the
      // subscription is certainly in place.
      let line: string | undefined;
      for (let i = 0; i < 50 && line === undefined; i++) {
        await ctrOk(cd.address, ['namespaces', 'create', `ev${i}`]);
        line = await ev.waitForLine(`"name":"ev`, 200).catch(() => undefined);
      }
      expect(line).toBeDefined();
      expect(line).toMatch(/\/namespaces\/create/);
      await ctrOk(cd.address, ['namespaces', 'label', 'ev0', 'x=y']);
      const upd = await ev.waitForLine(/\/namespaces\/update .*"name":"ev0"/, 10_000);
      expect(upd).toContain('x');
    } finally {
      const st = await ev.stop();
      expect(st.code === null || st.code === 0 || st.signal === 'SIGTERM').toBe(true);
    }
  });

  it('passes stdin through (ctr content ingest)', async () => {
    const data = 'hello from the harness\n';
    await ctrOk(cd.address, ['content', 'ingest', 'harness-ref'], { namespace: 't1', input: data });
    const ls = await ctrOk(cd.address, ['content', 'ls', '-q'], { namespace: 't1' });
    const digest = 'sha256:' + (await import('node:crypto')).createHash('sha256').update(data).digest('hex');
    expect(ls.stdout.split('\n')).toContain(digest);
    const got = await ctrOk(cd.address, ['content', 'get', digest], { namespace: 't1' });
    expect(got.stdout).toBe(data);
  });

  it('stop returns the exit code and restart brings it back on the same socket and data', async () => {
    const oldPid = cd.pid;
    const code = await cd.stop();
    expect(code).toBe(0);
    expect(isAlive(oldPid)).toBe(false);
    await cd.restart();
    expect(cd.pid).not.toBe(oldPid);
    const ls = await ctrOk(cd.address, ['namespaces', 'ls', '-q']);
    expect(ls.stdout.split('\n')).toContain('t1');
    expect(cd.logs()).toContain('containerd restarted');
  });
});

describe('harness: cleanup', () => {
  it('kill + cleanup leaves no process, mount or directory behind', async () => {
    const cd = await startContainerd({ logLevel: 'info' });
    const { pid, dir } = cd;
    // A mount under the state dir, as a snapshotter or a task would leave it.
    const mnt = path.join(cd.state, 'leftover-mount');
    fs.mkdirSync(mnt);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', mnt]);
    expect(mountsBelow(dir).map((m) => m.mountPoint)).toContain(mnt);
    await cd.kill();
    expect(isAlive(pid)).toBe(false);
    expect(cd.running()).toBe(false);
    await cd.cleanup();
    expect(mountsBelow(dir)).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
  });

  it.each(['running', 'SIGKILLed'])(
    'cleanup with a task left running, containerd %s: no shim, container, runc state or shim socket remain',
    async (how) => {
      const cd = await startContainerd({ logLevel: 'info' });
      const { dir } = cd;
      const ns = `harness-${how}`;
      let shimSocket = '';
      let inside: number[] = [];
      try {
        const rootfs = makeBusyboxRootfs(path.join(dir, 'rootfs'));
        await ctrOk(cd.address, ['run', '-d', '--rootfs', rootfs, 'c1', '/bin/sleep', '1000'], { namespace: ns });
        const tasks = await ctrOk(cd.address, ['tasks', 'ls'], { namespace: ns });
        expect(tasks.stdout).toMatch(/c1\s+\d+\s+RUNNING/);
        const bundle = path.join(cd.state, 'io.containerd.runtime.v2.task', ns, 'c1');
        shimSocket = fs.readFileSync(path.join(bundle, 'address'), 'utf8').trim().replace(/^unix:\/\//, '');
        expect(fs.existsSync(shimSocket)).toBe(true);
        inside = pidsUsingPath(dir);
        expect(inside.length).toBeGreaterThanOrEqual(3); // containerd, shim, sleep
        if (how === 'SIGKILLed') await cd.kill();
      } finally {
        await cd.cleanup();
      }
      expect(inside.filter(isAlive)).toEqual([]);
      expect(fs.existsSync(dir)).toBe(false);
      expect(mountsBelow(dir)).toEqual([]);
      expect(fs.existsSync(shimSocket)).toBe(false);
      expect(fs.existsSync(`/run/containerd/runc/${ns}/c1`)).toBe(false);
    },
  );

  it('makeTempRoot cleanup unmounts nested and stacked mounts deepest first', async () => {
    const t = makeTempRoot('harness-');
    const a = path.join(t.path, 'a');
    fs.mkdirSync(a);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', a]);
    const b = path.join(a, 'b c'); // a space: mountinfo escapes it as \040
    fs.mkdirSync(b);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', b]);
    execFileSync('mount', ['-t', 'tmpfs', 'tmpfs', b]); // stacked
    expect(mountsBelow(t.path).map((m) => m.mountPoint)).toEqual([b, b, a]);
    await t.cleanup();
    expect(mountsBelow(t.path)).toEqual([]);
    expect(fs.existsSync(t.path)).toBe(false);
  });

  it('a daemon that exits before its socket appears is reported with its output', async () => {
    await expect(startContainerd({ extraConfig: 'this is not toml' })).rejects.toThrow(
      /containerd exited .*before .*accepted connections; output:\n[\s\S]*(toml|failed to load)/i,
    );
  });
});

// startBerthd's plumbing, checked with a stand-in script (berthd's own tests run the real one):
// it must pass --root/--state/--address/--log-level, capture stderr, and report early exits.
const FAKE_BERTHD = `
const net = require('node:net');
const fs = require('node:fs');
const arg = (n) => { const i = process.argv.indexOf(n); return i < 0 ? undefined : process.argv[i + 1]; };
if (process.argv.includes('--fail')) { console.error('{"level":"error","msg":"bad config"}'); process.exit(3); }
fs.mkdirSync(arg('--root'), { recursive: true });
fs.mkdirSync(arg('--state'), { recursive: true });
const srv = net.createServer((c) => c.end()).listen(arg('--address'), () => {
  console.error(JSON.stringify({ level: 'info', msg: 'serving', args: process.argv.slice(2), env: process.env.FAKE_ENV }));
});
process.on('SIGTERM', () => { console.error('{"msg":"bye"}'); srv.close(() => process.exit(0)); });
`;

describe('harness: startBerthd (stand-in daemon)', () => {
  it('spawns with temp root/state/socket, captures logs, restarts, stops, cleans up', async () => {
    const t = makeTempRoot('fake-berthd-');
    try {
      const bin = path.join(t.path, 'berthd.js');
      fs.writeFileSync(bin, FAKE_BERTHD);
      const b = await startBerthd({ bin, extraArgs: ['--x'], env: { FAKE_ENV: 'yes' } });
      const { dir } = b;
      expect(b.root).toBe(path.join(dir, 'root'));
      expect(b.state).toBe(path.join(dir, 'state'));
      expect(b.address).toBe(path.join(dir, 'berthd.sock'));
      await expect.poll(() => b.logs()).toContain('"msg":"serving"');
      expect(b.logs()).toContain(
        JSON.stringify(['--root', b.root, '--state', b.state, '--address', b.address, '--log-level', 'debug', '--x']),
      );
      expect(b.logs()).toContain('"env":"yes"');
      const first = b.pid;
      await b.restart();
      expect(b.pid).not.toBe(first);
      expect(await b.stop()).toBe(0);
      expect(b.logs()).toContain('"msg":"bye"');
      expect(fs.readFileSync(b.logFile, 'utf8').match(/"msg":"serving"/g)).toHaveLength(2);
      await b.cleanup();
      expect(fs.existsSync(dir)).toBe(false);

      await expect(startBerthd({ bin, extraArgs: ['--fail'] })).rejects.toThrow(
        /berthd exited \(code 3[\s\S]*bad config/,
      );
    } finally {
      await t.cleanup();
    }
  });
});
