// containerd.WithShimCgroup (containerd.runc.v1.Options.shim_cgroup) through the Go client,
// side by side: containerd puts the task's shim in that cgroup; berthd must too — with a
// shim process of the task's own (berth's shared shim stays the default for other tasks
// and is never moved), also after a berthd restart, and gone once its task is deleted.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, runGoProgram, sleep, RUNC } from '../harness';
import { ctrOn as run, removeTask, SideBySide, uid, type Side as PlainSide } from './sides';

const RUN_ID = `${process.pid}-${randomBytes(2).toString('hex')}`;
const IMAGE = 'docker.io/library/berth-shimcg:1';
const CGROUP_ROOT = '/sys/fs/cgroup';
const UNIFIED = fs.existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'));
/** cgroup v1 (or hybrid): the hierarchies the test cgroup is made in. */
const V1_HIERARCHIES = ['pids', 'memory'];
const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/usr/bin/containerd-shim-runc-v2') && (UNIFIED || V1_HIERARCHIES.every((h) => fs.existsSync(path.join(CGROUP_ROOT, h))));

interface Side extends PlainSide {
  /** The shim cgroup of this side's tasks, e.g. /berth-shimcg-<run>-b. */
  readonly cgroup: string;
}
let pair: SideBySide<Side>;
let B: Side;
let C: Side;
let bin: string;
const track = (s: Side, name: string): string => pair.track(s, uid(name));

/** The directories of a cgroup path: one (v2) or one per hierarchy used (v1). */
function cgroupDirs(cg: string): string[] {
  const rel = cg.replace(/^\/+/, '');
  return UNIFIED ? [path.join(CGROUP_ROOT, rel)] : V1_HIERARCHIES.map((h) => path.join(CGROUP_ROOT, h, rel));
}

/** Pids in the cgroup, per directory (v1: every hierarchy must hold the same ones). */
function procsIn(cg: string): number[][] {
  return cgroupDirs(cg).map((d) =>
    fs
      .readFileSync(path.join(d, 'cgroup.procs'), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .sort((a, b) => a - b),
  );
}

function cmdline(pid: number): string {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ');
  } catch {
    return '';
  }
}

/** berthd: the pid of the shim serving a task, from its bundle's address and <socket>.pid. */
function berthShimPid(id: string): number {
  const address = fs.readFileSync(path.join(pair.berthd.state, 'tasks', B.ns, id, 'address'), 'utf8').trim();
  return Number(fs.readFileSync(`${address.replace(/^unix:\/\//, '')}.pid`, 'utf8').trim().split(/\s+/)[0]);
}

async function waitEmpty(cg: string, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (procsIn(cg).every((p) => p.length === 0)) return true;
    if (Date.now() >= deadline) return false;
    await sleep(50);
  }
}

const startDetached = (s: Side, id: string, shimCgroup: string | undefined, extra: string[] = []) =>
  runGoProgram(bin, ['-address', s.address, '-namespace', s.ns, '-image', IMAGE, '-id', id, '-detach', ...(shimCgroup ? ['-shim-cgroup', shimCgroup] : []), ...extra, '--', 'sleep', '300']);

