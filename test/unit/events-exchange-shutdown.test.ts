import { afterEach, describe, expect, it, vi } from 'vitest';
import { Exchange } from '../../src/events/exchange';
import type { Envelope } from '../../src/events/envelope';
import { parseFilters } from '../../src/filters/parser';
import { packAny, unpackAny } from '../../src/proto/any';
import { UnavailableError } from '../../src/errdefs/errors';

// The exchange while berthd stops (subscriptions end at once, forwarded events are
// refused so shims keep them) and after a restart (forwarded events wait for a subscriber).

const exitEvent = packAny('containerd.events.TaskExit', { container_id: 'c1', pid: 42, exit_status: 137 });
const forwarded = (): Parameters<Exchange['forward']>[0] => ({
  timestamp: { seconds: 1_700_000_000, nanos: 0 },
  namespace: 'moby',
  topic: '/tasks/exit',
  event: exitEvent,
});

async function drain(it: AsyncIterator<Envelope>): Promise<{ got: Envelope[]; error: unknown }> {
  const got: Envelope[] = [];
  try {
    for (;;) {
      const r = await it.next();
      if (r.done) return { got, error: undefined };
      got.push(r.value);
    }
  } catch (error) {
    return { got, error };
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('Exchange.shutdown', () => {
  it('ends a waiting subscription at once with Unavailable', async () => {
    const ex = new Exchange(unpackAny);
    const sub = ex.subscribe(parseFilters([]));
    const iter = sub[Symbol.asyncIterator]();
    const pending = drain(iter);
    ex.forward(forwarded());
    ex.shutdown();
    const { got, error } = await pending;
    expect(got.map((e) => e.topic)).toEqual(['/tasks/exit']);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(ex.subscriberCount).toBe(0);
  });

  it('drops what a subscriber had not read yet, and refuses forwarded events afterwards', async () => {
    const ex = new Exchange(unpackAny);
    const sub = ex.subscribe(parseFilters([]));
    ex.forward(forwarded());
    ex.forward(forwarded());
    ex.shutdown();
    const { got, error } = await drain(sub[Symbol.asyncIterator]());
    expect(got).toEqual([]);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(() => ex.forward(forwarded())).toThrow(UnavailableError);
    // The daemon's own events reach nobody, without failing the call that published them.
    expect(() => ex.publish('moby', '/containers/delete', packAny('containerd.events.ContainerDelete', { id: 'c1' }))).not.toThrow();
  });

  it('fails a subscription made while stopping', async () => {
    const ex = new Exchange(unpackAny);
    ex.shutdown();
    const { got, error } = await drain(ex.subscribe(parseFilters([]))[Symbol.asyncIterator]());
    expect(got).toEqual([]);
    expect(error).toBeInstanceOf(UnavailableError);
    expect(ex.subscriberCount).toBe(0);
  });
});

describe('Exchange.holdForwards', () => {
  it('refuses forwarded events until the first subscriber arrives', async () => {
    const ex = new Exchange(unpackAny);
    ex.holdForwards();
    ex.releaseForwards(60_000);
    expect(() => ex.forward(forwarded())).toThrow(UnavailableError);
    const sub = ex.subscribe(parseFilters(['topic=="/tasks/exit"']));
    ex.forward(forwarded());
    sub.close();
    const { got } = await drain(sub[Symbol.asyncIterator]());
    expect(got.map((e) => [e.namespace, e.topic])).toEqual([['moby', '/tasks/exit']]);
  });

  it('ends by itself after the time given, and at once with 0', () => {
    vi.useFakeTimers();
    const ex = new Exchange(unpackAny);
    ex.holdForwards();
    ex.releaseForwards(5000);
    vi.advanceTimersByTime(4900);
    expect(() => ex.forward(forwarded())).toThrow(UnavailableError);
    vi.advanceTimersByTime(200);
    expect(() => ex.forward(forwarded())).not.toThrow();

    const ex2 = new Exchange(unpackAny);
    ex2.holdForwards();
    expect(() => ex2.forward(forwarded())).toThrow(UnavailableError);
    ex2.releaseForwards(0);
    expect(() => ex2.forward(forwarded())).not.toThrow();
  });
});
