import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrOk, ctrSpawn, type CtrStream, type DaemonHandle } from '../harness';
import { startPair, type Pair } from './pair';

// SIGTERM while a client holds an Events.Subscribe stream (`ctr events`): the daemon
// ends the stream at once and stops within moments, as containerd does, instead of
// waiting out its grace period for a stream that never ends by itself.

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
});
afterAll(async () => {
  await pair?.cleanup();
});

/** `ctr events`, returned once it provably receives events. */
async function subscribed(address: string, tag: string): Promise<CtrStream> {
  const stream = ctrSpawn(address, ['events']);
  for (let n = 0; ; n++) {
    await ctrOk(address, ['namespaces', 'create', `${tag}-${n}`]);
    try {
      await stream.waitForLine(`${tag}-${n}`, 1000);
      return stream;
    } catch {
      if (n >= 20) {
        await stream.stop();
        throw new Error(`ctr events never started: ${stream.stderr()}`);
      }
    }
  }
}

async function sigtermWithSubscriber(daemon: DaemonHandle, tag: string): Promise<{ stopMs: number; code: number | null; ctrCode: number | null; ctrStderr: string }> {
  const stream = await subscribed(daemon.address, tag);
  try {
    const t0 = Date.now();
    const code = await daemon.stop(10_000);
    const stopMs = Date.now() - t0;
    const st = await Promise.race([stream.exited, new Promise<undefined>((r) => setTimeout(() => r(undefined), 5000))]);
    return { stopMs, code, ctrCode: st ? st.code : null, ctrStderr: stream.stderr() };
  } finally {
    await stream.stop();
  }
}

describe('SIGTERM with an event subscriber attached', () => {
  it('berthd and containerd both stop at once and end the stream', async () => {
    const [b, c] = await Promise.all([
      sigtermWithSubscriber(pair.berthd, 'sd-b'),
      sigtermWithSubscriber(pair.containerd, 'sd-c'),
    ]);
    for (const r of [b, c]) {
      expect(r.code).toBe(0);
      // ctr reports the stream's end as an error and exits non-zero.
      expect(r.ctrCode, r.ctrStderr).not.toBe(0);
      expect(r.ctrCode).not.toBeNull();
    }
    // berthd's grace period is 2 s: it must not be spent waiting on the subscriber.
    expect(b.stopMs, `berthd took ${b.stopMs} ms`).toBeLessThan(1500);
    expect(b.ctrStderr).toMatch(/Unavailable/);

    // Both serve again after a restart, and a new subscriber gets events.
    await Promise.all([pair.berthd.restart(), pair.containerd.restart()]);
    const again = await subscribed(pair.berthd.address, 'sd-again');
    await again.stop();
  });
});
