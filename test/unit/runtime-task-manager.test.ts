import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NotImplementedError, UnknownError, AlreadyExistsError, NotFoundError } from '../../src/errdefs/errors';
import { silentLogger } from '../../src/log/logger';
import type { AnyValue } from '../../src/metadata/records';
import { decodeMessage } from '../../src/proto/registry';
import { RuntimeResolver, StoppedTask, TaskManager, type CreateOpts } from '../../src/runtime';

// The task manager against a fake shim (a small Node program on berth's own ttrpc server,
// written here): bundle layout, the start/delete command protocol, Task API calls and
// their errors, dead-shim cleanup and reconnect. The fake shim is the contract berth's
// shim has to meet, minus runc.

const DIST = path.resolve(__dirname, '..', '..', 'dist');
const haveDist = fs.existsSync(path.join(DIST, 'ttrpc', 'index.js'));

const FAKE_SHIM = String.raw`
'use strict';
const fs = require('fs');
const path = require('path');
const { spawn } = require('child_process');
const DIST = process.env.FAKE_SHIM_DIST;
const { TtrpcServer } = require(DIST + '/ttrpc');
const { encodeMessage } = require(DIST + '/proto/registry');
const { NotFoundError, AlreadyExistsError } = require(DIST + '/errdefs/errors');

const argv = process.argv.slice(2);
const flags = {};
const pos = [];
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  if (a === '-debug') flags.debug = true;
  else if (a.startsWith('-')) flags[a.slice(1)] = argv[++i];
  else pos.push(a);
}
const action = pos[0];
const now = () => { const ms = Date.now(); return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1e6 }; };

if (action === 'start') {
  const chunks = [];
  process.stdin.on('data', (b) => chunks.push(b));
  process.stdin.on('end', () => {
    fs.writeFileSync('start-args.json', JSON.stringify({ flags, env: { TTRPC_ADDRESS: process.env.TTRPC_ADDRESS, GOMAXPROCS: process.env.GOMAXPROCS }, cwd: process.cwd() }));
    fs.writeFileSync('options.bin', Buffer.concat(chunks));
    if (process.env.FAKE_SHIM_START_FAIL) { process.stdout.write('boom\n'); process.exit(1); }
    const sock = path.join(process.env.FAKE_SHIM_SOCKDIR, flags.namespace + '-' + flags.id + '.sock');
    const child = spawn(process.execPath, [__filename, ...argv.slice(0, -1), 'serve', sock], { detached: true, stdio: 'ignore' });
    child.unref();
    const deadline = Date.now() + 10000;
    const wait = () => {
      if (fs.existsSync(sock)) {
        fs.writeFileSync('address', 'unix://' + sock);
        process.stdout.write('unix://' + sock + '\n');
        process.exit(0);
      }
      if (Date.now() > deadline) { process.stdout.write('no socket'); process.exit(1); }
      setTimeout(wait, 10);
    };
    wait();
  });
} else if (action === 'delete') {
  let pid = 0;
  try { pid = Number(fs.readFileSync(path.join(flags.bundle, 'init.pid'), 'utf8')); } catch (e) { process.stderr.write('no init.pid\n'); }
  if (pid > 0) { try { process.kill(pid, 'SIGKILL'); } catch (e) {} }
  process.stderr.write('fake cleanup warning\n');
  process.stdout.write(encodeMessage('containerd.task.v2.DeleteResponse', { pid, exit_status: 137, exited_at: now() }));
} else if (action === 'serve') {
  const sock = pos[1];
  const bundle = process.cwd();
  let init;
  let deleted = false;
  const server = new TtrpcServer({ peerCheck: 'off' });
  const get = (id) => {
    if (!init || init.id !== id || deleted) throw new NotFoundError('task ' + id);
    return init;
  };
  const state = (p) => ({ id: p.id, bundle, pid: p.pid, status: p.status, stdin: p.io.stdin, stdout: p.io.stdout, stderr: p.io.stderr, terminal: p.io.terminal, exit_status: p.exitStatus, exited_at: p.exitedAt });
  server.register('containerd.task.v2.Task', {
    Create: async (req) => {
      if (init && !deleted) throw new AlreadyExistsError('task ' + req.id);
      fs.writeFileSync(path.join(bundle, 'create.json'), JSON.stringify(req));
      if (req.id.includes('fail')) throw new Error('OCI runtime create failed: fake');
      const child = spawn('sleep', ['1000'], { stdio: 'ignore' });
      init = { id: req.id, pid: child.pid, status: 'CREATED', io: { stdin: req.stdin, stdout: req.stdout, stderr: req.stderr, terminal: req.terminal }, exitStatus: 0, exitedAt: null, waiters: [] };
      fs.writeFileSync(path.join(bundle, 'init.pid'), String(child.pid));
      child.on('exit', (code, signal) => {
        init.status = 'STOPPED';
        init.exitStatus = signal ? 128 + require('os').constants.signals[signal] : code;
        init.exitedAt = now();
        for (const w of init.waiters.splice(0)) w();
      });
      return { pid: child.pid };
    },
    Start: async (req) => { const p = get(req.id); p.status = 'RUNNING'; return { pid: p.pid }; },
    State: async (req) => { if (req.exec_id) throw new NotFoundError('process does not exist ' + req.exec_id); return state(get(req.id)); },
    Kill: async (req) => {
      const p = get(req.id);
      if (p.status === 'STOPPED') throw new NotFoundError('process already finished');
      process.kill(p.pid, req.signal);
      return {};
    },
    Wait: async (req) => {
      const p = get(req.id);
      if (p.status !== 'STOPPED') await new Promise((r) => p.waiters.push(r));
      return { exit_status: p.exitStatus, exited_at: p.exitedAt };
    },
    Delete: async (req) => {
      const p = get(req.id);
      if (p.status === 'RUNNING') throw new Error('cannot delete a running process');
      deleted = true;
      return { pid: p.pid, exit_status: p.exitStatus, exited_at: p.exitedAt };
    },
    Pids: async (req) => ({ processes: [{ pid: get(req.id).pid, info: null }] }),
    Stats: async (req) => { get(req.id); return { stats: { type_url: 'fake.Stats', value: Buffer.from('stats') } }; },
    Connect: async () => ({ shim_pid: process.pid, task_pid: init ? init.pid : 0 }),
    Shutdown: async () => {
      if (!init || deleted) setTimeout(() => { try { fs.unlinkSync(sock); } catch (e) {} process.exit(0); }, 20);
      return {};
    },
  });
  server.listen(sock).catch((e) => { process.stderr.write(String(e)); process.exit(1); });
}
`;