describe.skipIf(!canRun)('WithShimCgroup on berthd next to containerd', () => {
  beforeAll(async () => {
    const cg = `/berth-shimcg-${RUN_ID}`;
    pair = await SideBySide.start({ prefix: 'scg', image: IMAGE, sides: ({ B, C }) => ({ B: { ...B, cgroup: `${cg}-b` }, C: { ...C, cgroup: `${cg}-c` } }) });
    ({ B, C } = pair);
    for (const s of [B, C]) for (const d of cgroupDirs(s.cgroup)) fs.mkdirSync(d);
    bin = await buildGoProgram('runtimeopts');
  }, 300_000);

  afterAll(async () => {
    await pair?.cleanup();
    for (const s of [B, C]) {
      if (!s) continue;
      // Shims leave their cgroup when they exit; give the last ones a moment.
      await waitEmpty(s.cgroup, 10_000).catch(() => false);
      for (const d of cgroupDirs(s.cgroup)) {
        try {
          fs.rmdirSync(d);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
        }
      }
    }
  }, 120_000);

  it('puts the task\'s shim, and only it, in the cgroup; it leaves with the task', async () => {
    const ids = new Map([B, C].map((s) => [s, track(s, 'cg')]));
    const started = await Promise.all([B, C].map((s) => startDetached(s, ids.get(s)!, s.cgroup)));
    for (const r of started) expect(r.lines[0], r.stderr).toMatchObject({ step: 'started' });

    const [bProcs, cProcs] = [procsIn(B.cgroup), procsIn(C.cgroup)];
    // One shim process in the cgroup, the same one in every hierarchy, on both daemons.
    for (const procs of [bProcs, cProcs]) {
      expect(procs[0]).toHaveLength(1);
      for (const p of procs) expect(p).toEqual(procs[0]);
    }
    expect(cmdline(cProcs[0]![0]!)).toContain('containerd-shim-runc-v2');
    expect(bProcs[0]![0]).toBe(berthShimPid(ids.get(B)!));

    // Another task without the option runs in the shared shim, which stays out of the cgroup.
    const plain = track(B, 'plain');
    expect((await startDetached(B, plain, undefined)).lines[0]).toMatchObject({ step: 'started' });
    const shared = berthShimPid(plain);
    expect(shared).not.toBe(bProcs[0]![0]);
    expect(procsIn(B.cgroup)[0]).toEqual(bProcs[0]);
    await removeTask(B, plain);

    for (const s of [B, C]) await removeTask(s, ids.get(s)!);
    // Like containerd's shim, berth's own shim for the task exits once the task is deleted.
    expect(await waitEmpty(B.cgroup, 10_000)).toBe(true);
    expect(await waitEmpty(C.cgroup, 10_000)).toBe(true);
  }, 120_000);

  it('io.containerd.runtime.v1.linux: the shim cgroup of its CreateOptions is honoured too', async () => {
    // The Go client sends shim_cgroup in containerd.linux.runc.CreateOptions for this runtime.
    const ids = new Map([B, C].map((s) => [s, track(s, 'cgv1')]));
    const extra = ['-runtime', 'io.containerd.runtime.v1.linux', '-legacy-runc', RUNC];
    const started = await Promise.all([B, C].map((s) => startDetached(s, ids.get(s)!, s.cgroup, extra)));
    for (const r of started) expect(r.lines[0], r.stderr).toMatchObject({ step: 'started' });
    const [bProcs, cProcs] = [procsIn(B.cgroup), procsIn(C.cgroup)];
    for (const procs of [bProcs, cProcs]) {
      expect(procs[0]).toHaveLength(1);
      for (const p of procs) expect(p).toEqual(procs[0]);
    }
    expect(cmdline(cProcs[0]![0]!)).toMatch(/^\S*containerd-shim /);
    expect(bProcs[0]![0]).toBe(berthShimPid(ids.get(B)!));
    for (const s of [B, C]) await removeTask(s, ids.get(s)!);
    expect(await waitEmpty(B.cgroup, 10_000)).toBe(true);
    expect(await waitEmpty(C.cgroup, 10_000)).toBe(true);
  }, 120_000);

  it('a task with its own shim is reconnected after a berthd restart', async () => {
    const id = track(B, 'cgr');
    expect((await startDetached(B, id, B.cgroup)).lines[0]).toMatchObject({ step: 'started' });
    const shim = berthShimPid(id);
    expect(procsIn(B.cgroup)[0]).toEqual([shim]);
    await pair.berthd.restart();
    expect((await run(B, ['task', 'ls'])).stdout).toMatch(new RegExp(`^${id}\\s+\\d+\\s+RUNNING`, 'm'));
    // Driven through the same shim after the restart.
    expect((await run(B, ['task', 'exec', '--exec-id', 'after', id, 'true'])).code).toBe(0);
    expect(procsIn(B.cgroup)[0]).toEqual([shim]);
    await removeTask(B, id);
    expect((await run(B, ['task', 'ls'])).stdout).not.toContain(id);
    expect(await waitEmpty(B.cgroup, 10_000)).toBe(true);
  }, 120_000);
});
