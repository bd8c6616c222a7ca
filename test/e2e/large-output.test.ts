import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildOciImage, busyboxLayer } from '../fixtures/images';
import {
  CTR_BIN,
  RUNC,
  buildGoProgram,
  ctr,
  ctrOk,
  makeTempRoot,
  removeFifoDirs,
  removeRuncLeftovers,
  runGoProgram,
  startBerthd,
  startContainerd,
  type BerthdHandle,
  type ContainerdHandle,
  type CtrResult,
  type TempRoot,
} from '../harness';

// No byte of a process's output is lost (issue 11): several MB printed through pipes and
// through a terminal, by a task's init and by an exec, with and without --rm, through the
// real ctr and through the containerd 1.6 Go client (test/go/largeio: exec + Wait +
// Delete + IO().Wait(), the flow of containerd's large-TTY-output integration test).
// berthd runs its own shim; a real containerd runs its runc shim next to it; both must
// deliver exactly the expected bytes (sha256 and length).

const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox') && fs.existsSync('/usr/bin/script');

const RUN_ID = `${process.pid}-${randomBytes(2).toString('hex')}`;
const IMAGE = 'docker.io/library/berth-large-output:1';
const COUNT = 1_000_000;

interface Digest {
  len: number;
  sha256: string;
}

