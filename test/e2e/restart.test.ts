import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage, busyboxLayer } from '../fixtures/images';
import {
  ctr,
  ctrOk,
  ctrSpawn,
  isAlive,
  makeTempRoot,
  mountsBelow,
  sleep,
  startBerthd,
  startContainerd,
  waitForPidExit,
  type BerthdHandle,
  type ContainerdHandle,
  type CtrResult,
  type DaemonHandle,
  type TempRoot,
  RUNC,
  removeFifoDirs,
  removeRuncLeftovers,
} from '../harness';

// Tasks outlive berthd: SIGKILL or SIGTERM berthd with tasks running, start it again, and
// it reconnects to their shims (runtime v2 reconnect). A shim that dies — while berthd
// runs or while it is down — is cleaned up: its `delete` runs, the bundle and rootfs
// mount go, and the task reads as stopped until `ctr task rm`.
// Where containerd behaves the same, the same steps run on a real containerd too.

const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC_SHIM) && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');

const RUN_ID = `${process.pid}-${randomBytes(2).toString('hex')}`;
const IMAGE = 'docker.io/library/berth-restart:1';

interface Side {
  name: 'berthd' | 'containerd';
  daemon: DaemonHandle;
  address: string;
  ns: string;
  bundles: string;
  state: string;
}

let tmp: TempRoot;
let berthd: BerthdHandle;
let containerd: ContainerdHandle;
let B: Side;
let C: Side;
const used = new Map<Side, Set<string>>();

