import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage, busyboxLayer } from '../fixtures/images';
import { encodeMessage } from '../../src/proto/registry';
import {
  BERTHD_BIN,
  CTR_BIN,
  buildGoProgram,
  runGoProgram,
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
  type TempRoot,
  RUNC,
  removeFifoDirs,
  removeRuncLeftovers,
} from '../harness';
import { normalize } from './pair';

// Tasks through the real ctr, on berthd (runtime io.containerd.runc.v2 mapped to
// containerd's own containerd-shim-runc-v2 by a config file) next to a real containerd:
// run --rm/-d/-t, stdin, exit codes, task ls/ps/exec/pause/resume/metrics/kill/rm,
// /tasks/* events, runc.v1, and bad input. Same command on both daemons, same result.
//
// The runc shim keeps runc state in /run/containerd/runc/<ns>/<id> and its socket in
// /run/containerd/s/: each daemon gets its own namespace (unique to this run), and
// everything created there is removed at the end.

const RUNC_SHIM = '/usr/bin/containerd-shim-runc-v2';
const canRun =
  process.getuid?.() === 0 && fs.existsSync(RUNC_SHIM) && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox') && fs.existsSync('/usr/bin/script');

const RUN_ID = `${process.pid}-${randomBytes(2).toString('hex')}`;
const IMAGE = 'docker.io/library/berth-tasks:1';


interface Side {
  name: 'berthd' | 'containerd';
  address: string;
  ns: string;
  /** Where this daemon keeps task bundles for ns. */
  bundles: string;
  /** The daemon's state dir (mounts must not stay below it). */
  state: string;
}

let tmp: TempRoot;
let berthd: BerthdHandle;
let containerd: ContainerdHandle;
let B: Side;
let C: Side;
/** Every container id used, per side, for the final cleanup. */
const used = new Map<Side, Set<string>>();
/** Exec ids whose FIFOs ctr leaves behind (detached execs). */
const execFifos = new Set<string>();
const SAME_EXEC = `same-${RUN_ID}`;

