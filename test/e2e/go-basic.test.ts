import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoProgram, runGoProgram } from '../harness';
import { normalize, startPair, type Pair } from './pair';

// The containerd Go client (Debian's 1.6 sources) drives namespaces, leases, containers
// and event subscription on berthd exactly as on a real containerd.

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
});
afterAll(async () => {
  await pair?.cleanup();
});

describe('containerd Go client: namespaces, leases, containers, events', () => {
  it('test/go/basic gives the same results on berthd as on containerd', async () => {
    const bin = await buildGoProgram('basic');
    const [b, c] = await Promise.all([
      runGoProgram(bin, ['-address', pair.berthd.address, '-namespace', 'go-basic']),
      runGoProgram(bin, ['-address', pair.containerd.address, '-namespace', 'go-basic']),
    ]);
    expect(b.code, b.stdout + b.stderr).toBe(0);
    expect(c.code, c.stdout + c.stderr).toBe(0);
    // The version step reports each daemon's own version; `probes` counts how many probe
    // events it took for the subscription to be live, which is timing.
    const comparable = (lines: Array<Record<string, unknown>>): unknown[] =>
      lines.map((l) => {
        if (l.step === 'version') return 'version';
        const { probes: _probes, ...rest } = l;
        return JSON.parse(normalize(JSON.stringify(rest))) as unknown;
      });
    expect(comparable(b.lines)).toEqual(comparable(c.lines));
    expect(b.lines.find((l) => l.step === 'event')).toMatchObject({ topic: '/containers/create', namespace: 'go-basic' });
  }, 300_000);
});