interface Published {
  ns: string;
  topic: string;
  event: Record<string, unknown>;
}

let dir: string;
let shimPath: string;
let sockDir: string;
const shimPids = new Set<number>();
const events: Published[] = [];
const managers: TaskManager[] = [];

function decodeEvent(e: AnyValue): Record<string, unknown> {
  return decodeMessage<Record<string, unknown>>(e.typeUrl, e.value);
}

function manager(): TaskManager {
  const m = new TaskManager({
    stateDir: path.join(dir, 'state', 'tasks'),
    rootDir: path.join(dir, 'root', 'tasks'),
    address: path.join(dir, 'berthd.sock'),
    ttrpcAddress: path.join(dir, 'berthd.sock.ttrpc'),
    publishBinary: '/bin/true',
    debug: true,
    resolver: new RuntimeResolver({ runtimes: { 'io.containerd.fake.v1': { shim: shimPath } } }),
    publish: (ns, topic, event) => events.push({ ns, topic, event: decodeEvent(event) }),
    containerRuntime: async () => undefined,
    log: silentLogger,
  });
  managers.push(m);
  return m;
}

const SPEC = Buffer.from('{"ociVersion":"1.0.2","process":{"args":["sleep"]}}');

function opts(extra: Partial<CreateOpts> = {}): CreateOpts {
  return {
    spec: SPEC,
    runtime: 'io.containerd.fake.v1',
    options: { type_url: 'containerd.runc.v1.Options', value: Buffer.from([0x32, 0x04, 0x72, 0x75, 0x6e, 0x63]) },
    rootfs: [{ type: 'bind', source: '/nonexistent', options: ['rbind'] }],
    io: { stdin: '', stdout: '/dev/null', stderr: '/dev/null', terminal: false },
    checkpoint: '',
    ...extra,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/^\S+ \(.*\) [ZX]/.test(stat);
  } catch {
    return false;
  }
}

