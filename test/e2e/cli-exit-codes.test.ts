import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNC } from '../harness';
import { SideBySide, ctrOn, uid, type Side } from './sides';

// `berth run`'s exit codes follow docker's convention, on berthd and a real containerd
// alike: the container process's own code (128+N when signal N ended it), 126 when its
// command cannot be invoked, 127 when it is not found, and 125 when berth itself fails
// (usage, an unknown image, an id in use, no daemon, a mount runc cannot make).

const BERTH = join(__dirname, '..', '..', 'bin', 'berth');
const IMAGE = 'docker.io/library/berth-exit:1';
const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');

let pair: SideBySide;

interface Out {
  code: number | null;
  stderr: string;
}

function berth(address: string, ns: string, args: string[]): Out {
  const r = spawnSync(BERTH, ['-a', address, '-n', ns, ...args], { encoding: 'utf8', timeout: 60_000, input: '' });
  return { code: r.status, stderr: r.stderr };
}

/** `berth run --rm IMAGE <fresh id> CMD…` on both sides: [berthd's, containerd's]. */
function runBoth(cmd: string[], flags: string[] = []): [Out, Out] {
  const one = (s: Side): Out => berth(s.address, s.ns, ['run', '--rm', ...flags, IMAGE, pair.track(s, uid('x')), ...cmd]);
  return [one(pair.B), one(pair.C)];
}

function containersLeft(s: Side): string[] {
  const r = spawnSync(BERTH, ['-a', s.address, '-n', s.ns, 'containers', 'ls', '-q'], { encoding: 'utf8', timeout: 30_000 });
  return r.stdout.split('\n').filter(Boolean);
}

beforeAll(async () => {
  if (!canRun) return;
  pair = await SideBySide.start({ prefix: 'berthexit', image: IMAGE });
}, 180_000);
afterAll(async () => {
  await pair?.cleanup();
});

describe.skipIf(!canRun)('berth run exit codes (docker convention) on berthd and containerd', () => {
  it("the process's own code, with and without a terminal", () => {
    for (const [cmd, code] of [
      [['true'], 0],
      [['sh', '-c', 'exit 3'], 3],
      [['sh', '-c', 'exit 124'], 124],
      [['sh', '-c', 'exit 125'], 125],
    ] as const) {
      const r = runBoth([...cmd]);
      expect(r.map((o) => o.code), cmd.join(' ')).toEqual([code, code]);
    }
    // With a terminal too.
    const t = runBoth(['sh', '-c', 'exit 7'], ['-t']);
    expect(t.map((o) => o.code), t.map((o) => o.stderr).join(' / ')).toEqual([7, 7]);
  });

  it('128+N when signal N ends the container process (a kill from outside it: its PID 1 ignores its own)', async () => {
    // Only SIGKILL: a PID 1 without a handler ignores SIGTERM even from outside its namespace.
    for (const [sig, code] of [['SIGKILL', 137]] as const) {
      const codes = await pair.both(async (s) => {
        const id = pair.track(s, uid('sig'));
        const child = spawn(BERTH, ['-a', s.address, '-n', s.ns, 'run', '--rm', IMAGE, id, 'sleep', '60'], { stdio: 'ignore' });
        const exited = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
        try {
          // Bounded: the task is RUNNING within 20 s or the test fails.
          const deadline = Date.now() + 20_000;
          while (!(await ctrOn(s, ['tasks', 'ls'])).stdout.split('\n').some((l) => l.startsWith(`${id} `) && l.includes('RUNNING'))) {
            if (Date.now() > deadline) throw new Error(`${s.name}: ${id} not running after 20 s`);
            await new Promise((r) => setTimeout(r, 100));
          }
          await ctrOn(s, ['tasks', 'kill', '-s', sig, id]);
          return await Promise.race([exited, new Promise<string>((r) => setTimeout(() => r('berth still running after 20 s'), 20_000))]);
        } finally {
          if (child.exitCode === null) child.kill('SIGKILL');
        }
      });
      expect(codes, sig).toEqual([code, code]);
    }
  });

  it('126 for a command that cannot be invoked, 127 for one that does not exist', () => {
    for (const [cmd, code] of [
      [['/etc/passwd'], 126], // not executable: EACCES
      [['/etc'], 126], // a directory
      [['/no/such/binary'], 127],
      [['no-such-command'], 127], // not in $PATH
    ] as const) {
      const r = runBoth([...cmd]);
      expect(r.map((o) => o.code), `${cmd[0]}: ${r[0].stderr} / ${r[1].stderr}`).toEqual([code, code]);
      expect(r[0].stderr).toMatch(/^berth: /);
    }
    for (const s of [pair.B, pair.C]) expect(containersLeft(s), s.name).toEqual([]);
  });

  it("125 when berth's own work fails", () => {
    const cases: Array<[string, (s: Side) => Out, RegExp]> = [
      ['unknown flag', (s) => berth(s.address, s.ns, ['run', '--frob', IMAGE, 'x']), /Unknown option/],
      ['no id', (s) => berth(s.address, s.ns, ['run', IMAGE]), /container id must be provided/],
      ['unknown image', (s) => berth(s.address, s.ns, ['run', '--rm', 'docker.io/library/no-such:1', pair.track(s, uid('ni')), 'true']), /not found/],
      ['no daemon', (s) => berth(join(pair.tmp.path, 'no.sock'), s.ns, ['run', '--rm', IMAGE, 'x', 'true']), /^berth: /],
      [
        // runc cannot mount a missing source: "no such file or directory", but about the mount, not the command.
        'bad mount source',
        (s) => berth(s.address, s.ns, ['run', '--rm', '--mount', `type=bind,src=${join(pair.tmp.path, 'missing')},dst=/mnt,options=rbind`, IMAGE, pair.track(s, uid('mnt')), 'true']),
        /^berth: /,
      ],
    ];
    for (const [what, fn, msg] of cases) {
      for (const s of [pair.B, pair.C]) {
        const o = fn(s);
        expect(o.code, `${what} on ${s.name}: ${o.stderr}`).toBe(125);
        expect(o.stderr, `${what} on ${s.name}`).toMatch(msg);
      }
    }
    // An id in use: the first container stays, the second run fails with 125.
    for (const s of [pair.B, pair.C]) {
      const id = pair.track(s, uid('dup'));
      expect(berth(s.address, s.ns, ['run', '-d', IMAGE, id, 'sleep', '30']).code).toBe(0);
      const dup = berth(s.address, s.ns, ['run', '--rm', IMAGE, id, 'true']);
      expect(dup.code, `${s.name}: ${dup.stderr}`).toBe(125);
      expect(dup.stderr).toMatch(/already exists/);
      expect(containersLeft(s)).toEqual([id]);
    }
  });
});