function uid(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

function track(side: Side, id: string): string {
  let s = used.get(side);
  if (!s) used.set(side, (s = new Set()));
  s.add(id);
  return id;
}

function run(side: Side, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CtrResult> {
  return ctr(side.address, args, { namespace: side.ns, ...opts });
}

function ok(side: Side, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CtrResult> {
  return ctrOk(side.address, args, { namespace: side.ns, ...opts });
}

async function taskLine(side: Side, id: string): Promise<{ pid: number; status: string } | undefined> {
  const r = await ok(side, ['task', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  if (!line) return undefined;
  const [, pid, status] = line.split(/\s+/);
  return { pid: Number(pid), status: status ?? '' };
}

async function untilStatus(side: Side, id: string, status: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const t = await taskLine(side, id);
    if (t?.status === status) return;
    if (Date.now() > deadline) throw new Error(`${side.name}: task ${id} is ${t?.status ?? 'absent'}, not ${status}`);
    await sleep(100);
  }
}

async function removeTask(side: Side, id: string): Promise<void> {
  await run(side, ['task', 'kill', '-s', 'SIGKILL', id]);
  await run(side, ['task', 'rm', '-f', id], { timeoutMs: 20_000 });
  await run(side, ['containers', 'rm', id]);
}

/** The parent of a task's init: its shim (the runc shim is the init's parent/subreaper). */
function parentPid(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
}

function shimSocketOf(side: Side, id: string): string | undefined {
  try {
    const a = fs.readFileSync(path.join(side.bundles, id, 'address'), 'utf8').trim();
    return a.startsWith('unix://') ? a.slice('unix://'.length) : undefined;
  } catch {
    return undefined;
  }
}

function expectNoLeaks(side: Side, id: string): void {
  expect(fs.existsSync(path.join(side.bundles, id)), `${side.name} bundle of ${id}`).toBe(false);
  expect(mountsBelow(side.state).map((m) => m.mountPoint).filter((p) => p.includes(`/${id}/`))).toEqual([]);
}

/** SIGKILL the daemon, then start it again on the same root, state and socket. */
async function crash(side: Side): Promise<void> {
  await side.daemon.kill();
  await side.daemon.restart();
}



describe.skipIf(!canRun)('tasks across daemon restarts and shim deaths', () => {
  beforeAll(async () => {
    tmp = makeTempRoot('berth-restart-');
    const config = path.join(tmp.path, 'berthd.toml');
    fs.writeFileSync(config, `version = 1\n[runtimes."io.containerd.runc.v2"]\nshim = "${RUNC_SHIM}"\n`);
    [berthd, containerd] = await Promise.all([startBerthd({ config }), startContainerd()]);
    const nsB = `br-${RUN_ID}-b`;
    const nsC = `br-${RUN_ID}-c`;
    B = { name: 'berthd', daemon: berthd, address: berthd.address, ns: nsB, bundles: path.join(berthd.state, 'tasks', nsB), state: berthd.state };
    C = {
      name: 'containerd',
      daemon: containerd,
      address: containerd.address,
      ns: nsC,
      bundles: path.join(containerd.state, 'io.containerd.runtime.v2.task', nsC),
      state: containerd.state,
    };
    const img = await buildOciImage({ name: IMAGE, layers: [await busyboxLayer()], config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
    const tar = path.join(tmp.path, 'image.tar');
    fs.writeFileSync(tar, img.archive);
    await Promise.all([ok(B, ['images', 'import', tar], { timeoutMs: 60_000 }), ok(C, ['images', 'import', tar], { timeoutMs: 60_000 })]);
  }, 120_000);

  afterAll(async () => {
    for (const side of [B, C]) {
      if (!side) continue;
      if (side.daemon.running()) for (const id of used.get(side) ?? []) await removeTask(side, id).catch(() => undefined);
    }
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
    for (const side of [B, C]) {
      if (!side) continue;
      removeRuncLeftovers(side.ns);
      removeFifoDirs(used.get(side) ?? new Set());
    }
    await tmp?.cleanup();
  }, 120_000);

  it('a running task survives a SIGKILLed daemon: same pid, exec and kill work (both daemons)', async () => {
    for (const side of [B, C]) {
      const id = track(side, uid('live'));
      await ok(side, ['run', '-d', IMAGE, id, 'sleep', '1000']);
      const before = await taskLine(side, id);
      expect(before?.status).toBe('RUNNING');
      await crash(side);
      const after = await taskLine(side, id);
      expect(after, side.name).toEqual({ pid: before?.pid, status: 'RUNNING' });
      expect(isAlive(before?.pid ?? 0)).toBe(true);
      const ex = await run(side, ['task', 'exec', '--exec-id', 'after', id, 'sh', '-c', 'echo still here; exit 6']);
      expect(ex.stdout).toBe('still here\n');
      expect(ex.code).toBe(6);
      await ok(side, ['task', 'kill', '-s', 'SIGKILL', id]);
      await untilStatus(side, id, 'STOPPED');
      expect(await waitForPidExit(before?.pid ?? 0, 5_000)).toBe(true);
      const rm = await ok(side, ['task', 'rm', id]);
      expect(rm.stderr).toContain('exit code 137');
      await ok(side, ['containers', 'rm', id]);
      expectNoLeaks(side, id);
    }
  });

  it('a task that exits while the daemon is down reads STOPPED with its exit status (both daemons)', async () => {
    for (const side of [B, C]) {
      const id = track(side, uid('gone'));
      // The task waits for a file the test creates once the daemon is down.
      await ok(side, ['run', '-d', IMAGE, id, 'sh', '-c', 'while [ ! -e /go ]; do sleep 0.05; done; exit 7']);
      const t = await taskLine(side, id);
      expect(t?.status).toBe('RUNNING');
      await side.daemon.kill();
      // The container's root, reached through the init's /proc entry.
      fs.writeFileSync(`/proc/${t?.pid}/root/go`, '');
      expect(await waitForPidExit(t?.pid ?? 0, 10_000)).toBe(true);
      await side.daemon.restart();
      expect(await taskLine(side, id), side.name).toEqual({ pid: t?.pid, status: 'STOPPED' });
      const rm = await ok(side, ['task', 'rm', id]);
      expect(rm.stderr).toContain('exit code 7');
      await ok(side, ['containers', 'rm', id]);
      expectNoLeaks(side, id);
    }
  });

  it('a graceful stop (SIGTERM) leaves tasks running', async () => {
    const id = track(B, uid('term'));
    await ok(B, ['run', '-d', IMAGE, id, 'sleep', '1000']);
    const t = await taskLine(B, id);
    expect(await berthd.stop()).toBe(0);
    expect(isAlive(t?.pid ?? 0)).toBe(true);
    // A bundle renamed away for removal when a crash stopped its deletion goes at start.
    const leftover = path.join(B.bundles, '.gone-0badc0de');
    fs.mkdirSync(path.join(leftover, 'rootfs'), { recursive: true });
    fs.writeFileSync(path.join(leftover, 'config.json'), '{}');
    await berthd.restart();
    expect(fs.existsSync(leftover)).toBe(false);
    expect(await taskLine(B, id)).toEqual({ pid: t?.pid, status: 'RUNNING' });
    await removeTask(B, id);
    expectNoLeaks(B, id);
  });

  it('a SIGKILLed shim: /tasks/exit and /tasks/delete, task STOPPED, ctr task rm works, nothing leaked', async () => {
    const id = track(B, uid('shimkill'));
    await ok(B, ['run', '-d', IMAGE, id, 'sleep', '1000']);
    const t = await taskLine(B, id);
    const pid = t?.pid ?? 0;
    const shim = parentPid(pid);
    expect(fs.readFileSync(`/proc/${shim}/cmdline`, 'utf8')).toContain('containerd-shim-runc-v2');
    const socket = shimSocketOf(B, id);
    expect(socket).toBeDefined();
    const rootfs = path.join(B.bundles, id, 'rootfs');
    expect(mountsBelow(rootfs)).toHaveLength(1);

    const events = ctrSpawn(B.address, ['events', `namespace==${B.ns},topic~=|^/tasks/|`]);
    try {
      await sleep(300);
      process.kill(shim, 'SIGKILL');
      await events.waitForLine((l) => l.includes('/tasks/delete') && l.includes(id), 15_000);
      // This task's events after its start. (The subscription is the first since the
      // restart above, so it also gets what berthd held for the clients since then: the
      // earlier test's task, and this one's create and start.)
      const lines = events.lines().filter((l) => l.includes(id) && !/ \/tasks\/(create|start) /.test(l));
      expect(lines.map((l) => / (\/tasks\/\S+) /.exec(l)?.[1])).toEqual(['/tasks/exit', '/tasks/delete']);
      const exit = JSON.parse(lines[0]?.slice(lines[0].indexOf('{')) ?? '{}') as Record<string, unknown>;
      expect(exit).toMatchObject({ container_id: id, id, pid, exit_status: 137 });
    } finally {
      await events.stop();
    }
    // runc delete --force (the shim's `delete`) killed the container.
    expect(await waitForPidExit(pid, 5_000)).toBe(true);
    expect(await taskLine(B, id)).toEqual({ pid, status: 'STOPPED' });
    expectNoLeaks(B, id);
    expect(socket && fs.existsSync(socket)).toBe(false);
    const rm = await ok(B, ['task', 'rm', id]);
    expect(rm.stderr).toContain('exit code 137');
    expect(await taskLine(B, id)).toBeUndefined();
    await ok(B, ['containers', 'rm', id]);
  });

  it('a shim killed while the daemon is down: cleaned up at start, STOPPED, rm works', async () => {
    const id = track(B, uid('downkill'));
    await ok(B, ['run', '-d', IMAGE, id, 'sleep', '1000']);
    const t = await taskLine(B, id);
    const pid = t?.pid ?? 0;
    const shim = parentPid(pid);
    const socket = shimSocketOf(B, id);
    await berthd.kill();
    process.kill(shim, 'SIGKILL');
    expect(await waitForPidExit(shim, 5_000)).toBe(true);
    await berthd.restart();
    const after = await taskLine(B, id);
    expect(after?.status).toBe('STOPPED');
    expect(await waitForPidExit(pid, 5_000)).toBe(true);
    expectNoLeaks(B, id);
    expect(socket && fs.existsSync(socket)).toBe(false);
    expect(fs.existsSync(path.join(berthd.root, 'tasks', B.ns, id))).toBe(false);
    const rm = await ok(B, ['task', 'rm', id]);
    expect(rm.stderr).toContain('exit code 137');
    await ok(B, ['containers', 'rm', id]);
    expect(await taskLine(B, id)).toBeUndefined();
  });

  it('containerd, for comparison, forgets a task whose shim was SIGKILLed', async () => {
    const id = track(C, uid('shimkill'));
    await ok(C, ['run', '-d', IMAGE, id, 'sleep', '1000']);
    const t = await taskLine(C, id);
    const shim = parentPid(t?.pid ?? 0);
    const socket = shimSocketOf(C, id);
    process.kill(shim, 'SIGKILL');
    for (let i = 0; i < 50 && (await taskLine(C, id)) !== undefined; i++) await sleep(100);
    expect(await taskLine(C, id)).toBeUndefined();
    const rm = await run(C, ['task', 'rm', id]);
    expect(rm.code).not.toBe(0);
    expect(rm.stderr).toContain('not found');
    await ok(C, ['containers', 'rm', id]);
    // containerd removes the bundle just after it drops the task.
    for (let i = 0; i < 50 && fs.existsSync(path.join(C.bundles, id)); i++) await sleep(100);
    expectNoLeaks(C, id);
    if (socket) fs.rmSync(socket, { force: true }); // containerd leaves the dead shim's socket
  });
});
