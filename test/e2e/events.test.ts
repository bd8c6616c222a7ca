import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrOk, ctrSpawn, type CtrStream } from '../harness';
import { normalize, startPair, type Pair } from './pair';
import { TestClient, sampleContainer } from './grpc-client';

// `ctr events` while objects change: berthd must publish the same topics, namespaces and
// payloads as containerd, in the same order.

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
});
afterAll(async () => {
  await pair?.cleanup();
});

async function changeThings(address: string): Promise<void> {
  await ctrOk(address, ['namespaces', 'create', 'ev-ns', 'a=b']);
  await ctrOk(address, ['namespaces', 'label', 'ev-ns', 'a=c']);
  const client = new TestClient(address);
  try {
    await client.createContainer('ev-ns', sampleContainer('ev-c1', { image: 'docker.io/library/busybox:latest', labels: { x: 'y' } }));
    await client.updateContainer('ev-ns', sampleContainer('ev-c1', { labels: { x: 'z' } }), ['labels.x']);
    await client.deleteContainer('ev-ns', 'ev-c1');
  } finally {
    client.close();
  }
  await ctrOk(address, ['leases', 'create', '--id', 'quiet'], { namespace: 'ev-ns' });
  await ctrOk(address, ['leases', 'rm', 'quiet'], { namespace: 'ev-ns' });
  await ctrOk(address, ['namespaces', 'rm', 'ev-ns']);
  await ctrOk(address, ['namespaces', 'create', 'ev-last']);
}

async function record(address: string, tag: string, filters: string[]): Promise<string[]> {
  const marker = `ev-start-${tag}`;
  const stream: CtrStream = ctrSpawn(address, ['events', ...filters, ...(filters.length ? [`event.name~=^${marker}`] : [])]);
  try {
    // Subscribe is asynchronous in ctr: publish a marker until the stream shows it.
    let n = 0;
    for (;;) {
      await ctrOk(address, ['namespaces', 'create', `${marker}-${n}`]);
      try {
        await stream.waitForLine(`${marker}-${n}`, 1000);
        break;
      } catch {
        n++;
        if (n > 20) throw new Error(`ctr events never started: ${stream.stderr()}`);
      }
    }
    await changeThings(address);
    await stream.waitForLine(/ev-last/, 10_000);
    const lines = stream.lines();
    const first = lines.findIndex((l) => l.includes(`${marker}-${n}`));
    return lines.slice(first + 1).map(normalize);
  } finally {
    await stream.stop();
  }
}

describe('ctr events on berthd, compared with containerd', () => {
  it('publishes namespace and container events like containerd', async () => {
    const [b, c] = await Promise.all([record(pair.berthd.address, 'all', []), record(pair.containerd.address, 'all', [])]);
    expect(b.length).toBeGreaterThanOrEqual(6);
    expect(b).toEqual(c);
    expect(b.some((l) => l.includes('/containers/create'))).toBe(true);
  });

  it('honours filters, including dockerd-style regex quoting', async () => {
    const f = ['topic~=|^/containers/|', 'event.name==ev-last'];
    // ev-last already exists from the previous test: remove it so the closing marker reappears.
    await ctrOk(pair.berthd.address, ['namespaces', 'rm', 'ev-last']);
    await ctrOk(pair.containerd.address, ['namespaces', 'rm', 'ev-last']);
    const [b, c] = await Promise.all([record(pair.berthd.address, 'filtered', f), record(pair.containerd.address, 'filtered', f)]);
    expect(b).toEqual(c);
    expect(b.every((l) => l.includes('/containers/') || l.includes('ev-last'))).toBe(true);
  });
});