function uid(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

function run(side: Side, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CtrResult> {
  return ctr(side.address, args, { namespace: side.ns, ...opts });
}

function ok(side: Side, args: string[], opts: { input?: string; timeoutMs?: number } = {}): Promise<CtrResult> {
  return ctrOk(side.address, args, { namespace: side.ns, ...opts });
}

/** Both daemons run the same command (a container id made per side). */
async function both(fn: (s: Side) => Promise<CtrResult>): Promise<[CtrResult, CtrResult]> {
  return Promise.all([fn(B), fn(C)]);
}

/** Removes what differs legitimately: times, pids and sizes, the namespace, column widths. */
function norm(s: Side, text: string, ids: string[] = []): string {
  let t = text.replace(/\r/g, '').split(s.ns).join('<NS>');
  for (const [i, id] of ids.entries()) t = t.split(id).join(`<ID${i}>`);
  return normalize(t).replace(/\b\d+\b/g, '<N>').replace(/ +\n/g, '\n').trimEnd();
}

function track(side: Side, id: string): string {
  let s = used.get(side);
  if (!s) used.set(side, (s = new Set()));
  s.add(id);
  return id;
}

/** A fresh container id per side (tracked for the final cleanup), as a function of the side. */
function idsPerSide(name: string): (s: Side) => string {
  const ids = new Map<Side, string>([
    [B, track(B, uid(name))],
    [C, track(C, uid(name))],
  ]);
  return (s) => ids.get(s) as string;
}

/** The metric names in `ctr task metrics` output (values and times differ between daemons). */
function metricNames(s: Side, text: string, id: string): string[] {
  return norm(s, text, [id])
    .split('\n')
    .map((l) => l.split(' ')[0] ?? '')
    .filter((n) => n !== '');
}

/** ctr task kill/rm + container rm, ignoring what is already gone. */
async function removeTask(side: Side, id: string): Promise<void> {
  await run(side, ['task', 'kill', '-s', 'SIGKILL', id]);
  await run(side, ['task', 'rm', '-f', id], { timeoutMs: 20_000 });
  await run(side, ['containers', 'rm', id]);
}

async function taskPid(side: Side, id: string): Promise<number> {
  const r = await ok(side, ['task', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  if (!line) throw new Error(`no task ${id} in ${r.stdout}`);
  return Number(line.split(/\s+/)[1]);
}

async function taskStatus(side: Side, id: string): Promise<string | undefined> {
  const r = await ok(side, ['task', 'ls']);
  const line = r.stdout.split('\n').find((l) => l.split(/\s+/)[0] === id);
  return line?.split(/\s+/)[2];
}

/** After a task is gone: no bundle, no mounts left below the daemon's state dir. */
function expectNoLeaks(side: Side, id: string): void {
  expect(fs.existsSync(path.join(side.bundles, id)), `${side.name} bundle of ${id}`).toBe(false);
  expect(mountsBelow(side.state).map((m) => m.mountPoint).filter((p) => p.includes(`/${id}/`) || p.endsWith(`/${id}/rootfs`))).toEqual([]);
}



/** Runs ctr under script(1) so it has a pseudo-terminal; resolves with its output and exit code. */
function underPty(side: Side, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; output: string }> {
  const quoted = [CTR_BIN, '-a', side.address, '-n', side.ns, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/script', ['-qec', quoted, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    child.once('close', (code) => {
      clearTimeout(timer);
      resolve({ code, output: out });
    });
    child.stdin.end();
  });
}

// Each suite runs twice: berthd driving containerd's own Go shim (mapped by config), and
// berthd on its defaults, i.e. berth's own shim for io.containerd.runc.v2.
const SHIM_MODES = [
  { name: 'runc shim', tag: 'g', config: `version = 1\n[runtimes."io.containerd.runc.v2"]\nshim = "${RUNC_SHIM}"\n` },
  { name: 'berth shim', tag: 'n', config: undefined },
];

for (const mode of SHIM_MODES)
describe.skipIf(!canRun)(`tasks through ctr: berthd (${mode.name}) next to containerd`, () => {
  beforeAll(async () => {
    tmp = makeTempRoot('berth-tasks-');
    let config: string | undefined;
    if (mode.config) {
      config = path.join(tmp.path, 'berthd.toml');
      fs.writeFileSync(config, mode.config);
    }
    [berthd, containerd] = await Promise.all([startBerthd({ config }), startContainerd()]);
    B = {
      name: 'berthd',
      address: berthd.address,
      ns: `bt-${RUN_ID}-${mode.tag}b`,
      bundles: path.join(berthd.state, 'tasks', `bt-${RUN_ID}-${mode.tag}b`),
      state: berthd.state,
    };
    C = {
      name: 'containerd',
      address: containerd.address,
      ns: `bt-${RUN_ID}-${mode.tag}c`,
      bundles: path.join(containerd.state, 'io.containerd.runtime.v2.task', `bt-${RUN_ID}-${mode.tag}c`),
      state: containerd.state,
    };
    const base = await busyboxLayer();
    const img = await buildOciImage({ name: IMAGE, layers: [base], config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
    const tar = path.join(tmp.path, 'image.tar');
    fs.writeFileSync(tar, img.archive);
    await Promise.all([ok(B, ['images', 'import', tar], { timeoutMs: 60_000 }), ok(C, ['images', 'import', tar], { timeoutMs: 60_000 })]);
  }, 120_000);

  afterAll(async () => {
    for (const side of [B, C]) {
      if (!side) continue;
      for (const id of used.get(side) ?? []) await removeTask(side, id).catch(() => undefined);
    }
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
    for (const side of [B, C]) {
      if (!side) continue;
      removeRuncLeftovers(side.ns);
      removeFifoDirs(new Set([...(used.get(side) ?? []), ...execFifos]));
    }
    await tmp?.cleanup();
  }, 120_000);

  /**
   * A `ctr run --rm` whose output the test checks. ctr 1.6.20's task.Delete closes its FIFOs
   * before it waits for its copies, and containerd's runc shims do not hold the exit report
   * until the output is copied: with one of them, a short-lived process's output is lost
   * now and then (1 run in 300 here, on either daemon). Such a run is tried again, up to
   * twice, its exit code checked every time; with berth's shim, which reports the exit once
   * the output is in the FIFO, it gets one attempt.
   */
  async function runShowing(
    side: Side,
    args: () => string[],
    want: { code: number; stdout: string; stderrIncludes?: string },
    containerdShim = side === C || mode.name === 'runc shim',
  ): Promise<CtrResult> {
    let r!: CtrResult;
    for (let a = 0; a < (containerdShim ? 3 : 1); a++) {
      r = await run(side, args());
      expect(r.code, `${side.name}: ${r.stderr}`).toBe(want.code);
      if (r.stdout === want.stdout && r.stderr.includes(want.stderrIncludes ?? '')) break;
    }
    return r;
  }

  it('run --rm echoes and passes exit codes through', async () => {
    // berth's shim must never lose the output; with containerd's runc shim a run whose
    // output did not arrive is tried again (runShowing).
    const hi = await both((s) => runShowing(s, () => ['run', '--rm', IMAGE, track(s, uid('echo')), 'echo', 'hi'], { code: 0, stdout: 'hi\n' }));
    for (const r of hi) expect(r.stdout).toBe('hi\n');
    for (const side of [B, C]) {
      const r = await runShowing(side, () => ['run', '--rm', IMAGE, track(side, uid('exit3')), 'sh', '-c', 'echo out; echo err >&2; exit 3'], { code: 3, stdout: 'out\n', stderrIncludes: 'err\n' });
      expect(r.stdout, side.name).toBe('out\n');
      expect(r.stderr, side.name).toContain('err\n');
    }
    const missing = await both((s) => run(s, ['run', '--rm', IMAGE, track(s, uid('nobin')), '/no/such/binary']));
    expect(missing[0].code).toBe(missing[1].code);
    expect(norm(B, missing[0].stderr)).toBe(norm(C, missing[1].stderr));
    // Nothing stays behind on berthd: no task, no bundle, no rootfs mount.
    expect((await ok(B, ['task', 'ls'])).stdout.trim().split('\n')).toHaveLength(1);
    expect(fs.existsSync(B.bundles) ? fs.readdirSync(B.bundles) : []).toEqual([]);
    expect(mountsBelow(B.state)).toEqual([]);
    expect(fs.readdirSync(path.join(berthd.root, 'tasks', B.ns))).toEqual([]);
  });

  it('stdin piped into a task reaches it; EOF closes it', async () => {
    // ctr calls CloseIO on stdin EOF only once its task exists (an EOF before that is
    // lost, on any daemon): feed stdin after the task said it is running.
    const input = 'line one\nline two\n';
    const feed = async (s: Side): Promise<{ code: number | null; stdout: string }> => {
      const p = ctrSpawn(s.address, ['run', '--rm', IMAGE, track(s, uid('cat')), 'sh', '-c', 'echo ready; cat; echo done'], { namespace: s.ns });
      try {
        await p.waitForLine('ready', 20_000);
        p.write(input);
        p.endInput();
        const st = await Promise.race([p.exited, sleep(20_000).then(() => undefined)]);
        return { code: st ? st.code : null, stdout: p.stdout() };
      } finally {
        await p.stop();
      }
    };
    const r = await Promise.all([feed(B), feed(C)]);
    for (const x of r) {
      expect(x.stdout).toBe(`ready\n${input}done\n`);
      expect(x.code).toBe(0);
    }
  });

  it('run -d, then task ls/ps/exec/pause/resume/metrics/kill/rm', async () => {
    const id = idsPerSide('det');
    await both((s) => ok(s, ['run', '-d', IMAGE, id(s), 'sleep', '1000']));
    const ls = await both((s) => ok(s, ['task', 'ls']));
    const mine = (s: Side, t: string): string =>
      norm(s, t.split('\n').filter((l, i) => i === 0 || l.startsWith(`${id(s)} `)).join('\n'), [id(s)]);
    expect(mine(B, ls[0].stdout)).toBe(mine(C, ls[1].stdout));
    expect(await taskStatus(B, id(B))).toBe('RUNNING');
    const pid = await taskPid(B, id(B));
    expect(isAlive(pid)).toBe(true);

    const ps = await both((s) => ok(s, ['task', 'ps', id(s)]));
    expect(ps[0].stdout).toContain(String(pid));
    expect(norm(B, ps[0].stdout)).toBe(norm(C, ps[1].stdout));

    const ex = await both((s) => run(s, ['task', 'exec', '--exec-id', 'e1', id(s), 'sh', '-c', 'echo in-exec $((6*7)); exit 4']));
    for (const r of ex) {
      expect(r.code).toBe(4);
      expect(r.stdout).toBe('in-exec 42\n');
    }
    // exec with stdin
    const exIn = await both((s) => run(s, ['task', 'exec', '--exec-id', 'e2', id(s), 'wc', '-c'], { input: '12345' }));
    for (const r of exIn) expect(r.stdout.trim()).toBe('5');

    await both((s) => ok(s, ['task', 'pause', id(s)]));
    expect(await taskStatus(B, id(B))).toBe('PAUSED');
    expect(await taskStatus(C, id(C))).toBe('PAUSED');
    await both((s) => ok(s, ['task', 'resume', id(s)]));
    expect(await taskStatus(B, id(B))).toBe('RUNNING');

    const metrics = await both((s) => ok(s, ['task', 'metrics', id(s)]));
    expect(metrics[0].stdout).toMatch(/memory\.usage_in_bytes|memory\.usage/);
    // Same metric names (values and times differ).
    expect(metricNames(B, metrics[0].stdout, id(B))).toEqual(metricNames(C, metrics[1].stdout, id(C)));
    const json = await both((s) => ok(s, ['task', 'metrics', '--format', 'json', id(s)]));
    const keys = (t: string): string[] => Object.keys(JSON.parse(t) as object).sort();
    expect(keys(json[0].stdout)).toEqual(keys(json[1].stdout));

    // rm of a running task is refused client-side, the same on both.
    const rmRunning = await both((s) => run(s, ['task', 'rm', id(s)]));
    expect(rmRunning[0].code).toBe(rmRunning[1].code);
    expect(norm(B, rmRunning[0].stderr, [id(B)])).toBe(norm(C, rmRunning[1].stderr, [id(C)]));

    await both((s) => ok(s, ['task', 'kill', '-s', 'SIGKILL', id(s)]));
    expect(await waitForPidExit(pid, 10_000)).toBe(true);
    for (let i = 0; i < 50 && (await taskStatus(B, id(B))) !== 'STOPPED'; i++) await sleep(100);
    expect(await taskStatus(B, id(B))).toBe('STOPPED');
    const rm = await both((s) => run(s, ['task', 'rm', id(s)]));
    expect(rm[0].code).toBe(0);
    expect(norm(B, rm[0].stderr, [id(B)])).toBe(norm(C, rm[1].stderr, [id(C)]));
    expect(rm[0].stderr).toContain('exit code 137');
    const after = await both((s) => ok(s, ['task', 'ls']));
    expect(mine(B, after[0].stdout)).toBe(mine(C, after[1].stdout));
    expect(after[0].stdout).not.toContain(id(B));
    await both((s) => ok(s, ['containers', 'rm', id(s)]));
    expectNoLeaks(B, id(B));
    expectNoLeaks(C, id(C));
  });

  // Until the client deletes a stopped task, every call answers as containerd's do.
  it('a stopped task that is not yet deleted answers like containerd (ls/ps/metrics/kill/pause/exec/rm)', async () => {
    const id = idsPerSide('stopped');
    await both((s) => ok(s, ['run', '-d', IMAGE, id(s), 'sh', '-c', 'exit 3']));
    for (const s of [B, C]) {
      for (let i = 0; i < 50 && (await taskStatus(s, id(s))) !== 'STOPPED'; i++) await sleep(100);
      expect(await taskStatus(s, id(s))).toBe('STOPPED');
    }
    const same = async (args: (s: Side) => string[]): Promise<[CtrResult, CtrResult]> => {
      const r = await both((s) => run(s, args(s)));
      expect(r[0].code, args(B).join(' ')).toBe(r[1].code);
      expect(norm(B, r[0].stdout + r[0].stderr, [id(B)]), args(B).join(' ')).toBe(norm(C, r[1].stdout + r[1].stderr, [id(C)]));
      return r;
    };
    await same((s) => ['task', 'ps', id(s)]);
    const metrics = await both((s) => run(s, ['task', 'metrics', id(s)]));
    expect(metrics.map((r) => r.code)).toEqual([0, 0]);
    expect(metricNames(B, metrics[0].stdout, id(B))).toEqual(metricNames(C, metrics[1].stdout, id(C)));
    expect((await same((s) => ['task', 'kill', id(s)]))[0].code).not.toBe(0);
    expect((await same((s) => ['task', 'kill', '--all', id(s)]))[0].code).toBe(0);
    await same((s) => ['task', 'pause', id(s)]);
    await same((s) => ['task', 'exec', '--exec-id', 'x1', id(s), 'true']);
    const rm = await same((s) => ['task', 'rm', id(s)]);
    expect(rm[0].stderr).toContain('exit code 3');
    await both((s) => ok(s, ['containers', 'rm', id(s)]));
    expectNoLeaks(B, id(B));
    expectNoLeaks(C, id(C));
  });

  it('run -t gets a terminal (driven through script(1))', async () => {
    const [b, c] = await Promise.all(
      [B, C].map((s) => underPty(s, ['run', '-t', '--rm', IMAGE, track(s, uid('tty')), 'sh', '-c', 'tty; echo "TERM=$TERM"; exit 5'])),
    );
    for (const r of [b, c]) {
      expect(r?.code).toBe(5);
      expect(r?.output).toMatch(/\/dev\/pts\/\d+/);
      expect(r?.output).toContain('TERM=xterm');
    }
    expect(b?.output.replace(/\r/g, '')).toBe(c?.output.replace(/\r/g, ''));
  });

  it('publishes /tasks/* events in containerd order', async () => {
    const record = async (s: Side): Promise<string[]> => {
      const id = track(s, uid('ev'));
      const events = ctrSpawn(s.address, ['events', `namespace==${s.ns},topic~=|^/tasks/|`]);
      try {
        await sleep(300); // ctr subscribes asynchronously
        await ok(s, ['run', '-d', IMAGE, id, 'sleep', '1000']);
        await ok(s, ['task', 'exec', '--exec-id', 'x1', id, 'true']);
        await ok(s, ['task', 'pause', id]);
        await ok(s, ['task', 'resume', id]);
        await ok(s, ['task', 'kill', '-s', 'SIGKILL', id]);
        for (let i = 0; i < 50 && (await taskStatus(s, id)) !== 'STOPPED'; i++) await sleep(100);
        await ok(s, ['task', 'rm', id]);
        await events.waitForLine('/tasks/delete', 10_000);
        await sleep(200);
        return events
          .lines()
          .map((l) => /^.* (\/tasks\/\S+) (\{.*\})$/.exec(l))
          .filter((m): m is RegExpExecArray => m !== null)
          .map((m) => {
            const topic = m[1] as string;
            const payload = JSON.parse(m[2] as string) as Record<string, unknown>;
            const exit = topic === '/tasks/exit' || topic === '/tasks/delete' ? ` status=${String(payload.exit_status ?? 0)}` : '';
            const who = typeof payload.id === 'string' && payload.id !== '' ? ` id=${payload.id === id ? '<ID>' : payload.id}` : '';
            expect(payload.container_id).toBe(id);
            return `${topic}${who}${exit}`;
          });
      } finally {
        await events.stop();
        await run(s, ['containers', 'rm', id]);
      }
    };
    const [b, c] = await Promise.all([record(B), record(C)]);
    expect(b).toEqual(c);
    expect(b).toEqual([
      '/tasks/create',
      '/tasks/start',
      '/tasks/exec-added',
      '/tasks/exec-started',
      '/tasks/exit id=x1 status=0',
      '/tasks/paused',
      '/tasks/resumed',
      '/tasks/exit id=<ID> status=137',
      '/tasks/delete status=137',
    ]);
  });

  it('lists the runtime and the Tasks service as plugins', async () => {
    const r = await ok(B, ['plugins', 'ls']);
    expect(r.stdout).toMatch(/io\.containerd\.runtime\.v2\s+task\s+linux\/\w+\s+ok/);
    expect(r.stdout).toMatch(/io\.containerd\.grpc\.v1\s+tasks\s+-\s+ok/);
  });

  it('berthd publish (the shims\' -publish-binary) publishes an event', async () => {
    const events = ctrSpawn(B.address, ['events', `namespace==${B.ns},topic=="/tasks/oom"`]);
    try {
      await sleep(300);
      const id = uid('oom');
      const event = encodeMessage('google.protobuf.Any', {
        type_url: 'containerd.events.TaskOOM',
        value: encodeMessage('containerd.events.TaskOOM', { container_id: id }),
      });
      execFileSync(process.execPath, [BERTHD_BIN, '--address', B.address, 'publish', '--topic', '/tasks/oom', '--namespace', B.ns], { input: event });
      const line = await events.waitForLine('/tasks/oom', 10_000);
      expect(line).toContain(B.ns);
      expect(line).toContain(`"container_id":"${id}"`);
    } finally {
      await events.stop();
    }
  });

  // berth's shim answers Delete before runc has finished removing the stopped container's
  // state; the same id created right away must still work.
  it('the same container id runs again right after run --rm', async () => {
    const id = idsPerSide('again');
    for (let i = 0; i < 4; i++) {
      // A run whose output ctr lost is tried again under the same id (runShowing; a CI run
      // lost "round 1" here with containerd's runc shim).
      const r = await both((s) => runShowing(s, () => ['run', '--rm', IMAGE, id(s), 'sh', '-c', `echo round ${i}; exit ${i}`], { code: i, stdout: `round ${i}\n` }));
      for (const x of r) {
        expect(x.code, x.stderr).toBe(i);
        expect(x.stdout).toBe(`round ${i}\n`);
      }
    }
    expectNoLeaks(B, id(B));
  });

  it('--runc-binary is honoured; a missing one fails alike and leaks nothing', async () => {
    // A runc wrapper that records each command it runs, then execs the real runc.
    const wrapper = path.join(tmp.path, `runc-wrapper-${mode.tag}`);
    const calls = `${wrapper}.calls`;
    fs.writeFileSync(wrapper, `#!/bin/sh\nfor a in "$@"; do case $a in create|start|delete|kill) echo "$a" >> '${calls}';; esac; done\nexec ${RUNC} "$@"\n`, { mode: 0o755 });
    const id = idsPerSide('rbin');
    fs.rmSync(calls, { force: true });
    const r = await runShowing(B, () => ['run', '--rm', '--runc-binary', wrapper, IMAGE, id(B), 'sh', '-c', 'echo via-wrapper; exit 6'], { code: 6, stdout: 'via-wrapper\n' });
    expect(r.stdout).toBe('via-wrapper\n');
    // berth's shim runs `runc delete` after Delete has answered (off the answer's path), so
    // the wrapper may log it just after ctr has exited.
    const seen = (): string[] => fs.readFileSync(calls, 'utf8').split('\n').filter(Boolean);
    await expect.poll(seen, { timeout: 10_000, interval: 50 }).toEqual(expect.arrayContaining(['create', 'start', 'delete']));
    expectNoLeaks(B, id(B));

    const missingId = idsPerSide('rbinx');
    const nos = await both((s) => run(s, ['run', '--rm', '--runc-binary', '/nonexistent/runc', IMAGE, missingId(s), 'true']));
    expect(nos[0].code).toBe(nos[1].code);
    expect(nos[0].code).not.toBe(0);
    expect(nos[0].stderr).toContain('/nonexistent/runc');
    const clean = (s: Side, t: string): string => norm(s, t.split(s.bundles).join('<BUNDLES>'), [missingId(s)]);
    expect(clean(B, nos[0].stderr)).toBe(clean(C, nos[1].stderr));
    expectNoLeaks(B, missingId(B));
    expect((await ok(B, ['task', 'ls'])).stdout).not.toContain(missingId(B));
  });

  it('task attach reopens the stdio of a running task; checkpoint fails alike (runc\'s own error, with criu installed or not)', async () => {
    const id = idsPerSide('att');
    await both((s) => ok(s, ['run', '-d', IMAGE, id(s), 'sh', '-c', 'while true; do echo tick; sleep 0.2; done']));
    for (const s of [B, C]) {
      const att = ctrSpawn(s.address, ['task', 'attach', id(s)], { namespace: s.ns });
      try {
        expect(await att.waitForLine('tick', 10_000)).toBe('tick');
      } finally {
        // ctr attach forwards SIGTERM to the task (which ignores it): kill ctr itself.
        att.child.kill('SIGKILL');
        await att.exited;
      }
    }
    const cp = await both((s) => run(s, ['task', 'checkpoint', id(s)]));
    expect(cp[0].code).toBe(cp[1].code);
    const clean = (s: Side, t: string): string => norm(s, t.split(s.bundles).join('<BUNDLES>'), [id(s)]).replace(/ctd-checkpoint\S*/g, '<DIR>').replace(/\/run\/containerd\/runc\/\S+/g, '<RUNC>');
    expect(clean(B, cp[0].stderr)).toBe(clean(C, cp[1].stderr));
    // The task is unharmed.
    expect(await taskStatus(B, id(B))).toBe('RUNNING');
    await both(async (s) => {
      await removeTask(s, id(s));
      return ok(s, ['task', 'ls']);
    });
    expectNoLeaks(B, id(B));
  });

  it('runs io.containerd.runc.v1 (containerd-shim-runc-v1 on PATH)', async () => {
    // containerd's runc v1 shim on both daemons: runShowing's retry applies to both.
    const r = await both((s) => runShowing(s, () => ['run', '--rm', '--runtime', 'io.containerd.runc.v1', IMAGE, track(s, uid('v1')), 'sh', '-c', 'echo v1; exit 2'], { code: 2, stdout: 'v1\n' }, true));
    for (const x of r) {
      expect(x.stdout).toBe('v1\n');
      expect(x.code).toBe(2);
    }
  });

  it('the Go client runs a task the same way on both (NewTask, Wait, Start, Delete)', async () => {
    const bin = await buildGoProgram('gotask');
    const [b, c] = await Promise.all(
      [B, C].map((s) => runGoProgram(bin, ['-address', s.address, '-namespace', s.ns, '-image', IMAGE, '-id', track(s, uid('go'))])),
    );
    expect(b?.lines).toEqual(c?.lines);
    expect(b?.lines).toEqual([
      { step: 'created', status: 'created', pid: true },
      { step: 'exited', code: 5, status: 'stopped' },
      { step: 'deleted', code: 5, output: 'from go\n' },
      { step: 'task-after', notfound: true },
      { step: 'done' },
    ]);
  }, 300_000);

  it('missing runtime binary: clear error, nothing leaked', async () => {
    const id = idsPerSide('noshim');
    const r = await both((s) => run(s, ['run', '--rm', '--runtime', 'io.containerd.nosuch.v9', IMAGE, id(s), 'true']));
    expect(r[0].code).toBe(r[1].code);
    expect(r[0].code).not.toBe(0);
    expect(r[0].stderr).toContain('containerd-shim-nosuch-v9');
    expect(norm(B, r[0].stderr, [id(B)])).toBe(norm(C, r[1].stderr, [id(C)]));
    expectNoLeaks(B, id(B));
    expect(fs.existsSync(path.join(berthd.root, 'tasks', B.ns, id(B)))).toBe(false);
    // ctr run --rm removed the container; a task never existed.
    const ls = await both((s) => ok(s, ['containers', 'ls', '-q']));
    expect(ls[0].stdout).not.toContain(id(B));
  });

  it('a spec runc rejects: the error comes back, nothing leaked', async () => {
    const id = idsPerSide('badspec');
    // A cwd that is a file: runc create fails.
    const r = await both((s) => run(s, ['run', '--rm', '--cwd', '/bin/busybox', IMAGE, id(s), 'true']));
    expect(r[0].code).toBe(r[1].code);
    expect(r[0].code).not.toBe(0);
    expect(r[0].stderr).toContain('failed to create shim task');
    expect(norm(B, r[0].stderr, [id(B)])).toBe(norm(C, r[1].stderr, [id(C)]));
    expectNoLeaks(B, id(B));
    expect((await ok(B, ['task', 'ls'])).stdout).not.toContain(id(B));
  });

  it('duplicate task and duplicate exec id are refused like containerd', async () => {
    const id = idsPerSide('dup');
    await both((s) => ok(s, ['run', '-d', IMAGE, id(s), 'sleep', '1000']));
    const again = await both((s) => run(s, ['task', 'start', '-d', id(s)]));
    expect(again[0].code).toBe(again[1].code);
    expect(norm(B, again[0].stderr, [id(B)])).toBe(norm(C, again[1].stderr, [id(C)]));
    expect(again[0].stderr).toContain('already exists');

    execFifos.add(SAME_EXEC);
    await both((s) => ok(s, ['task', 'exec', '-d', '--exec-id', SAME_EXEC, id(s), 'sleep', '1000']));
    const dupExec = await both((s) => run(s, ['task', 'exec', '--exec-id', SAME_EXEC, id(s), 'true']));
    expect(dupExec[0].code).toBe(dupExec[1].code);
    expect(dupExec[0].code).not.toBe(0);
    expect(norm(B, dupExec[0].stderr, [id(B)])).toBe(norm(C, dupExec[1].stderr, [id(C)]));

    const badExec = await both((s) => run(s, ['task', 'exec', '--exec-id', 'bad id!', id(s), 'true']));
    expect(badExec[0].code).toBe(badExec[1].code);
    expect(norm(B, badExec[0].stderr, [id(B)])).toBe(norm(C, badExec[1].stderr, [id(C)]));

    const noTask = await both((s) => run(s, ['task', 'rm', `${id(s)}-none`]));
    expect(noTask[0].code).toBe(noTask[1].code);
    expect(norm(B, noTask[0].stderr, [id(B)])).toBe(norm(C, noTask[1].stderr, [id(C)]));

    await both(async (s) => {
      await removeTask(s, id(s));
      return ok(s, ['task', 'ls']);
    });
    expectNoLeaks(B, id(B));
  });
});
