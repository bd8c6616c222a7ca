// The shim's event queue (src/shim/publisher.ts): in order, retried while the daemon is
// away, dropped after containerd's 5 retries, refused events not retried, bounded; and the
// ttrpc Forward it sends (envelope, namespace metadata) against a real TtrpcServer.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { TtrpcServer, type CallContext } from '../../src/ttrpc';
import { errorFromStatus, TtrpcClosedError } from '../../src/ttrpc/errors';
import { decodeMessage } from '../../src/proto/registry';
import { EventPublisher, MAX_RETRIES, QUEUE_MAX, ttrpcForwarder, type QueuedEvent } from '../../src/shim/publisher';
import type { ForwardRequest__Output } from '../../src/generated/types/containerd/services/events/ttrpc/v1/ForwardRequest';
import { compareWall, wallNow } from '../../src/time/wall';

const topicOf = (ev: QueuedEvent): string => ev.topic;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('EventPublisher', () => {
  it('delivers in publish order, one at a time', async () => {
    const seen: string[] = [];
    let inflight = 0;
    const p = new EventPublisher(async (ev) => {
      inflight++;
      expect(inflight).toBe(1);
      await sleep(Math.random() * 3);
      seen.push(topicOf(ev));
      inflight--;
    });
    const topics = Array.from({ length: 50 }, (_, i) => `/tasks/t${i}`);
    for (const t of topics) p.publish('ns', t, 'containerd.events.TaskOOM', { container_id: 'c' });
    expect(await p.flush(5000)).toBe(true);
    expect(seen).toEqual(topics);
    expect(p.delivered).toBe(50);
  });

  it('sends after the answers of the current turn: the event does not overtake the reply that caused it', async () => {
    const order: string[] = [];
    const p = new EventPublisher(async (ev) => {
      order.push(`sent ${topicOf(ev)}`);
    });
    // As in the shim: the handler publishes, then its reply is written a few promise hops later.
    const handler = async (): Promise<string> => {
      p.publish('ns', '/tasks/start', 'containerd.events.TaskOOM', { container_id: 'c' });
      await Promise.resolve();
      await Promise.resolve();
      return 'pid';
    };
    await handler().then(() => order.push('reply written'));
    expect(await p.flush(1000)).toBe(true);
    expect(order).toEqual(['reply written', 'sent /tasks/start']);
  });

  it('waits and retries while the daemon is unreachable, then delivers everything in order', async () => {
    let up = false;
    const seen: string[] = [];
    const delays: number[] = [];
    const p = new EventPublisher(
      async (ev) => {
        if (!up) throw new TtrpcClosedError('connect ENOENT');
        seen.push(topicOf(ev));
      },
      { retryDelayMs: (n) => (delays.push(n), 5) },
    );
    p.publish('ns', '/tasks/create', 'containerd.events.TaskOOM', { container_id: 'c' });
    p.publish('ns', '/tasks/start', 'containerd.events.TaskOOM', { container_id: 'c' });
    await sleep(12);
    up = true;
    p.publish('ns', '/tasks/exit', 'containerd.events.TaskOOM', { container_id: 'c' });
    expect(await p.flush(2000)).toBe(true);
    expect(seen).toEqual(['/tasks/create', '/tasks/start', '/tasks/exit']);
    expect(delays[0]).toBe(1);
    expect(p.dropped).toBe(0);
  });

  it(`drops an event after ${MAX_RETRIES} retries; a refusal by the daemon is not retried`, async () => {
    let calls = 0;
    const p = new EventPublisher(async (ev) => {
      calls++;
      if (ev.topic === '/bad') throw errorFromStatus(3, 'topic must not be bad');
      throw new TtrpcClosedError('down');
    }, { retryDelayMs: () => 1 });
    p.publish('ns', '/bad', 'containerd.events.TaskOOM', { container_id: 'c' });
    p.publish('ns', '/tasks/exit', 'containerd.events.TaskOOM', { container_id: 'c' });
    expect(await p.flush(2000)).toBe(true);
    expect(p.dropped).toBe(2);
    expect(calls).toBe(1 + 1 + MAX_RETRIES);
  });

  it(`keeps at most ${QUEUE_MAX} events, dropping the oldest`, async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const seen: string[] = [];
    const p = new EventPublisher(async (ev) => {
      await gate;
      seen.push(ev.topic);
    });
    p.publish('ns', '/t/e0', 'containerd.events.TaskOOM', { container_id: 'c' });
    await new Promise((r) => setImmediate(r)); // e0 is now in flight
    for (let i = 1; i < QUEUE_MAX + 10; i++) p.publish('ns', `/t/e${i}`, 'containerd.events.TaskOOM', { container_id: 'c' });
    release();
    expect(await p.flush(5000)).toBe(true);
    expect(p.dropped).toBe(10);
    expect(seen).toHaveLength(QUEUE_MAX);
    expect(seen[0]).toBe('/t/e0'); // in flight when the queue overflowed
    expect(seen[1]).toBe('/t/e11');
  });
});

describe('ttrpcForwarder', () => {
  let dir: string | undefined;
  let server: TtrpcServer | undefined;
  afterEach(async () => {
    await server?.close();
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('sends Events/Forward{envelope} with containerd-namespace-ttrpc, reconnecting after the daemon restarts', async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'shim-pub-'));
    const addr = path.join(dir, 'd.sock.ttrpc');
    const got: { req: ForwardRequest__Output; ns?: string }[] = [];
    const listen = async (): Promise<TtrpcServer> => {
      const s = new TtrpcServer({ peerCheck: 'off' });
      s.register('containerd.services.events.ttrpc.v1.Events', {
        Forward: (req: ForwardRequest__Output, ctx: CallContext) => {
          got.push({ req, ns: ctx.namespace });
          return {};
        },
      });
      await s.listen(addr, { removeStale: true });
      return s;
    };
    server = await listen();
    const fwd = ttrpcForwarder(addr);
    const p = new EventPublisher(fwd.send, { retryDelayMs: () => 20 });
    const before = wallNow();
    p.publish('ns1', '/tasks/exit', 'containerd.events.TaskExit', { container_id: 'c', id: 'c', pid: 42, exit_status: 7, exited_at: { seconds: 5, nanos: 6 } });
    expect(await p.flush(2000)).toBe(true);
    const env = got[0]!.req.envelope!;
    expect(got[0]!.ns).toBe('ns1');
    expect(env.namespace).toBe('ns1');
    expect(env.topic).toBe('/tasks/exit');
    expect(env.event!.type_url).toBe('containerd.events.TaskExit');
    expect(decodeMessage('containerd.events.TaskExit', env.event!.value)).toEqual({ container_id: 'c', id: 'c', pid: 42, exit_status: 7, exited_at: { seconds: 5, nanos: 6 } });
    expect(compareWall({ seconds: env.timestamp!.seconds, nanos: env.timestamp!.nanos }, before)).toBeGreaterThanOrEqual(0);

    await server.close(); // daemon restarts
    p.publish('ns2', '/tasks/oom', 'containerd.events.TaskOOM', { container_id: 'c' });
    await sleep(50);
    server = await listen();
    expect(await p.flush(3000)).toBe(true);
    expect(got.map((g) => g.req.envelope!.topic)).toEqual(['/tasks/exit', '/tasks/oom']);
    expect(got[1]!.ns).toBe('ns2');
    fwd.close();
  });
});