async function shimPidOf(m: TaskManager, ns: string, id: string): Promise<number> {
  const bundle = path.join(dir, 'state', 'tasks', ns, id);
  const address = fs.readFileSync(path.join(bundle, 'address'), 'utf8');
  expect(address.startsWith('unix://')).toBe(true);
  // The fake shim answers Connect with its pid.
  const { TtrpcClient } = await import('../../src/ttrpc');
  const c = await TtrpcClient.connect(address);
  try {
    const r = await c.call<{ shim_pid: number }>('containerd.task.v2.Task', 'Connect', { id });
    shimPids.add(r.shim_pid);
    return r.shim_pid;
  } finally {
    c.close();
  }
}

describe.skipIf(!haveDist)('TaskManager with a fake shim', () => {
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'runtime-tm-'));
    sockDir = fs.mkdtempSync('/tmp/fsh-');
    shimPath = path.join(dir, 'containerd-shim-fake-v1');
    fs.writeFileSync(shimPath, `#!${process.execPath}\n${FAKE_SHIM}`, { mode: 0o755 });
    process.env.FAKE_SHIM_DIST = DIST;
    process.env.FAKE_SHIM_SOCKDIR = sockDir;
  });

  afterEach(() => {
    events.length = 0;
    delete process.env.FAKE_SHIM_START_FAIL;
  });

  afterAll(async () => {
    for (const m of managers) m.close();
    for (const pid of shimPids) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    // The fake inits (sleep) of tasks still around.
    for (const f of fs.existsSync(path.join(dir, 'state', 'tasks')) ? fs.readdirSync(path.join(dir, 'state', 'tasks'), { recursive: true }) : []) {
      if (String(f).endsWith('init.pid')) {
        try {
          process.kill(Number(fs.readFileSync(path.join(dir, 'state', 'tasks', String(f)), 'utf8')), 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
    fs.rmSync(sockDir, { recursive: true, force: true });
  });

  it('creates a bundle, starts the shim as containerd does, and drives the task', async () => {
    const m = manager();
    const ns = 'ns1';
    const { task, pid } = await m.create(ns, 't1', opts());
    expect(pid).toBeGreaterThan(0);
    const bundle = path.join(dir, 'state', 'tasks', ns, 't1');
    // Bundle layout.
    expect(fs.readFileSync(path.join(bundle, 'config.json'))).toEqual(SPEC);
    expect(fs.statSync(bundle).mode & 0o777).toBe(0o700);
    expect(fs.statSync(path.join(bundle, 'rootfs')).isDirectory()).toBe(true);
    expect(fs.readlinkSync(path.join(bundle, 'work'))).toBe(path.join(dir, 'root', 'tasks', ns, 't1'));
    expect(fs.readFileSync(path.join(bundle, 'shim-binary-path'), 'utf8')).toBe(shimPath);
    expect(fs.statSync(path.join(bundle, 'log')).isFIFO()).toBe(true);
    // The start command line, environment and stdin.
    const start = JSON.parse(fs.readFileSync(path.join(bundle, 'start-args.json'), 'utf8')) as {
      flags: Record<string, string | boolean>;
      env: Record<string, string>;
      cwd: string;
    };
    expect(start.flags).toEqual({ namespace: ns, address: path.join(dir, 'berthd.sock'), 'publish-binary': '/bin/true', id: 't1', debug: true });
    expect(start.env).toEqual({ TTRPC_ADDRESS: path.join(dir, 'berthd.sock.ttrpc'), GOMAXPROCS: '2' });
    expect(start.cwd).toBe(bundle);
    const options = decodeMessage<{ type_url: string; value: Buffer }>('google.protobuf.Any', fs.readFileSync(path.join(bundle, 'options.bin')));
    expect(options.type_url).toBe('containerd.runc.v1.Options');
    // Task.Create got the bundle, rootfs mounts, stdio and options.
    const create = JSON.parse(fs.readFileSync(path.join(bundle, 'create.json'), 'utf8')) as Record<string, unknown>;
    expect(create).toMatchObject({ id: 't1', bundle, stdout: '/dev/null', terminal: false });
    expect(create.rootfs).toEqual([{ type: 'bind', source: '/nonexistent', target: '', options: ['rbind'] }]);

    const shim = await shimPidOf(m, ns, 't1');
    expect(m.list(ns).map((t) => t.id)).toEqual(['t1']);
    expect((await task.state('')).status).toBe('CREATED');
    expect(await task.start('')).toBe(pid);
    expect(await task.state('')).toMatchObject({ id: 't1', pid, status: 'RUNNING', stdout: '/dev/null' });
    expect(await task.pids()).toEqual([{ pid, info: null }]);
    expect((await task.stats())?.type_url).toBe('fake.Stats');

    // Errors keep their class: a method the shim lacks is NotImplemented.
    await expect(task.pause()).rejects.toBeInstanceOf(NotImplementedError);
    await expect(task.state('nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(m.create(ns, 't1', opts())).rejects.toThrow(new AlreadyExistsError('task t1'));
    // Delete of a running task: the shim's Unknown error, as errdefs.FromGRPC reads it.
    const running = await m.delete(ns, 't1').catch((e: unknown) => e);
    expect(running).toBeInstanceOf(UnknownError);
    expect((running as Error).message).toBe('failed to delete task: cannot delete a running process: unknown');

    const waiting = task.wait('');
    await task.kill('', 9, false);
    expect(await waiting).toMatchObject({ exitStatus: 137 });
    await expect(task.kill('', 9, false)).rejects.toThrow('process already finished: not found');
    expect(await task.state('')).toMatchObject({ status: 'STOPPED', exitStatus: 137 });
    expect(await m.delete(ns, 't1')).toMatchObject({ pid, exitStatus: 137 });
    expect(m.find(ns, 't1')).toBeUndefined();
    expect(fs.existsSync(bundle)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'root', 'tasks', ns, 't1'))).toBe(false);
    // Shutdown made the shim exit.
    await until('shim exit', () => (alive(shim) ? undefined : true));
    expect(events).toEqual([]);
  });

  it('a failed Task.Create: containerd\'s error text, shim shut down, nothing left', async () => {
    const m = manager();
    const err = await m.create('ns2', 'willfail', opts()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownError);
    expect((err as Error).message).toBe('failed to create shim task: OCI runtime create failed: fake: unknown');
    expect(m.find('ns2', 'willfail')).toBeUndefined();
    expect(fs.existsSync(path.join(dir, 'state', 'tasks', 'ns2', 'willfail'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'root', 'tasks', 'ns2', 'willfail'))).toBe(false);
  });

  it('a failed start: the shim\'s output in the error, nothing left', async () => {
    const m = manager();
    process.env.FAKE_SHIM_START_FAIL = '1';
    const err = await m.create('ns3', 'nostart', opts()).catch((e: unknown) => e);
    expect((err as Error).message).toBe('failed to start shim: start failed: boom\n: exit status 1');
    expect(fs.existsSync(path.join(dir, 'state', 'tasks', 'ns3', 'nostart'))).toBe(false);
    const missing = await m.create('ns3', 'noshim', opts({ runtime: 'io.containerd.missing.v1' })).catch((e: unknown) => e);
    expect((missing as Error).message).toBe(
      'failed to start shim: failed to resolve runtime path: runtime "io.containerd.missing.v1" binary not installed "containerd-shim-missing-v1": file does not exist',
    );
    const badId = await m.create('ns3', 'bad id', opts()).catch((e: unknown) => e);
    expect((badId as Error).message).toMatch(/^failed to start shim: invalid task id bad id: identifier "bad id" must match/);
  });

  it('a shim that dies: its delete runs, /tasks/exit and /tasks/delete, the task reads stopped until deleted', async () => {
    const m = manager();
    const ns = 'ns4';
    const { task, pid } = await m.create(ns, 'dies', opts());
    await task.start('');
    const shim = await shimPidOf(m, ns, 'dies');
    const waiting = task.wait('');
    process.kill(shim, 'SIGKILL');
    // A Wait in flight answers with what the shim's delete reported.
    expect(await waiting).toMatchObject({ pid, exitStatus: 137 });
    const stopped = await until('stopped record', () => {
      const t = m.find(ns, 'dies');
      return t instanceof StoppedTask ? t : undefined;
    });
    expect(await stopped.state('')).toMatchObject({ status: 'STOPPED', exitStatus: 137, pid });
    expect(events.map((e) => [e.ns, e.topic])).toEqual([
      [ns, '/tasks/exit'],
      [ns, '/tasks/delete'],
    ]);
    expect(events[0]?.event).toMatchObject({ container_id: 'dies', id: 'dies', pid, exit_status: 137 });
    expect(events[1]?.event).toMatchObject({ container_id: 'dies', id: '', pid, exit_status: 137 });
    expect(alive(pid)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'state', 'tasks', ns, 'dies'))).toBe(false);
    await expect(stopped.kill('', 9, false)).rejects.toThrow('process already finished: not found');
    expect(await m.delete(ns, 'dies')).toMatchObject({ exitStatus: 137 });
    expect(m.find(ns, 'dies')).toBeUndefined();
  });

  it('reconnects after a restart; a shim gone meanwhile is cleaned up at load', async () => {
    const first = manager();
    const ns = 'ns5';
    const a = await first.create(ns, 'live', opts());
    await a.task.start('');
    const b = await first.create(ns, 'lost', opts());
    await b.task.start('');
    const lostShim = await shimPidOf(first, ns, 'lost');
    // berthd stops: connections close, shims and tasks stay.
    first.close();
    await sleep(50);
    expect(alive(a.pid)).toBe(true);
    process.kill(lostShim, 'SIGKILL');
    await until('lost shim gone', () => (alive(lostShim) ? undefined : true));

    const second = manager();
    await second.load();
    const live = second.find(ns, 'live');
    expect(live?.pid).toBe(a.pid);
    expect(await live?.state('')).toMatchObject({ status: 'RUNNING', pid: a.pid });
    const lost = second.find(ns, 'lost');
    expect(lost).toBeInstanceOf(StoppedTask);
    expect(await lost?.state('')).toMatchObject({ status: 'STOPPED', exitStatus: 137, pid: b.pid });
    expect(events.map((e) => e.topic)).toEqual(['/tasks/exit', '/tasks/delete']);
    expect(fs.existsSync(path.join(dir, 'state', 'tasks', ns, 'lost'))).toBe(false);
    expect(fs.existsSync(path.join(dir, 'root', 'tasks', ns, 'lost'))).toBe(false);
    expect(alive(b.pid)).toBe(false);

    await live?.kill('', 9, false);
    await live?.wait('');
    expect(await second.delete(ns, 'live')).toMatchObject({ exitStatus: 137 });
    expect(await second.delete(ns, 'lost')).toMatchObject({ exitStatus: 137 });
    expect(second.list(ns)).toEqual([]);
  });

  it('a bundle without a shim address or container is dropped at load', async () => {
    const ns = 'ns6';
    const orphan = path.join(dir, 'state', 'tasks', ns, 'orphan');
    fs.mkdirSync(path.join(orphan, 'rootfs'), { recursive: true });
    fs.writeFileSync(path.join(orphan, 'config.json'), '{}');
    fs.mkdirSync(path.join(dir, 'state', 'tasks', ns, 'empty'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'root', 'tasks', ns, `stale-${randomBytes(2).toString('hex')}`), { recursive: true });
    const m = manager();
    await m.load();
    expect(m.list(ns)).toEqual([]);
    expect(fs.existsSync(orphan)).toBe(false);
    expect(fs.existsSync(path.join(dir, 'state', 'tasks', ns, 'empty'))).toBe(false);
    expect(fs.readdirSync(path.join(dir, 'root', 'tasks', ns))).toEqual([]);
  });
});
