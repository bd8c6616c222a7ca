import { createHash, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isAlive, makeBusyboxRootfs, makeTempRoot, spawnProcess, waitForPidExit, type TempRoot, RUNC } from '../harness';
import { TtrpcClient, TtrpcClosedError, TtrpcServer, TtrpcStatusError, statusOf, type CallContext } from '../../src/ttrpc';
import { NotFoundError, NotImplementedError } from '../../src/errdefs/errors';
import { decodeMessage } from '../../src/proto/registry';
import type { ConnectResponse__Output } from '../../src/generated/types/containerd/task/v2/ConnectResponse';
import type { CreateTaskResponse__Output } from '../../src/generated/types/containerd/task/v2/CreateTaskResponse';
import type { StartResponse__Output } from '../../src/generated/types/containerd/task/v2/StartResponse';
import type { StateResponse__Output } from '../../src/generated/types/containerd/task/v2/StateResponse';
import type { WaitResponse__Output } from '../../src/generated/types/containerd/task/v2/WaitResponse';
import type { DeleteResponse__Output } from '../../src/generated/types/containerd/task/v2/DeleteResponse';
import type { ForwardRequest__Output } from '../../src/generated/types/containerd/services/events/ttrpc/v1/ForwardRequest';

// Interoperability with a real Go ttrpc peer: containerd 1.6's own runc shim. berth's
// TtrpcClient drives its containerd.task.v2.Task service through a busybox container's
// whole life, and berth's TtrpcServer at TTRPC_ADDRESS receives the shim's events
// (containerd.services.events.ttrpc.v1.Events/Forward).
//
// The shim hard-codes /run/containerd/s/ (its socket) and /run/containerd/runc/<ns>
// (runc state): the namespace is unique to this run and only what it created is removed.

const SHIM = '/usr/bin/containerd-shim-runc-v2';
const TASK = 'containerd.task.v2.Task';
const canRun = process.getuid?.() === 0 && fs.existsSync(SHIM) && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');

const NS = `berth-ttrpc-${process.pid}-${randomBytes(3).toString('hex')}`;
const ID = 'c1';

