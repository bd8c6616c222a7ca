// StreamTable (src/grpc/stream-table.ts) against a Map as the model: random opens and
// closes of odd, increasing ids with a few long-lived ones, as a connection sees them, and
// deletions whose probe runs wrap around the end of the array.
import { describe, expect, it } from 'vitest';
import { StreamTable } from '../../src/grpc/stream-table';

interface S {
  readonly id: number;
}

function check(t: StreamTable<S>, model: Map<number, S>, probeIds: number[]): void {
  expect(t.size).toBe(model.size);
  for (const id of probeIds) expect(t.get(id)).toBe(model.get(id));
  expect(t.values().map((s) => s.id).sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b));
}

describe('StreamTable', () => {
  it('agrees with a Map over random opens and closes', () => {
    let seed = 12345;
    const rnd = (): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x7fffffff;
    };
    const t = new StreamTable<S>();
    const model = new Map<number, S>();
    let next = 1;
    const all: number[] = [];
    for (let step = 0; step < 20000; step++) {
      if (model.size < 100 && (model.size === 0 || rnd() < 0.55)) {
        const s = { id: next };
        next += 2;
        t.set(s);
        model.set(s.id, s);
        all.push(s.id);
      } else {
        const ids = [...model.keys()];
        // Mostly the oldest few (calls finishing), sometimes any (a long stream ending).
        const id = rnd() < 0.8 ? (ids[Math.floor(rnd() * Math.min(5, ids.length))] as number) : (ids[Math.floor(rnd() * ids.length)] as number);
        expect(t.delete(id)).toBe(true);
        model.delete(id);
        expect(t.delete(id)).toBe(false);
      }
      if (step % 500 === 0) check(t, model, all.slice(-300));
    }
    check(t, model, all);
  });

  it('deletes within a probe run that wraps around the end', () => {
    const t = new StreamTable<S>(8);
    // Homes (id >>> 1) & 7: ids 13, 15 -> 6, 7; 29 -> 6 (probes to 0); 31 -> 7 (probes to 1).
    const ss = [13, 15, 29, 31].map((id) => ({ id }));
    for (const s of ss) t.set(s);
    expect(t.delete(13)).toBe(true);
    expect(t.get(15)?.id).toBe(15);
    expect(t.get(29)?.id).toBe(29);
    expect(t.get(31)?.id).toBe(31);
    expect(t.delete(15)).toBe(true);
    expect(t.get(29)?.id).toBe(29);
    expect(t.get(31)?.id).toBe(31);
    expect(t.size).toBe(2);
  });

  it('replaces an entry with the same id and grows past its first capacity', () => {
    const t = new StreamTable<S>(8);
    const a = { id: 1 };
    const b = { id: 1 };
    t.set(a);
    t.set(b);
    expect(t.size).toBe(1);
    expect(t.get(1)).toBe(b);
    for (let id = 3; id < 400; id += 2) t.set({ id });
    expect(t.size).toBe(200);
    for (let id = 1; id < 400; id += 2) expect(t.get(id)?.id).toBe(id);
  });
});
