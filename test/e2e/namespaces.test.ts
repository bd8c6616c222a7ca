import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrBoth, startPair, type Pair } from './pair';
import { TestClient, sampleContainer } from './grpc-client';

// `ctr namespaces …` against berthd and a real containerd, same commands, same answers.

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
});
afterAll(async () => {
  await pair?.cleanup();
});

async function same(args: string[], ns = 'default'): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const { berthd, containerd } = await ctrBoth(pair, args, ns);
  expect(berthd, `ctr ${args.join(' ')}`).toEqual(containerd);
  return berthd;
}

describe('ctr namespaces on berthd, compared with containerd', () => {
  it('create, ls, label, rm', async () => {
    await same(['namespaces', 'create', 'team-a', 'owner=alice', 'tier=gold']);
    await same(['namespaces', 'create', 'team-b']);
    const dup = await same(['namespaces', 'create', 'team-a']);
    expect(dup.code).not.toBe(0);
    expect(dup.stderr).toContain('already exists');
    const ls = await same(['namespaces', 'ls']);
    expect(ls.stdout).toMatch(/NAME\s+LABELS/);
    expect(ls.stdout).toContain('owner=alice,tier=gold');
    await same(['namespaces', 'label', 'team-a', 'owner=bob', 'tier=']);
    const after = await same(['namespaces', 'ls']);
    expect(after.stdout).toContain('owner=bob');
    expect(after.stdout).not.toContain('tier=');
    await same(['namespaces', 'ls', '-q']);
    await same(['namespaces', 'rm', 'team-b']);
    await same(['namespaces', 'rm', 'never-existed']);
    await same(['namespaces', 'ls']);
  });

  it('rejects bad names the same way', async () => {
    const bad = await same(['namespaces', 'create', 'bad_ns!']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain('must match');
    await same(['namespaces', 'create', 'x'.repeat(77)]);
    await same(['namespaces', 'create', 'big', `k=${'v'.repeat(4100)}`]);
  });

  it('refuses to remove a namespace that still has containers', async () => {
    for (const address of [pair.berthd.address, pair.containerd.address]) {
      const client = new TestClient(address);
      await client.createContainer('busy', sampleContainer('c1'));
      client.close();
    }
    const r = await same(['namespaces', 'rm', 'busy']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain('must be empty, but it still has containers');
    for (const address of [pair.berthd.address, pair.containerd.address]) {
      const client = new TestClient(address);
      await client.deleteContainer('busy', 'c1');
      client.close();
    }
    await same(['namespaces', 'rm', 'busy']);
    await same(['namespaces', 'ls']);
  });

  it('a namespace appears implicitly on first write', async () => {
    await same(['leases', 'create', '--id', 'l1'], 'implicit-ns');
    await same(['namespaces', 'ls']);
  });
});

describe('after a restart on the same root', () => {
  it('namespaces and leases are all still there (SIGTERM and SIGKILL)', async () => {
    await same(['namespaces', 'create', 'durable', 'keep=me']);
    await same(['leases', 'create', '--id', 'durable-lease', 'x=y'], 'durable');
    const before = await same(['namespaces', 'ls']);
    const leasesBefore = await same(['leases', 'ls'], 'durable');
    await Promise.all([pair.berthd.restart(), pair.containerd.restart()]);
    expect(await same(['namespaces', 'ls'])).toEqual(before);
    expect(await same(['leases', 'ls'], 'durable')).toEqual(leasesBefore);
    await pair.berthd.kill();
    await pair.berthd.restart();
    const { berthd } = await ctrBoth(pair, ['namespaces', 'ls']);
    expect(berthd).toEqual(before);
    expect((await ctrBoth(pair, ['leases', 'ls'], 'durable')).berthd).toEqual(leasesBefore);
  });
});
