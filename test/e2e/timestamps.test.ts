import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, runGoProgram } from '../harness';
import { startPair, type Pair } from './pair';

// Times with nanoseconds, checked the way containerd's own content and snapshot suites
// check them: test/go/timestamps reads Go's clock (nanoseconds) just before and just after
// each call and requires every created/updated/started time and event timestamp the
// daemon returns to lie between the two readings. A daemon that cuts times to
// milliseconds fails it; berthd must pass exactly where containerd passes.

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
});
afterAll(async () => {
  await pair?.cleanup();
});

interface Line {
  step: string;
  checked?: number;
  outside?: number;
  first?: string;
  error?: string;
}

describe('timestamps: every returned time lies within the client clock readings around its call', () => {
  it('test/go/timestamps: same results on berthd as on containerd, nothing outside', async () => {
    const bin = await buildGoProgram('timestamps');
    for (const snapshotter of ['native', 'overlayfs']) {
      const args = (address: string): string[] => ['-address', address, '-namespace', `ts-${snapshotter}`, '-rounds', '10', '-snapshotter', snapshotter];
      // One daemon after the other: the check is about timing, so no competition for the CPUs.
      const c = await runGoProgram(bin, args(pair.containerd.address), { timeoutMs: 180_000 });
      const b = await runGoProgram(bin, args(pair.berthd.address), { timeoutMs: 180_000 });
      expect(c.code, c.stdout + c.stderr).toBe(0);
      expect(b.code, b.stdout + b.stderr).toBe(0);
      const berthd = b.lines as unknown as Line[];
      const containerd = c.lines as unknown as Line[];
      // The same kinds of times were checked, in the same order (how many probe events
      // it took to see the subscription live is timing, so counts are not compared)...
      expect(berthd.map((l) => l.step)).toEqual(containerd.map((l) => l.step));
      expect(berthd.at(-1)?.step).toBe('done');
      // ...and containerd passes every one of them, so berthd must too.
      const outside = (lines: Line[]): Line[] => lines.filter((l) => (l.outside ?? 0) > 0);
      expect(outside(containerd), `containerd (${snapshotter})`).toEqual([]);
      expect(outside(berthd), `berthd (${snapshotter})`).toEqual([]);
      for (const l of berthd) if (l.step !== 'done') expect(l.checked, l.step).toBeGreaterThan(0);
      // Each kind covers the daemon's every call of that kind.
      const counts = (lines: Line[]): Record<string, number | undefined> =>
        Object.fromEntries(lines.filter((l) => l.step !== 'event.publish').map((l) => [l.step, l.checked]));
      expect(counts(berthd)).toEqual(counts(containerd));
    }
  }, 600_000);
});
