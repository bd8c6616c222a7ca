import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CTR_BIN, RUNC, buildGoProgram, ctrOk, runGoProgram } from '../harness';
import { ctrOn as run, removeTask, SideBySide, uid, type Side } from './sides';

// No byte of a process's output is lost (issue 11): several MB printed through pipes and
// through a terminal, by a task's init and by an exec, with and without --rm, through the
// real ctr and through the containerd 1.6 Go client (test/go/largeio: exec + Wait +
// Delete + IO().Wait(), the flow of containerd's large-TTY-output integration test).
// berthd runs its own shim; a real containerd runs its runc shim next to it; both must
// deliver exactly the expected bytes (sha256 and length).

const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox') && fs.existsSync('/usr/bin/script');

const IMAGE = 'docker.io/library/berth-large-output:1';
const COUNT = 1_000_000;

interface Digest {
  len: number;
  sha256: string;
}

/** What a run delivered: length, sha256 and its last 64 bytes (where a short one stopped). */
interface Got extends Digest {
  tail: string;
}

interface Expected {
  text: string;
  digest: Digest;
}

function digest(b: Buffer | string): Digest {
  const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  return { len: buf.length, sha256: createHash('sha256').update(buf).digest('hex') };
}

function got(b: Buffer | string): Got {
  const buf = typeof b === 'string' ? Buffer.from(b, 'latin1') : b;
  return { ...digest(buf), tail: buf.subarray(-64).toString('latin1') };
}

function expected(text: string): Expected {
  return { text, digest: digest(text) };
}

const numbers = (sep: string): string => Array.from({ length: COUNT }, (_, i) => String(i + 1)).join(sep);
/** `seq 1 COUNT` through pipes: one number a line. */
const PIPE_CMD = ['busybox', 'seq', '1', String(COUNT)];
const PIPE = expected(numbers('\n') + '\n');
/** `seq -s " " COUNT` through a terminal: one long line, its "\n" turned into "\r\n" by the pty. */
const TTY_CMD = ['busybox', 'seq', '-s', ' ', String(COUNT)];
const TTY = expected(numbers(' ') + '\r\n');
/** The same through ctr -t under script(1): script's own terminal (not raw under ctr, on
 * either daemon) adds a "\r" before each "\n" once more. */
const CTR_TTY = expected(numbers(' ') + '\r\r\n');

/**
 * The run delivered exactly `want`. containerd 1.6.20's runc shim itself sometimes drops
 * the end of an init's terminal output (it shuts the console down when the init exits,
 * ~1 run in 10 here): with `shortTailKnown` (containerd, init with a terminal) a strict
 * prefix of `want` is accepted there and reported. berthd is always held to every byte.
 */
function expectWhole(what: string, g: Got, want: Expected, shortTailKnown = false): void {
  const exact = g.len === want.digest.len && g.sha256 === want.digest.sha256;
  if (!exact && shortTailKnown && g.len > 0 && g.len < want.digest.len && want.text.slice(g.len - g.tail.length, g.len) === g.tail) {
    console.warn(`${what}: containerd delivered ${g.len} of ${want.digest.len} bytes (its known loss of a terminal's tail)`);
    return;
  }
  expect({ what, len: g.len, sha256: g.sha256, tail: g.tail }).toEqual({ what, ...want.digest, tail: want.text.slice(-64) });
}

let pair: SideBySide;
let B: Side;
const track = (s: Side, id: string): string => pair.track(s, id);
const both = <T>(fn: (s: Side) => Promise<T>): Promise<[T, T]> => pair.both(fn);

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

describe.skipIf(!canRun)('large outputs arrive whole on berthd (berth shim) as on containerd', () => {
  let goBin: Promise<string>;

  beforeAll(async () => {
    goBin = buildGoProgram('largeio');
    goBin.catch(() => undefined);
    pair = await SideBySide.start({ prefix: 'lo', image: IMAGE });
    ({ B } = pair);
    fs.mkdirSync(path.join(pair.tmp.path, 'fifo-b'));
    fs.mkdirSync(path.join(pair.tmp.path, 'fifo-c'));
  }, 600_000);

  afterAll(async () => {
    await pair?.cleanup();
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
      const what = `${i % 2 ? 'containerd' : 'berthd'} ctr run ${i < 2 ? '--rm' : 'without --rm'}`;
      expect(r.code, `${what}: ${r.stderr}`).toBe(0);
      expectWhole(what, got(r.stdout), PIPE);
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
      const what = `${i % 2 ? 'containerd' : 'berthd'} ctr run -t ${i < 2 ? '--rm' : 'without --rm'}`;
      expect(r.code, what).toBe(0);
      expectWhole(what, got(r.output), CTR_TTY, i % 2 === 1);
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
      const what = `${i ? 'containerd' : 'berthd'} ctr task exec`;
      expect(r.pipe.code, `${what}: ${r.pipe.stderr}`).toBe(0);
      expectWhole(what, got(r.pipe.stdout), PIPE);
      expect(r.tty.code, `${what} -t`).toBe(0);
      expectWhole(`${what} -t`, got(r.tty.output), CTR_TTY);
    }
  }, 60_000);

/** Runs test/go/largeio on one side; returns its per-run digests. */
  async function goRuns(s: Side, which: string, n: number, cmd: string[]): Promise<Array<Record<string, unknown>>> {
    const bin = await goBin;
    const id = track(s, uid(which));
    if (which.startsWith('init')) for (let i = 0; i < n; i++) track(s, `${id}-${i}`);
    const fifoDir = path.join(pair.tmp.path, s === B ? 'fifo-b' : 'fifo-c');
    const r = await runGoProgram(bin, ['-address', s.address, '-namespace', s.ns, '-image', IMAGE, '-id', id, '-case', which, '-n', String(n), '-fifodir', fifoDir, '--', ...cmd], { timeoutMs: 90_000 });
    expect(r.code, `${s.name}: ${r.stdout}${r.stderr}`).toBe(0);
    expect(r.lines.at(-1)).toEqual({ step: 'done' });
    return r.lines.filter((l) => l.case === which);
  }

  /** One Go run's line as Got. */
  const goGot = (r: Record<string, unknown>): Got => ({ len: Number(r.len), sha256: String(r.sha256), tail: String(r.tail) });

  it('Go client: exec with a terminal, Wait, Delete, IO().Wait() — 5 times', async () => {
    const runs = await both((s) => goRuns(s, 'exec-tty', 5, TTY_CMD));
    for (const [i, side] of runs.entries()) {
      const name = i ? 'containerd' : 'berthd';
      expect(side.map((r) => [r.run, r.code]), name).toEqual([0, 1, 2, 3, 4].map((n) => [n, 0]));
      for (const r of side) expectWhole(`${name} exec-tty run ${String(r.run)}`, goGot(r), TTY);
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
      expect(side.map((r) => [r.case, r.code]), name).toEqual(['exec-pipe', 'exec-pipe', 'init-tty', 'init-tty', 'init-pipe', 'init-pipe'].map((c) => [c, 0]));
      for (const r of side) {
        const what = `${name} ${String(r.case)} run ${String(r.run)}`;
        if (r.case === 'init-tty') {
          expectWhole(what, goGot(r), TTY, name === 'containerd');
        } else {
          expectWhole(what, goGot(r), PIPE);
          expect(r.stderr, what).toBe(0);
        }
      }
    }
  }, 90_000);
});
