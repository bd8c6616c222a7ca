import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrBoth, startPair, type Pair } from './pair';
import { ctrOk } from '../harness';

// `ctr leases …` against berthd and a real containerd.

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

describe('ctr leases on berthd, compared with containerd', () => {
  it('create with an id and labels, ls, filters, rm', async () => {
    const created = await same(['leases', 'create', '--id', 'build-1', 'purpose=test', 'team=a']);
    expect(created.stdout.trim()).toBe('build-1');
    await same(['leases', 'create', '--id', 'build-2', '--expires', '0']);
    await same(['leases', 'create', '--id', 'build-1']);
    const ls = await same(['leases', 'ls']);
    expect(ls.stdout).toMatch(/ID\s+CREATED AT\s+LABELS/);
    expect(ls.stdout).toContain('purpose=test');
    await same(['leases', 'ls', 'labels.purpose==test']);
    await same(['leases', 'ls', 'id==build-2']);
    await same(['leases', 'ls', '-q']);
    await same(['leases', 'ls', 'id==']);
    await same(['leases', 'rm', 'build-1']);
    await same(['leases', 'rm', 'build-1']);
    await same(['leases', 'rm', '--sync', 'build-2']);
    await same(['leases', 'ls']);
  });

  it('a lease without an id gets a server-generated one', async () => {
    const b = await ctrOk(pair.berthd.address, ['leases', 'create'], { namespace: 'gen' });
    const c = await ctrOk(pair.containerd.address, ['leases', 'create'], { namespace: 'gen' });
    const shape = /^\d{1,9}-[A-Za-z0-9_-]{4}$/;
    expect(b.stdout.trim()).toMatch(shape);
    expect(c.stdout.trim()).toMatch(shape);
    await same(['leases', 'ls'], 'gen');
  });
});