interface ForwardedEvent {
  envelope: NonNullable<ForwardRequest__Output['envelope']>;
  namespace?: string;
  metadata: Record<string, string[]>;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => T | undefined, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

describe.skipIf(!canRun)('ttrpc interop with containerd-shim-runc-v2 (Go ttrpc 1.1)', () => {
  let tmp: TempRoot;
  let bundle: string;
  let grpcAddress: string;
  let eventsServer: TtrpcServer;
  let logReader: net.Socket | undefined;
  let logText = '';
  const events: ForwardedEvent[] = [];
  let shimAddress = '';
  let shimSocketPath = '';
  let shimPid = 0;
  let client: TtrpcClient | undefined;

  beforeAll(async () => {
    tmp = makeTempRoot('ttrpc-shim-');
    grpcAddress = path.join(tmp.path, 'containerd.sock');
    bundle = path.join(tmp.path, NS, ID); // the shim's cleanup expects <…>/<id>
    fs.mkdirSync(bundle, { recursive: true, mode: 0o700 });
    makeBusyboxRootfs(path.join(bundle, 'rootfs'));
    execFileSync(RUNC, ['spec', '--bundle', bundle]);
    const spec = JSON.parse(fs.readFileSync(path.join(bundle, 'config.json'), 'utf8')) as {
      process: { terminal: boolean; args: string[] };
      linux: { cgroupsPath?: string };
      hostname: string;
    };
    spec.process.terminal = false;
    spec.process.args = ['sh', '-c', 'echo hello from busybox; exec sleep 60'];
    spec.linux.cgroupsPath = `/${NS}/${ID}`;
    spec.hostname = ID;
    fs.writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(spec));

    // The shim dup2s <bundle>/log onto its stderr (blocking O_WRONLY open): be its reader,
    // opened O_RDWR|O_NONBLOCK as containerd does.
    execFileSync('mkfifo', ['-m', '0700', path.join(bundle, 'log')]);
    const fd = fs.openSync(path.join(bundle, 'log'), fs.constants.O_RDWR | fs.constants.O_NONBLOCK);
    logReader = new net.Socket({ fd, readable: true, writable: false });
    logReader.on('data', (b: Buffer) => (logText += b.toString()));
    logReader.on('error', () => undefined);

    // containerd's side of TTRPC_ADDRESS: the events Forward service.
    eventsServer = new TtrpcServer();
    eventsServer.register('containerd.services.events.ttrpc.v1.Events', {
      Forward: async (req: ForwardRequest__Output, ctx: CallContext) => {
        if (req.envelope) events.push({ envelope: req.envelope, namespace: ctx.namespace, metadata: ctx.metadata });
        return {};
      },
    });
    await eventsServer.listen(grpcAddress + '.ttrpc');

    const start = spawnProcess(SHIM, ['-namespace', NS, '-address', grpcAddress, '-publish-binary', '/usr/bin/containerd', '-id', ID, 'start'], {
      cwd: bundle,
      env: { ...process.env, TTRPC_ADDRESS: grpcAddress + '.ttrpc', GOMAXPROCS: '2' },
      input: '',
    });
    const st = await start.exited;
    if (st.code !== 0) throw new Error(`shim start failed (${JSON.stringify(st)}): ${start.output()} ${logText}`);
    shimAddress = start.stdout().trim();
    shimSocketPath = shimAddress.replace(/^unix:\/\//, '');
  });

  afterAll(async () => {
    client?.close();
    if (shimPid > 0 && isAlive(shimPid)) {
      process.kill(shimPid, 'SIGKILL');
      await waitForPidExit(shimPid, 5000);
    }
    const runcRoot = path.join('/run/containerd/runc', NS);
    if (fs.existsSync(path.join(runcRoot, ID))) {
      try {
        execFileSync(RUNC, ['--root', runcRoot, 'delete', '--force', ID], { stdio: 'ignore' });
      } catch {
        // already gone
      }
    }
    fs.rmSync(runcRoot, { recursive: true, force: true });
    if (shimSocketPath.startsWith('/run/containerd/s/')) fs.rmSync(shimSocketPath, { force: true });
    for (const ctrl of fs.existsSync('/sys/fs/cgroup') ? fs.readdirSync('/sys/fs/cgroup') : []) {
      for (const d of [path.join('/sys/fs/cgroup', ctrl, NS, ID), path.join('/sys/fs/cgroup', ctrl, NS)]) {
        try {
          fs.rmdirSync(d);
        } catch {
          // not created on this controller, or already removed
        }
      }
    }
    logReader?.destroy();
    await eventsServer?.close();
    await tmp?.cleanup();
  });

  it('start prints the socket address containerd would compute', () => {
    const digest = createHash('sha256').update(path.join(grpcAddress, NS, ID)).digest('hex');
    expect(shimAddress).toBe(`unix:///run/containerd/s/${digest}`);
    expect(fs.readFileSync(path.join(bundle, 'address'), 'utf8')).toBe(shimAddress);
  });

  it('Connect answers over berth TtrpcClient', async () => {
    client = await TtrpcClient.connect(shimAddress);
    const r = await client.call<ConnectResponse__Output>(TASK, 'Connect', { id: ID });
    expect(r.shim_pid).toBeGreaterThan(0);
    expect(r.task_pid).toBe(0);
    shimPid = r.shim_pid;
    expect(isAlive(shimPid)).toBe(true);
  });

  it('errors from the Go server map to berth error classes', async () => {
    const c = client as TtrpcClient;
    const err = await c.call(TASK, 'State', { id: 'nope' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(statusOf(err)?.code).toBe(5);
    // Unknown method: Go ttrpc answers Unimplemented "method X".
    const un = await c.callRaw(TASK, 'Bogus', Buffer.alloc(0)).catch((e: unknown) => e);
    expect(un).toBeInstanceOf(NotImplementedError);
    expect(statusOf(un)).toEqual({ code: 12, message: 'method Bogus' });
    const us = await c.callRaw('no.such.Service', 'X', Buffer.alloc(0)).catch((e: unknown) => e);
    expect(statusOf(us)).toEqual({ code: 12, message: 'service no.such.Service' });
  });

  it('runs a busybox container: Create, Start, State, Kill, Wait, Delete', async () => {
    const c = client as TtrpcClient;
    const out = path.join(tmp.path, 'stdout.txt');
    const created = await c.call<CreateTaskResponse__Output>(TASK, 'Create', { id: ID, bundle, stdout: `file://${out}`, stderr: `file://${out}` }, { timeoutMs: 30_000 });
    expect(created.pid).toBeGreaterThan(0);

    let st = await c.call<StateResponse__Output>(TASK, 'State', { id: ID }, { timeoutMs: 2000 });
    expect(st).toMatchObject({ id: ID, bundle, pid: created.pid, status: 'CREATED' });

    const started = await c.call<StartResponse__Output>(TASK, 'Start', { id: ID });
    expect(started.pid).toBe(created.pid);
    st = await c.call<StateResponse__Output>(TASK, 'State', { id: ID });
    expect(st.status).toBe('RUNNING');
    await until('container output', () => (fs.existsSync(out) && fs.readFileSync(out, 'utf8').includes('hello from busybox') ? true : undefined));

    // Multiplexing against the Go server: many calls in flight on the one connection.
    const many = await Promise.all(Array.from({ length: 50 }, () => c.call<StateResponse__Output>(TASK, 'State', { id: ID })));
    expect(many.every((s) => s.pid === created.pid && s.status === 'RUNNING')).toBe(true);

    // A local deadline: Wait blocks in the shim; our call gives up, the connection stays usable
    // and the late answer is dropped.
    const early = await c.call(TASK, 'Wait', { id: ID }, { timeoutMs: 200 }).catch((e: unknown) => e);
    expect(early).toBeInstanceOf(TtrpcStatusError);
    expect(statusOf(early)).toBeUndefined();
    expect((early as TtrpcStatusError).code).toBe(4);

    const waiting = c.call<WaitResponse__Output>(TASK, 'Wait', { id: ID });
    await c.call(TASK, 'Kill', { id: ID, signal: 9 });
    const waited = await waiting;
    expect(waited.exit_status).toBe(137);
    expect(waited.exited_at?.seconds).toBeGreaterThan(0);

    st = await c.call<StateResponse__Output>(TASK, 'State', { id: ID });
    expect(st).toMatchObject({ status: 'STOPPED', exit_status: 137 });

    const del = await c.call<DeleteResponse__Output>(TASK, 'Delete', { id: ID });
    expect(del).toMatchObject({ pid: created.pid, exit_status: 137 });

    const gone = await c.call(TASK, 'Kill', { id: ID, signal: 9 }).catch((e: unknown) => e);
    expect(gone).toBeInstanceOf(NotFoundError);
  });

  it('the shim forwarded /tasks/create, start, exit, delete to our Events server', async () => {
    const want = ['/tasks/create', '/tasks/start', '/tasks/exit', '/tasks/delete'];
    await until('4 task events', () => (want.every((t) => events.some((e) => e.envelope.topic === t)) ? true : undefined));
    const topics = events.map((e) => e.envelope.topic).filter((t) => want.includes(t));
    expect(topics).toEqual(want);
    for (const e of events) {
      expect(e.envelope.namespace).toBe(NS);
      expect(e.namespace).toBe(NS); // request metadata containerd-namespace-ttrpc
      expect(e.metadata['containerd-namespace-ttrpc']).toEqual([NS]);
      expect(e.envelope.timestamp?.seconds).toBeGreaterThan(0);
    }
    const exit = events.find((e) => e.envelope.topic === '/tasks/exit');
    expect(exit?.envelope.event?.type_url).toBe('containerd.events.TaskExit');
    const payload = decodeMessage<{ container_id: string; id: string; exit_status: number }>(
      'containerd.events.TaskExit',
      exit?.envelope.event?.value ?? Buffer.alloc(0),
    );
    expect(payload).toMatchObject({ container_id: ID, id: ID, exit_status: 137 });
    const create = events.find((e) => e.envelope.topic === '/tasks/create');
    expect(create?.envelope.event?.type_url).toBe('containerd.events.TaskCreate');
  });

  it('Shutdown makes the shim exit; the client sees the connection close', async () => {
    const c = client as TtrpcClient;
    const r = await c.call(TASK, 'Shutdown', { id: ID }).then(
      () => 'ok',
      (e: unknown) => e,
    );
    if (r !== 'ok') expect(r).toBeInstanceOf(TtrpcClosedError);
    expect(await waitForPidExit(shimPid, 10_000)).toBe(true);
    await c.waitClosed();
    const after = await c.call(TASK, 'Connect', { id: ID }).catch((e: unknown) => e);
    expect(after).toBeInstanceOf(TtrpcClosedError);
    // The shim removes its socket on the way out.
    await until('shim socket removal', () => (fs.existsSync(shimSocketPath) ? undefined : true), 5000);
  });
});
