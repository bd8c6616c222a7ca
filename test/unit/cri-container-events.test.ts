// The fan-out behind GetContainerEvents (order, bounded per-subscriber queues, shutdown)
// and the pod cgroup PodSandboxStats reads.
import { describe, expect, it } from 'vitest';
import { ContainerEventBroadcaster, type ContainerEventSubscription } from '../../src/cri/container_event_broadcaster';
import { podCgroupFromPause } from '../../src/cri/sandbox_stats';
import { ResourceExhaustedError, UnavailableError } from '../../src/errdefs/errors';

async function readAll<T>(sub: ContainerEventSubscription<T>): Promise<{ got: T[]; error: unknown }> {
  const got: T[] = [];
  try {
    for await (const ev of sub) got.push(ev);
    return { got, error: undefined };
  } catch (error) {
    return { got, error };
  }
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('ContainerEventBroadcaster', () => {
  it('makes nothing while nobody listens', async () => {
    const b = new ContainerEventBroadcaster<number>(() => undefined);
    let made = 0;
    b.send(async () => ++made);
    await tick();
    expect(made).toBe(0);
  });

  it('gives every subscriber every event in the order sent, even when a later one is made faster', async () => {
    const b = new ContainerEventBroadcaster<string>(() => undefined);
    const s1 = b.subscribe();
    const s2 = b.subscribe();
    b.send(() => new Promise((r) => setTimeout(() => r('slow'), 20)));
    b.send(async () => 'fast');
    await new Promise((r) => setTimeout(r, 50));
    s1.close();
    s2.close();
    expect((await readAll(s1)).got).toEqual(['slow', 'fast']);
    expect((await readAll(s2)).got).toEqual(['slow', 'fast']);
  });

  it('drops a subscriber that falls a full queue behind with ResourceExhausted, and keeps serving the others', async () => {
    const errors: unknown[] = [];
    const b = new ContainerEventBroadcaster<number>((e) => errors.push(e), 3);
    const slow = b.subscribe();
    const fast = b.subscribe();
    const fastGot: number[] = [];
    const reading = (async () => {
      for await (const ev of fast) fastGot.push(ev);
    })();
    for (let i = 1; i <= 5; i++) b.send(async () => i);
    await tick();
    await tick();
    expect(b.subscriberCount).toBe(1);
    const r = await readAll(slow);
    // The queue is dropped with it: memory does not grow for a client that stopped reading.
    expect(r.got).toEqual([]);
    expect(r.error).toBeInstanceOf(ResourceExhaustedError);
    expect(fastGot).toEqual([1, 2, 3, 4, 5]);
    fast.close();
    await reading;
    expect(errors).toEqual([]);
  });

  it('ends every stream with Unavailable at shutdown, and refuses new subscribers', async () => {
    const b = new ContainerEventBroadcaster<number>(() => undefined);
    const s = b.subscribe();
    const pending = readAll(s);
    b.shutdown();
    expect((await pending).error).toBeInstanceOf(UnavailableError);
    expect((await readAll(b.subscribe())).error).toBeInstanceOf(UnavailableError);
    expect(b.subscriberCount).toBe(0);
  });

  it('reports an event that could not be made and goes on with the next', async () => {
    const errors: unknown[] = [];
    const b = new ContainerEventBroadcaster<number>((e) => errors.push(e));
    const s = b.subscribe();
    b.send(async () => {
      throw new Error('boom');
    });
    b.send(async () => 2);
    await tick();
    await tick();
    s.close();
    expect((await readAll(s)).got).toEqual([2]);
    expect(errors.map((e) => (e as Error).message)).toEqual(['boom']);
  });
});

describe('podCgroupFromPause', () => {
  const id = 'a'.repeat(64);

  it('is the parent of the pause container cgroup on cgroup v2', () => {
    expect(podCgroupFromPause(id, { mode: 'v2', dir: `/sys/fs/cgroup/kubepods/pod1/${id}` })).toEqual({ mode: 'v2', dir: '/sys/fs/cgroup/kubepods/pod1' });
    expect(podCgroupFromPause(id, { mode: 'v2', dir: '/sys/fs/cgroup/k8s.io/other' })).toBeUndefined();
  });

  it('is the parent per v1 controller, leaving out controllers the pause process is not in a pod cgroup of', () => {
    const pause = new Map([
      ['memory', `/sys/fs/cgroup/memory/pod1/${id}`],
      ['cpuacct', `/sys/fs/cgroup/cpu,cpuacct/pod1/${id}`],
      ['cpuset', '/sys/fs/cgroup/cpuset'],
    ]);
    expect(podCgroupFromPause(id, { mode: 'v1', dirs: pause })).toEqual({
      mode: 'v1',
      dirs: new Map([
        ['memory', '/sys/fs/cgroup/memory/pod1'],
        ['cpuacct', '/sys/fs/cgroup/cpu,cpuacct/pod1'],
      ]),
    });
    expect(podCgroupFromPause(id, { mode: 'v1', dirs: new Map([['memory', '/sys/fs/cgroup/memory']]) })).toBeUndefined();
  });
});
