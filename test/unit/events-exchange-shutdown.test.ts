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
  it('holds forwarded events for the clients until the first one subscribes, then gives them in order before newer ones', async () => {
    const ex = new Exchange(unpackAny);
    ex.holdForwards();
    ex.releaseForwards(60_000);
    ex.forward({ ...forwarded(), topic: '/tasks/exit' });
    ex.forward({ ...forwarded(), topic: '/tasks/delete', event: packAny('containerd.events.TaskDelete', { container_id: 'c1' }) });
    const sub = ex.subscribe(parseFilters([]));
    ex.forward({ ...forwarded(), topic: '/tasks/start', event: packAny('containerd.events.TaskStart', { container_id: 'c2' }) });
    sub.close();
    const { got } = await drain(sub[Symbol.asyncIterator]());
    expect(got.map((e) => e.topic)).toEqual(['/tasks/exit', '/tasks/delete', '/tasks/start']);
  });

  it("gives forwarded events to berthd's internal subscribers at once while the clients' copies are held, and never twice", async () => {
    const ex = new Exchange(unpackAny);
    const internal = ex.subscribe(parseFilters(['topic=="/tasks/exit"']), { internal: true });
    ex.holdForwards();
    ex.releaseForwards(60_000);
    ex.forward(forwarded());
    const first = await internal[Symbol.asyncIterator]().next();
    expect(first.done).toBe(false);
    expect((first.value as Envelope).topic).toBe('/tasks/exit');
    // The internal subscriber did not end the hold; a client does, and gets the held event.
    const client = ex.subscribe(parseFilters(['topic=="/tasks/exit"']));
    internal.close();
    client.close();
    expect((await drain(internal[Symbol.asyncIterator]())).got).toEqual([]);
    expect((await drain(client[Symbol.asyncIterator]())).got.map((e) => e.topic)).toEqual(['/tasks/exit']);
  });

  it('drops the held events when the hold runs out with no client, and passes later ones straight on', async () => {
    vi.useFakeTimers();
    const ex = new Exchange(unpackAny);
    ex.holdForwards();
    ex.releaseForwards(5000);
    ex.forward(forwarded());
    vi.advanceTimersByTime(4900);
    expect(() => ex.forward(forwarded())).not.toThrow();
    vi.advanceTimersByTime(200);
    const sub = ex.subscribe(parseFilters([]));
    ex.forward({ ...forwarded(), topic: '/tasks/delete', event: packAny('containerd.events.TaskDelete', { container_id: 'c1' }) });
    sub.close();
    expect((await drain(sub[Symbol.asyncIterator]())).got.map((e) => e.topic)).toEqual(['/tasks/delete']);

    // releaseForwards(0) ends the hold at once.
    const ex2 = new Exchange(unpackAny);
    ex2.holdForwards();
    ex2.forward(forwarded());
    ex2.releaseForwards(0);
    const sub2 = ex2.subscribe(parseFilters([]));
    ex2.forward(forwarded());
    sub2.close();
    expect((await drain(sub2[Symbol.asyncIterator]())).got).toHaveLength(1);
  });

  it('holds at most 4096 events: past that a forward is refused (the shim retries) and reaches no subscriber', async () => {
    const ex = new Exchange(unpackAny);
    const internal = ex.subscribe(parseFilters([]), { internal: true });
    ex.holdForwards();
    for (let i = 0; i < 4096; i++) ex.forward(forwarded());
    expect(() => ex.forward(forwarded())).toThrow(UnavailableError);
    internal.close();
    expect((await drain(internal[Symbol.asyncIterator]())).got).toHaveLength(4096);
  });
});