function digest(b: Buffer | string): Digest {
  const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  return { len: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
}

/** `seq 1 COUNT` through pipes: one number a line. */
const LINES = Array.from({ length: COUNT }, (_, i) => String(i + 1)).join('\n') + '\n';
const PIPE_CMD = ['busybox', 'seq', '1', String(COUNT)];
const PIPE_EXPECTED = digest(LINES);
/** `seq -s " " COUNT` through a terminal: one long line, its "\n" turned into "\r\n" by the pty. */
const TTY_CMD = ['busybox', 'seq', '-s', ' ', String(COUNT)];
const TTY_EXPECTED = digest(Array.from({ length: COUNT }, (_, i) => String(i + 1)).join(' ') + '\r\n');
/** The same through ctr -t under script(1): script's own terminal (not raw under ctr, on
 * either daemon) adds a "\r" before each "\n" once more. */
const CTR_TTY_EXPECTED = digest(Array.from({ length: COUNT }, (_, i) => String(i + 1)).join(' ') + '\r\r\n');

interface Side {
  name: 'berthd' | 'containerd';
  address: string;
  ns: string;
}

let tmp: TempRoot;
let berthd: BerthdHandle;
let containerd: ContainerdHandle;
let B: Side;
let C: Side;
const used = new Map<Side, Set<string>>();

function track(side: Side, id: string): string {
  let s = used.get(side);
  if (!s) used.set(side, (s = new Set()));
  s.add(id);
  return id;
}

function uid(name: string): string {
  return `${name}-${randomBytes(3).toString('hex')}`;
}

function run(side: Side, args: string[], timeoutMs = 30_000): Promise<CtrResult> {
  return ctr(side.address, args, { namespace: side.ns, timeoutMs });
}

function both<T>(fn: (s: Side) => Promise<T>): Promise<[T, T]> {
  return Promise.all([fn(B), fn(C)]);
}

/** ctr under script(1), so it has a terminal; resolves with the raw bytes script saw. */
function underPty(side: Side, args: string[], timeoutMs = 30_000): Promise<{ code: number | null; output: Buffer }> {
  const quoted = [CTR_BIN, '-a', side.address, '-n', side.ns, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  return new Promise((resolve) => {
    const child = spawn('/usr/bin/script', ['-qec', quoted, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => out.push(b));
    const timer = setTimeout(() => child.pid && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    // stdin stays open (and empty): an EOF would make script send ^D into the session
    child.once('close', (code) => {
      clearTimeout(timer);
      child.stdin.destroy();
      resolve({ code, output: Buffer.concat(out) });
    });
  });
}

async function removeTask(side: Side, id: string): Promise<void> {
  await run(side, ['task', 'kill', '-s', 'SIGKILL', id]);
  await run(side, ['task', 'rm', '-f', id], 20_000);
  await run(side, ['containers', 'rm', id]);
}

describe.skipIf(!canRun)('large outputs arrive whole on berthd (berth shim) as on containerd', () => {
  let goBin: Promise<string>;

  beforeAll(async () => {
    goBin = buildGoProgram('largeio');
    goBin.catch(() => undefined);
    tmp = makeTempRoot('berth-large-');
    [berthd, containerd] = await Promise.all([startBerthd(), startContainerd()]);
    B = { name: 'berthd', address: berthd.address, ns: `lo-${RUN_ID}-b` };
    C = { name: 'containerd', address: containerd.address, ns: `lo-${RUN_ID}-c` };
    const base = await busyboxLayer();
    const img = await buildOciImage({ name: IMAGE, layers: [base], config: { Cmd: ['/bin/sh'], Env: ['PATH=/bin'] } });
    const tar = path.join(tmp.path, 'image.tar');
    fs.writeFileSync(tar, img.archive);
    await both((s) => ctrOk(s.address, ['images', 'import', tar], { namespace: s.ns, timeoutMs: 60_000 }));
    fs.mkdirSync(path.join(tmp.path, 'fifo-b'));
    fs.mkdirSync(path.join(tmp.path, 'fifo-c'));
  }, 600_000);

  afterAll(async () => {
    for (const side of [B, C]) {
      if (!side) continue;
      for (const id of used.get(side) ?? []) await removeTask(side, id).catch(() => undefined);
    }
    await Promise.all([berthd?.cleanup(), containerd?.cleanup()]);
    for (const side of [B, C]) {
      if (!side) continue;
      removeRuncLeftovers(side.ns);
      removeFifoDirs(used.get(side) ?? new Set());
    }
    await tmp?.cleanup();
  }, 120_000);

  it('ctr run through pipes, with and without --rm', async () => {
    const rm = await both((s) => run(s, ['run', '--rm', IMAGE, track(s, uid('pipe-rm')), ...PIPE_CMD]));
    const keep = await both(async (s) => {
      const id = track(s, uid('pipe'));
      const r = await run(s, ['run', IMAGE, id, ...PIPE_CMD]);
      await run(s, ['containers', 'rm', id]);
      return r;
    });
    for (const [i, r] of [...rm, ...keep].entries()) {
      const what = `${i % 2 ? 'containerd' : 'berthd'} ${i < 2 ? '--rm' : 'no --rm'}`;
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expect(digest(r.stdout), what).toEqual(PIPE_EXPECTED);
      expect(r.stderr, what).toBe('');
    }
  }, 60_000);

  it('ctr run -t through a terminal, with and without --rm', async () => {
    const rm = await both((s) => underPty(s, ['run', '-t', '--rm', IMAGE, track(s, uid('tty-rm')), ...TTY_CMD]));
    const keep = await both(async (s) => {
      const id = track(s, uid('tty'));
      const r = await underPty(s, ['run', '-t', IMAGE, id, ...TTY_CMD]);
      await run(s, ['containers', 'rm', id]);
      return r;
    });
    for (const [i, r] of [...rm, ...keep].entries()) {
      const what = `${i % 2 ? 'containerd' : 'berthd'} ${i < 2 ? '--rm' : 'no --rm'} (ends ${JSON.stringify(r.output.subarray(-16).toString('latin1'))})`;
      expect(r.code, what).toBe(0);
      expect(digest(r.output), what).toEqual(CTR_TTY_EXPECTED);
    }
  }, 60_000);

  it('ctr task exec, through pipes and through a terminal', async () => {
    const results = await both(async (s) => {
      const id = track(s, uid('exec'));
      await ctrOk(s.address, ['run', '-d', IMAGE, id, 'sleep', '600'], { namespace: s.ns });
      const pipe = await run(s, ['task', 'exec', '--exec-id', 'big', id, ...PIPE_CMD]);
      const tty = await underPty(s, ['task', 'exec', '-t', '--exec-id', 'bigtty', id, ...TTY_CMD]);
      await removeTask(s, id);
      return { pipe, tty };
    });
    for (const [i, r] of results.entries()) {
      const what = `${i ? 'containerd' : 'berthd'} (tty output ends ${JSON.stringify(r.tty.output.subarray(-16).toString('latin1'))})`;
      expect(r.pipe.code, `${what}: ${r.pipe.stderr}`).toBe(0);
      expect(digest(r.pipe.stdout), what).toEqual(PIPE_EXPECTED);
      expect(r.tty.code, what).toBe(0);
      expect(digest(r.tty.output), what).toEqual(CTR_TTY_EXPECTED);
    }
  }, 60_000);

  /** Runs test/go/largeio on one side; returns its per-run digests. */
  async function goRuns(s: Side, which: string, n: number, cmd: string[]): Promise<Array<Record<string, unknown>>> {
    const bin = await goBin;
    const id = track(s, uid(which));
    if (which.startsWith('init')) for (let i = 0; i < n; i++) track(s, `${id}-${i}`);
    const fifoDir = path.join(tmp.path, s === B ? 'fifo-b' : 'fifo-c');
    const r = await runGoProgram(bin, ['-address', s.address, '-namespace', s.ns, '-image', IMAGE, '-id', id, '-case', which, '-n', String(n), '-fifodir', fifoDir, '--', ...cmd], { timeoutMs: 90_000 });
    expect(r.code, `${s.name}: ${r.stdout}${r.stderr}`).toBe(0);
    expect(r.lines.at(-1)).toEqual({ step: 'done' });
    return r.lines.filter((l) => l.case === which);
  }

  it('Go client: exec with a terminal, Wait, Delete, IO().Wait() — 5 times', async () => {
    const runs = await both((s) => goRuns(s, 'exec-tty', 5, TTY_CMD));
    for (const [i, side] of runs.entries()) {
      const name = i ? 'containerd' : 'berthd';
      expect(side, name).toHaveLength(5);
      for (const r of side) expect({ side: name, run: r.run, code: r.code, len: r.len, sha256: r.sha256 }).toEqual({ side: name, run: r.run, code: 0, ...TTY_EXPECTED });
    }
  }, 90_000);

  it('Go client: exec through pipes, init with a terminal and through pipes', async () => {
    const runs = await both(async (s) => [
      ...(await goRuns(s, 'exec-pipe', 2, PIPE_CMD)),
      ...(await goRuns(s, 'init-tty', 2, TTY_CMD)),
      ...(await goRuns(s, 'init-pipe', 2, PIPE_CMD)),
    ]);
    for (const [i, side] of runs.entries()) {
      const name = i ? 'containerd' : 'berthd';
      expect(side.map((r) => r.case), name).toEqual(['exec-pipe', 'exec-pipe', 'init-tty', 'init-tty', 'init-pipe', 'init-pipe']);
      for (const r of side) {
        const want = String(r.case).endsWith('tty') ? TTY_EXPECTED : { ...PIPE_EXPECTED, stderr: 0 };
        const got = { side: name, case: r.case, run: r.run, code: r.code, len: r.len, sha256: r.sha256, ...(r.stderr !== undefined ? { stderr: r.stderr } : {}) };
        expect(got).toEqual({ side: name, case: r.case, run: r.run, code: 0, ...want });
      }
    }
  }, 90_000);
});
