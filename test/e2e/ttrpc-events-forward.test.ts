import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientReadableStream } from '@grpc/grpc-js';
import { TtrpcClient, statusOf } from '../../src/ttrpc';
import { ContainerdClient } from '../../src/client/services';
import { callMetadata } from '../../src/client/connection';
import type { Envelope as TtrpcEnvelope } from '../../src/generated/types/containerd/services/events/ttrpc/v1/Envelope';
import type { Envelope__Output } from '../../src/generated/types/containerd/services/events/v1/Envelope';
import { startPair, type Pair } from './pair';

// ttrpc Events.Forward (shim → daemon, on <grpc address>.ttrpc) side by side: what is
// accepted and the exact error for each missing field, as containerd 1.6 answers them.

const SERVICE = 'containerd.services.events.ttrpc.v1.Events';

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
});
afterAll(async () => {
  await pair?.cleanup();
});

function ttrpcAddressOf(which: 'berthd' | 'containerd'): string {
  return which === 'berthd' ? `${pair.berthd.address}.ttrpc` : pair.containerd.ttrpcAddress;
}

function now(): { seconds: number; nanos: number } {
  const ms = Date.now();
  return { seconds: Math.floor(ms / 1000), nanos: (ms % 1000) * 1_000_000 };
}

type Outcome = { ok: true } | { ok: false; code: number; message: string };

async function forward(which: 'berthd' | 'containerd', envelope: TtrpcEnvelope, metadataNamespace?: string): Promise<Outcome> {
  const client = await TtrpcClient.connect(ttrpcAddressOf(which));
  try {
    await client.call(SERVICE, 'Forward', { envelope }, { timeoutMs: 5000, ...(metadataNamespace ? { namespace: metadataNamespace } : {}) });
    return { ok: true };
  } catch (err) {
    const st = statusOf(err);
    if (!st) throw err;
    return { ok: false, code: st.code, message: st.message };
  } finally {
    client.close();
  }
}

async function both(envelope: TtrpcEnvelope, metadataNamespace?: string): Promise<{ berthd: Outcome; containerd: Outcome }> {
  const [berthd, containerd] = await Promise.all([forward('berthd', envelope, metadataNamespace), forward('containerd', envelope, metadataNamespace)]);
  return { berthd, containerd };
}

const EMPTY_ANY = { type_url: '', value: Buffer.alloc(0) };

describe('ttrpc Events.Forward on berthd, compared with containerd', () => {
  it('accepts an empty but present event Any and delivers it to subscribers unchanged', async () => {
    const topic = '/diff/empty-any';
    const received = await Promise.all(
      (['berthd', 'containerd'] as const).map(async (which) => {
        const grpc = new ContainerdClient(which === 'berthd' ? pair.berthd.address : pair.containerd.address);
        const stream: ClientReadableStream<Envelope__Output> = grpc.events.Subscribe({ filters: [`topic=="${topic}"`] }, callMetadata(undefined));
        try {
          const first = new Promise<Envelope__Output>((resolve, reject) => {
            stream.once('data', resolve);
            stream.once('error', reject);
          });
          // Subscribe is asynchronous: forward until the subscription has seen one.
          let got: Envelope__Output | undefined;
          first.then((e) => (got = e), () => undefined);
          for (let i = 0; i < 50 && !got; i++) {
            const r = await forward(which, { timestamp: now(), namespace: 'default', topic, event: EMPTY_ANY });
            expect(r).toEqual({ ok: true });
            await Promise.race([first, new Promise((r2) => setTimeout(r2, 100))]);
          }
          const env = await first;
          return { namespace: env.namespace, topic: env.topic, event: env.event && { type_url: env.event.type_url, value: Buffer.from(env.event.value).toString('hex') } };
        } finally {
          stream.cancel();
          grpc.close();
        }
      }),
    );
    expect(received[0]).toEqual(received[1]);
    expect(received[0]).toEqual({ namespace: 'default', topic, event: { type_url: '', value: '' } });
  });

  const cases: Array<[string, TtrpcEnvelope, string | undefined]> = [
    ['a missing namespace (even with one in the request metadata)', { timestamp: now(), topic: '/diff/x', event: EMPTY_ANY }, 'default'],
    ['an invalid namespace', { timestamp: now(), namespace: 'not valid!', topic: '/diff/x', event: EMPTY_ANY }, undefined],
    ['a missing topic', { timestamp: now(), namespace: 'default', event: EMPTY_ANY }, undefined],
    ['a topic without a leading slash', { timestamp: now(), namespace: 'default', topic: 'diff/x', event: EMPTY_ANY }, undefined],
    ['a missing timestamp', { namespace: 'default', topic: '/diff/x', event: EMPTY_ANY }, undefined],
    ['Go zero time as timestamp', { timestamp: { seconds: -62135596800, nanos: 0 }, namespace: 'default', topic: '/diff/x', event: EMPTY_ANY }, undefined],
    ['everything missing but the event (namespace is checked first)', { event: EMPTY_ANY }, undefined],
    ['no topic and no timestamp (topic before timestamp)', { namespace: 'default', event: EMPTY_ANY }, undefined],
  ];
  for (const [name, envelope, md] of cases) {
    it(`rejects ${name} with containerd's error`, async () => {
      const r = await both(envelope, md);
      expect(r.containerd.ok).toBe(false);
      expect(r.berthd).toEqual(r.containerd);
    });
  }
});
