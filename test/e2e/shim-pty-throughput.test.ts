// A terminal's bytes move as fast as the pty lets them (both directions at once): an exec
// with a terminal in raw mode (`stty raw -echo; exec head -c N`) gets N MiB of
// pseudo-random bytes on its stdin from the containerd 1.6 Go client and writes them back
// (test/go/ptyflood), through berthd's shim; the bytes must come back intact and within a
// time bound. The bound is loose enough for a loaded 2-core machine, yet a shim that moves
// a terminal at ~2 MB/s (writes to a full pty master retried on a timer, as berth's did)
// cannot meet it. containerd 1.6.20's runc shim runs the same beside it, for the record
// only (its raw-pty transfers are known to lose bytes: see cri-streaming-pods).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RUNC, buildGoProgram, runGoProgram } from '../harness';
import { SideBySide, uid, type Side } from './sides';

const canRun = process.getuid?.() === 0 && fs.existsSync(RUNC) && fs.existsSync('/bin/busybox');

const IMAGE = 'docker.io/library/berth-pty-flood:1';
/** MiB each way. */
const MB = Number(process.env.BERTH_PTY_FLOOD_MB ?? 64);
/** At least 4 MiB/s each way (16 s for 64 MiB), on a loaded 2-core machine; measured
 * here: 4.9–9.3 s (containerd 1.6.20's shim beside it: 5.4–6.9 s). The timer-retried
 * writes this replaced took 45 s (~1.4 MiB/s each way). */
const BOUND_S = MB / 4;

let pair: SideBySide;

interface Flood {
  sent: number;
  received: number;
  sentSha: string;
  receivedSha: string;
  code: number;
  seconds: number;
}

describe.skipIf(!canRun)('a raw terminal moves large transfers both ways quickly (berth shim)', () => {
  let bin: Promise<string>;

  beforeAll(async () => {
    bin = buildGoProgram('ptyflood');
    bin.catch(() => undefined);
    pair = await SideBySide.start({ prefix: 'ptyf', image: IMAGE });
  }, 600_000);

  afterAll(async () => {
    await pair?.cleanup();
  }, 120_000);

  async function flood(s: Side, timeoutMs: number, extra: string[] = []): Promise<{ result?: Flood; output: string }> {
    const fifoDir = path.join(pair.tmp.path, `fifo-${s.name}`);
    fs.mkdirSync(fifoDir, { recursive: true });
    const id = pair.track(s, uid('flood'));
    const r = await runGoProgram(await bin, ['-address', s.address, '-namespace', s.ns, '-image', IMAGE, '-id', id, '-mb', String(MB), '-fifodir', fifoDir, '-timeout', `${Math.floor(timeoutMs / 1000) - 5}s`, ...extra], {
      timeoutMs,
    });
    const line = r.lines.find((l) => 'code' in l) as Flood | undefined;
    return { result: r.code === 0 ? line : undefined, output: `exit ${r.code ?? r.signal}${r.timedOut ? ' (timed out)' : ''}\n${r.stdout}${r.stderr}` };
  }

  it(`berthd: ${MB} MiB each way through a raw pty arrive intact within ${BOUND_S} s`, async () => {
    const { result, output } = await flood(pair.B, 120_000);
    expect(result, output).toBeDefined();
    const r = result!;
    console.log(`berthd: raw pty ${MB} MiB each way: ${r.seconds.toFixed(2)} s (${((2 * MB) / r.seconds).toFixed(1)} MiB/s both ways)`);
    expect({ code: r.code, sent: r.sent, received: r.received, sha: r.receivedSha }).toEqual({ code: 0, sent: MB << 20, received: MB << 20, sha: r.sentSha });
    expect(r.seconds).toBeLessThan(BOUND_S);
  }, 150_000);

  it('berthd: a client that stops reading the output holds back its input (the shim takes a bounded amount)', async () => {
    const { result, output } = await flood(pair.B, 60_000, ['-stall', '3s']);
    expect(result, output).toBeDefined();
    const r = result as unknown as { stalled: number; acceptedWhileStalled: number; code: number };
    console.log(`berthd: output not read for 3 s: ${r.acceptedWhileStalled} bytes of input taken`);
    // the FIFOs, the terminal's queues and one chunk per copy in the shim: well under 2 MiB
    expect(r.acceptedWhileStalled).toBeLessThan(2 << 20);
    expect(r.code).toBe(137);
  }, 90_000);

  it('containerd 1.6.20: the same, measured for comparison', async () => {
    const { result, output } = await flood(pair.C, 60_000);
    if (!result) {
      console.log(`containerd: raw pty ${MB} MiB each way did not finish: ${output.slice(0, 500)}`);
      return;
    }
    const intact = result.received === result.sent && result.receivedSha === result.sentSha;
    console.log(`containerd: raw pty ${MB} MiB each way: ${result.seconds.toFixed(2)} s, ${result.received} bytes back${intact ? ', intact' : ', NOT intact'}`);
  }, 90_000);
});
