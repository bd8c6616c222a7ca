import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNC, ctrOk } from '../harness';
import { SideBySide, uid, type Side } from './sides';

// berth's observability commands against berthd (berth's shim) and a real containerd 1.6.20
// (its runc shim v2) in the same run: `tasks metrics` decoded and checked against what ctr
// decodes from the same task, `stats` (JSON lines, plain tables, a terminal's redraw), and
// `logs` of `run -d` containers through their binary:// log URI (berth-log).

const BERTH = join(__dirname, '..', '..', 'bin', 'berth');
const IMAGE = 'docker.io/library/berth-obs:1';
const MIB64 = 64 * 1024 * 1024;
const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');

let pair: SideBySide;
let stateDir: string;

interface Out {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** berth on a side, its log files under the test's state dir; `interruptAfterMs` sends SIGINT then. */
function berth(s: Side, args: string[], o: { interruptAfterMs?: number; timeoutMs?: number } = {}): Promise<Out> {
  return new Promise((resolve) => {
    const t0 = Date.now();
    const p = spawn(BERTH, ['-a', s.address, '-n', s.ns, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, BERTH_CLI_STATE_DIR: stateDir },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const int = o.interruptAfterMs !== undefined ? setTimeout(() => p.kill('SIGINT'), o.interruptAfterMs) : undefined;
    const kill = setTimeout(() => p.kill('SIGKILL'), o.timeoutMs ?? 60_000);
    p.on('close', (code) => {
      clearTimeout(int);
      clearTimeout(kill);
      resolve({ code, stdout, stderr, ms: Date.now() - t0 });
    });
  });
}

function both(args: (s: Side) => string[], o?: { interruptAfterMs?: number; timeoutMs?: number }): Promise<[Out, Out]> {
  return pair.both((s) => berth(s, args(s), o));
}

const ctrOn = (s: Side, args: string[]) => ctrOk(s.address, args, { namespace: s.ns });

/** Every path to a non-object value in a JSON document ("memory.usage.limit", "cpu.usage.per_cpu"). */
function leafPaths(v: unknown, prefix = ''): string[] {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return [prefix];
  return Object.entries(v as Record<string, unknown>).flatMap(([k, x]) => leafPaths(x, prefix ? `${prefix}.${k}` : k));
}

function at(v: unknown, path: string): unknown {
  return path.split('.').reduce<unknown>((o, k) => (o && typeof o === 'object' ? (o as Record<string, unknown>)[k] : undefined), v);
}

beforeAll(async () => {
  if (!canRun) return;
  pair = await SideBySide.start({ prefix: 'berthobs', image: IMAGE });
  stateDir = fs.mkdtempSync(join(pair.tmp.path, 'cli-state-'));
}, 180_000);
afterAll(async () => {
  await pair?.cleanup();
});

describe.skipIf(!canRun)('berth tasks metrics, stats and logs on berthd and containerd', () => {
  it('tasks metrics: ctr\'s METRIC rows and values, --json the whole decoded message', async () => {
    const ids = new Map<Side, string>();
    for (const s of [pair.B, pair.C]) ids.set(s, pair.track(s, uid('met')));
    const run = await both((s) => ['run', '-d', '--memory-limit', String(MIB64), IMAGE, ids.get(s)!, 'sleep', '60']);
    expect(run.map((o) => o.code)).toEqual([0, 0]);

    const [tb, tc] = await both((s) => ['tasks', 'metrics', ids.get(s)!]);
    const ctrTables = await pair.both((s) => ctrOn(s, ['tasks', 'metrics', ids.get(s)!]));
    const rows = (text: string): Map<string, string> =>
      new Map(text.split('\n').slice(text.split('\n').indexOf('') + 1).filter((l) => l.trim() !== '').map((l) => [l.trim().split(/\s+/)[0]!, l.trim().split(/\s+/).slice(1).join(' ')]));
    for (const [o, c, s] of [[tb, ctrTables[0], pair.B], [tc, ctrTables[1], pair.C]] as const) {
      expect(o.code).toBe(0);
      expect(o.stdout).toMatch(new RegExp(`^ID\\s+TIMESTAMP\\n${ids.get(s)}\\s+\\d{4}-\\d\\d-\\d\\dT[\\d:]+\\.\\d{9}Z\\n\\nMETRIC\\s+VALUE\\n`));
      const ours = rows(o.stdout);
      const theirs = rows(c.stdout);
      // The same rows in the same order as ctr prints them for this daemon's task.
      expect([...ours.keys()]).toEqual([...theirs.keys()]);
      expect([...ours.keys()]).toEqual(['METRIC', 'memory.usage_in_bytes', 'memory.limit_in_bytes', 'memory.stat.cache', 'cpuacct.usage', 'cpuacct.usage_percpu', 'pids.current', 'pids.limit']);
      for (const k of ['memory.limit_in_bytes', 'pids.current', 'pids.limit']) expect(ours.get(k)).toBe(theirs.get(k));
      expect(ours.get('memory.limit_in_bytes')).toBe(String(MIB64));
      expect(ours.get('pids.current')).toBe('1');
      expect(ours.get('cpuacct.usage_percpu')).toMatch(/^\[\d+( \d+)*\]$/);
      expect(ours.get('cpuacct.usage_percpu')!.split(' ').length).toBe(theirs.get('cpuacct.usage_percpu')!.split(' ').length);
    }

    // --json: every field ctr's JSON has (Go leaves zeros out) is in ours, with the same
    // value where it cannot change between the two reads.
    const js = await both((s) => ['--json', 'tasks', 'metrics', ids.get(s)!]);
    const ctrJs = await pair.both((s) => ctrOn(s, ['tasks', 'metrics', '--format', 'json', ids.get(s)!]));
    for (let i = 0; i < 2; i++) {
      const ours = JSON.parse(js[i]!.stdout) as { id: string; version: number; type: string; metrics: Record<string, unknown> };
      const theirs = JSON.parse(ctrJs[i]!.stdout) as Record<string, unknown>;
      expect(ours.version).toBe(1);
      expect(ours.type).toMatch(/io\.containerd\.cgroups\.v1\.Metrics$/);
      const ourPaths = new Set(leafPaths(ours.metrics));
      const theirPaths = leafPaths(theirs).filter((p) => !/\.\d+$/.test(p));
      expect(theirPaths.length).toBeGreaterThan(20);
      expect(theirPaths.filter((p) => !ourPaths.has(p))).toEqual([]);
      for (const p of ['memory.usage.limit', 'pids.current', 'memory.hierarchical_memory_limit']) expect(at(ours.metrics, p)).toBe(at(theirs, p));
      expect((at(ours.metrics, 'cpu.usage.per_cpu') as number[]).length).toBe((at(theirs, 'cpu.usage.per_cpu') as number[]).length);
    }

    const none = await both(() => ['tasks', 'metrics', 'no-such-task']);
    expect(none.map((o) => o.code)).toEqual([125, 125]);
  }, 120_000);

  it('stats: CPU % from cpuacct deltas, memory against the limit or the host, pids; JSON lines, plain tables, a redrawn terminal', async () => {
    const busy = new Map<Side, string>();
    const idle = new Map<Side, string>();
    for (const s of [pair.B, pair.C]) {
      busy.set(s, pair.track(s, uid('busy')));
      idle.set(s, pair.track(s, uid('idle')));
    }
    // Half a CPU of quota: a busy loop can use at most 50%.
    const started = await both((s) => ['run', '-d', '--cpus', '0.5', '--memory-limit', String(MIB64), IMAGE, busy.get(s)!, 'sh', '-c', 'while :; do :; done']);
    const started2 = await both((s) => ['run', '-d', IMAGE, idle.get(s)!, 'sleep', '60']);
    expect([...started, ...started2].map((o) => o.code)).toEqual([0, 0, 0, 0]);

    const lines = await both(() => ['--json', 'stats', '--no-stream']);
    for (const [o, s] of [[lines[0], pair.B], [lines[1], pair.C]] as const) {
      expect(o.code).toBe(0);
      const recs = o.stdout.trim().split('\n').map((l) => JSON.parse(l) as { id: string; cpuPercent: number; memoryUsage: number; memoryLimit: number; memoryPercent: number; pids: number });
      // Only running tasks: the metrics test's task may still run, so look ours up by id.
      const b = recs.find((r) => r.id === busy.get(s))!;
      const i = recs.find((r) => r.id === idle.get(s))!;
      expect(b.cpuPercent).toBeGreaterThan(10);
      expect(b.cpuPercent).toBeLessThan(70);
      expect(i.cpuPercent).toBeLessThan(5);
      expect(b.memoryLimit).toBe(MIB64);
      expect(b.memoryPercent).toBeCloseTo((b.memoryUsage / MIB64) * 100, 6);
      expect(i.memoryLimit).toBe(os.totalmem());
      expect(b.memoryUsage).toBeGreaterThan(0);
      expect(b.memoryUsage).toBeLessThan(MIB64);
      expect([b.pids, i.pids]).toEqual([1, 1]);
    }

    // Named tasks only; not a TTY: one plain table per interval until Ctrl-C, exit 0.
    const plain = await both((s) => ['stats', '--interval', '0.5', busy.get(s)!], { interruptAfterMs: 2600 });
    for (const [o, s] of [[plain[0], pair.B], [plain[1], pair.C]] as const) {
      expect(o.code).toBe(0);
      expect(o.stdout).not.toContain('\x1b');
      const tables = o.stdout.split(/^(?=CONTAINER ID)/m);
      expect(tables.length).toBeGreaterThanOrEqual(2);
      for (const t of tables) expect(t).toMatch(new RegExp(`^CONTAINER ID\\s+CPU %\\s+MEM USAGE / LIMIT\\s+MEM %\\s+PIDS\\n${busy.get(s)}\\s+\\d+\\.\\d\\d%\\s+[\\d.]+[KMG]?i?B / 64MiB\\s+\\d+\\.\\d\\d%\\s+1\\n$`));
    }

    // On a terminal (script(1) gives it a pty): cleared once, then redrawn from the top.
    if (fs.existsSync('/usr/bin/script')) {
      const tty = await pair.both(
        (s) =>
          new Promise<{ code: number | null; out: string }>((resolve) => {
            const cmd = `BERTH_CLI_STATE_DIR='${stateDir}' timeout --preserve-status -s INT 2.6 '${process.execPath}' '${BERTH}' -a '${s.address}' -n '${s.ns}' stats --interval 0.5 '${busy.get(s)}'`;
            const p = spawn('/usr/bin/script', ['-qec', cmd, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
            let out = '';
            p.stdout.on('data', (b: Buffer) => (out += b.toString()));
            const kill = setTimeout(() => p.kill('SIGKILL'), 30_000);
            p.on('close', (code) => {
              clearTimeout(kill);
              resolve({ code, out });
            });
            p.stdin.end();
          }),
      );
      for (const t of tty) {
        // The screen in the message: a run that was interrupted before it drew (130: SIGINT
        // before berth's handler) shows nothing; one seen once in a CI run under load.
        expect(t.code, JSON.stringify(t.out.slice(-300))).toBe(0);
        expect(t.out.split('\x1b[2J').length - 1).toBe(1);
        expect(t.out.split('\x1b[H').length - 1).toBeGreaterThanOrEqual(2);
        expect(t.out).toContain('CONTAINER ID');
      }
    }

    const notRunning = await both(() => ['stats', '--no-stream', 'no-such-task']);
    expect(notRunning.map((o) => o.code)).toEqual([125, 125]);
    expect(notRunning[0].stderr).toContain('no running task: no-such-task');
  }, 120_000);

  it('logs of run -d: berth-log\'s file, stdout and stderr apart, --timestamps, --tail, -f until the task exits; containers rm removes it', async () => {
    const ids = new Map<Side, string>();
    for (const s of [pair.B, pair.C]) ids.set(s, pair.track(s, uid('log')));
    const script = 'echo one; sleep 0.3; echo two >&2; sleep 1.5; printf "three\\nno newline"; exit 3';
    const run = await both((s) => ['run', '-d', IMAGE, ids.get(s)!, 'sh', '-c', script]);
    expect(run.map((o) => o.code)).toEqual([0, 0]);
    const follow = await both((s) => ['logs', '-f', ids.get(s)!]);
    for (const o of follow) {
      expect(o).toMatchObject({ code: 0, stdout: 'one\nthree\nno newline', stderr: 'two\n' });
      // It waited for the task: the last write comes ~1.8 s after the start.
      expect(o.ms).toBeGreaterThan(1000);
    }
    for (const s of [pair.B, pair.C]) {
      const file = join(stateDir, s.ns, `${ids.get(s)}.log`);
      const records = fs.readFileSync(file, 'utf8').split('\n');
      expect(records.pop()).toBe('');
      expect(records.map((r) => r.replace(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z /, '<T> '))).toEqual(['<T> stdout F one', '<T> stderr F two', '<T> stdout F three', '<T> stdout P no newline']);
      const info = JSON.parse((await ctrOn(s, ['containers', 'info', ids.get(s)!])).stdout) as { Labels: Record<string, string> };
      expect(info.Labels['io.berth.cli/log-file']).toBe(file);
    }
    // --timestamps: each line after the time berth-log read it; "three" came ~1.8 s after "one".
    const ts = await both((s) => ['logs', '--timestamps', ids.get(s)!]);
    for (const o of ts) {
      const m = /^(\S+) one\n(\S+) three\n\S+ no newline$/.exec(o.stdout);
      expect(m).not.toBeNull();
      const gap = Date.parse(m![2]!) - Date.parse(m![1]!);
      expect(gap).toBeGreaterThan(1500);
      expect(gap).toBeLessThan(10_000);
      expect(o.stderr).toMatch(/^\d{4}-\d\d-\d\dT[\d:]+\.\d{9}Z two\n$/);
    }
    expect((await both((s) => ['logs', '--tail', '2', ids.get(s)!])).map((o) => [o.stdout, o.stderr])).toEqual([['three\nno newline', ''], ['three\nno newline', '']]);
    expect((await both((s) => ['logs', '--tail', '3', ids.get(s)!])).map((o) => [o.stdout, o.stderr])).toEqual([['three\nno newline', 'two\n'], ['three\nno newline', 'two\n']]);
    expect((await both((s) => ['logs', '--tail', '0', ids.get(s)!])).map((o) => o.stdout + o.stderr)).toEqual(['', '']);
    // The task has exited: -f prints what there is and returns at once.
    const after = await both((s) => ['logs', '-f', ids.get(s)!]);
    expect(after.map((o) => [o.code, o.stdout, o.stderr])).toEqual([[0, 'one\nthree\nno newline', 'two\n'], [0, 'one\nthree\nno newline', 'two\n']]);

    expect((await both((s) => ['tasks', 'rm', ids.get(s)!])).map((o) => o.code)).toEqual([0, 0]);
    const rm = await both((s) => ['containers', 'rm', ids.get(s)!]);
    expect(rm.map((o) => o.code)).toEqual([0, 0]);
    for (const s of [pair.B, pair.C]) expect(fs.existsSync(join(stateDir, s.ns, `${ids.get(s)}.log`))).toBe(false);

    // Ctrl-C while following a running task: exit 0 with what was written so far.
    const live = new Map<Side, string>();
    for (const s of [pair.B, pair.C]) live.set(s, pair.track(s, uid('live')));
    await both((s) => ['run', '-d', IMAGE, live.get(s)!, 'sh', '-c', 'echo up; exec sleep 60']);
    const interrupted = await both((s) => ['logs', '-f', live.get(s)!], { interruptAfterMs: 1500 });
    expect(interrupted.map((o) => [o.code, o.stdout])).toEqual([[0, 'up\n'], [0, 'up\n']]);

    // A container ctr made has no berth log.
    const plain = new Map<Side, string>();
    for (const s of [pair.B, pair.C]) {
      plain.set(s, pair.track(s, uid('nolog')));
      await ctrOn(s, ['containers', 'create', IMAGE, plain.get(s)!, 'true']);
    }
    const nolog = await both((s) => ['logs', plain.get(s)!]);
    expect(nolog.map((o) => o.code)).toEqual([125, 125]);
    expect(nolog[0].stderr).toContain('has no log file');
  }, 120_000);
});
