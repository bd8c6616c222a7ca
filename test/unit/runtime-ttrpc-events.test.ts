import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Exchange } from '../../src/events/exchange';
import type { Envelope } from '../../src/events/envelope';
import { parseFilters } from '../../src/filters/parser';
import { silentLogger } from '../../src/log/logger';
import { packAny, unpackAny } from '../../src/proto/any';
import type { ServiceDeps } from '../../src/services/context';
import { TTRPC_EVENTS_SERVICE, startTtrpcEventsServer } from '../../src/services/ttrpc-events';
import { InvalidArgumentError } from '../../src/errdefs/errors';
import { TtrpcClient, type TtrpcServer } from '../../src/ttrpc';

// berthd's side of TTRPC_ADDRESS: Events/Forward from shims into the exchange, validated
// like gRPC Events.Forward, re-broadcast with the shim's timestamp.

let dir: string;
let server: TtrpcServer;
let client: TtrpcClient;
const exchange = new Exchange(unpackAny);
const seen: Envelope[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'runtime-ttrpc-'));
  const address = path.join(dir, 'berthd.sock.ttrpc');
  const deps = { exchange, log: silentLogger } as Pick<ServiceDeps, 'exchange' | 'log'>;
  server = await startTtrpcEventsServer(address, deps as ServiceDeps, silentLogger);
  expect(fs.statSync(address).mode & 0o777).toBe(0o600);
  client = await TtrpcClient.connect(address);
  const sub = exchange.subscribe(parseFilters([]));
  void (async () => {
    for await (const env of sub) seen.push(env);
  })();
});

afterAll(async () => {
  client?.close();
  await server?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const until = async (n: number): Promise<void> => {
  for (let i = 0; i < 100 && seen.length < n; i++) await new Promise((r) => setTimeout(r, 10));
};

describe('ttrpc Events/Forward', () => {
  it('re-broadcasts a shim\'s envelope unchanged; the namespace comes from the envelope alone', async () => {
    const event = packAny('containerd.events.TaskStart', { container_id: 'c1', pid: 42 });
    const ts = { seconds: 1_700_000_000, nanos: 123 };
    await client.call(TTRPC_EVENTS_SERVICE, 'Forward', { envelope: { timestamp: ts, namespace: 'ns1', topic: '/tasks/start', event: { type_url: event.typeUrl, value: event.value } } });
    // As containerd: the request metadata does not stand in for an empty envelope namespace.
    await expect(
      client.call(
        TTRPC_EVENTS_SERVICE,
        'Forward',
        { envelope: { timestamp: ts, namespace: '', topic: '/tasks/start', event: { type_url: event.typeUrl, value: event.value } } },
        { namespace: 'from-md' },
      ),
    ).rejects.toThrow('event envelope has invalid namespace: identifier must not be empty');
    // A present but empty event Any is forwarded as it is.
    await client.call(TTRPC_EVENTS_SERVICE, 'Forward', { envelope: { timestamp: ts, namespace: 'ns2', topic: '/tasks/start', event: { type_url: '', value: Buffer.alloc(0) } } });
    await until(2);
    expect(seen.map((e) => [e.namespace, e.topic, e.timestamp, e.event.typeUrl, e.event.value.length])).toEqual([
      ['ns1', '/tasks/start', ts, 'containerd.events.TaskStart', event.value.length],
      ['ns2', '/tasks/start', ts, '', 0],
    ]);
    expect(unpackAny(seen[0]!.event)).toMatchObject({ container_id: 'c1', pid: 42 });
  });

  it('rejects what gRPC Events.Forward rejects', async () => {
    const event = { type_url: 'containerd.events.TaskStart', value: Buffer.alloc(0) };
    const bad = [
      { timestamp: null, namespace: 'ns1', topic: '/tasks/start', event },
      { timestamp: { seconds: 1, nanos: 0 }, namespace: 'bad ns', topic: '/tasks/start', event },
      { timestamp: { seconds: 1, nanos: 0 }, namespace: 'ns1', topic: 'tasks/start', event },
    ];
    for (const envelope of bad) {
      await expect(client.call(TTRPC_EVENTS_SERVICE, 'Forward', { envelope })).rejects.toBeInstanceOf(InvalidArgumentError);
    }
  });
});
