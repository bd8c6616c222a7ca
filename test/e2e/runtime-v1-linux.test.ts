// io.containerd.runtime.v1.linux through the Go client (ctr refuses --runc-binary for it),
// side by side: berthd runs it with its own shim, honouring containerd.linux.runc.RuncOptions;
// errors and results must read as containerd 1.6's v1 runtime gives them.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, runGoProgram, waitForPidExit, RUNC } from '../harness';
import { ctrOn as run, SideBySide, uid, type Side } from './sides';

const IMAGE = 'docker.io/library/berth-v1:1';
const V1 = 'io.containerd.runtime.v1.linux';
const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/usr/bin/containerd-shim');

let pair: SideBySide;
let B: Side;
let C: Side;
const track = (s: Side, name: string): string => pair.track(s, uid(name));
/** Where each daemon keeps the task bundles of a side's namespace. */
function bundles(s: Side): string {
  return s.name === 'berthd' ? path.join(pair.berthd.state, 'tasks', s.ns) : path.join(pair.containerd.state, V1, s.ns);
}

describe.skipIf(!canRun)(`runtime ${V1} on berthd next to containerd`, () => {
  beforeAll(async () => {
    pair = await SideBySide.start({ prefix: 'v1', image: IMAGE });
    ({ B, C } = pair);
  }, 120_000);

  afterAll(async () => {
    await pair?.cleanup();
  }, 120_000);

  let bin: string;
  const go = (s: Side, id: string, extra: string[], args: string[]) =>
    runGoProgram(bin, ['-address', s.address, '-namespace', s.ns, '-image', IMAGE, '-id', id, '-runtime', V1, ...extra, '--', ...args]);
  /** The Go error with what legitimately differs replaced: bundle dirs, the container id. */
  const clean = (s: Side, text: unknown, id: string): string => String(text).split(bundles(s)).join('<BUNDLES>').split(id).join('<ID>');

  it('builds the Go client program', async () => {
    bin = await buildGoProgram('runtimeopts');
  }, 300_000);

  it('RuncOptions{Runtime: "no-runc"}: the same error, naming no-runc, and nothing left behind', async () => {
    const ids = new Map([B, C].map((s) => [s, track(s, 'norunc')]));
    const [b, c] = await Promise.all([B, C].map((s) => go(s, ids.get(s)!, ['-legacy-runc', 'no-runc'], ['true'])));
    expect(c!.code).toBe(1);
    expect(b!.code).toBe(1);
    expect(String(c!.lines[0]?.error)).toContain('"no-runc"');
    expect(clean(B, b!.lines[0]?.error, ids.get(B)!)).toBe(clean(C, c!.lines[0]?.error, ids.get(C)!));
    expect(b!.lines[0]?.step).toBe('task');
    // The container went with its task, on both; so did berthd's bundle.
    for (const s of [B, C]) expect((await run(s, ['containers', 'ls', '-q'])).stdout).not.toContain(ids.get(s)!);
    expect(fs.existsSync(path.join(bundles(B), ids.get(B)!))).toBe(false);
  }, 60_000);

  it('RuncOptions{Runtime: <real runc>} runs the task like containerd', async () => {
    const r = await Promise.all([B, C].map((s) => go(s, track(s, 'runc'), ['-legacy-runc', RUNC], ['sh', '-c', 'echo v1; exit 3'])));
    for (const x of r) expect(x.lines).toEqual([{ step: 'exited', code: 3, output: 'v1\n' }]);
  }, 60_000);

  it('a v1-runtime task outlives a berthd restart and is still driven after it', async () => {
    const id = track(B, 'restart');
    const started = await go(B, id, ['-legacy-runc', RUNC, '-detach'], ['sleep', '300']);
    expect(started.lines[0]).toMatchObject({ step: 'started' });
    const pid = Number(started.lines[0]?.pid);
    expect(pid).toBeGreaterThan(0);
    await pair.berthd.restart();
    const ls = await run(B, ['task', 'ls']);
    expect(ls.stdout).toMatch(new RegExp(`^${id}\\s+${pid}\\s+RUNNING`, 'm'));
    expect((await run(B, ['task', 'kill', '-s', 'SIGKILL', id])).code).toBe(0);
    // The shim reaps it: a pid that stays (even as a zombie) means nobody supervises it.
    expect(await waitForPidExit(pid, 10_000)).toBe(true);
    expect((await run(B, ['task', 'rm', id])).code).toBe(0);
    expect((await run(B, ['task', 'ls'])).stdout).not.toContain(id);
  }, 60_000);
});
