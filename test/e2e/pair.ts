// Side-by-side support: a private berthd and a private real containerd, driven with the
// same commands, outputs compared after removing what legitimately differs (times,
// random ids, server identity).
import { startBerthd, startContainerd, ctr, ctrOk, type BerthdHandle, type ContainerdHandle, type CtrResult } from '../harness';

export interface Pair {
  berthd: BerthdHandle;
  containerd: ContainerdHandle;
  cleanup(): Promise<void>;
}

export async function startPair(): Promise<Pair> {
  const [berthd, containerd] = await Promise.all([startBerthd(), startContainerd()]);
  return {
    berthd,
    containerd,
    async cleanup() {
      await Promise.all([berthd.cleanup(), containerd.cleanup()]);
    },
  };
}

/** Replace RFC3339 timestamps and lease-style random ids with placeholders. */
export function normalize(text: string): string {
  return text
    .replace(/\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d+)? [+-]\d{4} \w+/g, '<TIME>')
    .replace(/\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})/g, '<TIME>')
    // Go's leases.WithRandomID: "<nanoseconds>-<4 chars of URL base64>", which can end in '-'.
    .replace(/(?<![\w-])\d{1,9}-[A-Za-z0-9_-]{4}(?![\w-])/g, '<LEASE>')
    // Table columns are as wide as their longest value, which differs with random ids.
    .replace(/ {2,}/g, ' ')
    // ctr prints label lists in Go map order, which is random.
    .replace(/[^\s,=]+=[^\s,]*(,[^\s,=]+=[^\s,]*)+/g, (list) => list.split(',').sort().join(','));
}

export interface Outcome {
  code: number | null;
  stdout: string;
  stderr: string;
}

function outcome(r: CtrResult): Outcome {
  return { code: r.code, stdout: normalize(r.stdout), stderr: normalize(r.stderr) };
}

/** Run the same ctr command against both daemons; returns both normalized outcomes. */
export async function ctrBoth(
  pair: Pair,
  args: string[],
  namespace = 'default',
): Promise<{ berthd: Outcome; containerd: Outcome }> {
  const [b, c] = await Promise.all([
    ctr(pair.berthd.address, args, { namespace }),
    ctr(pair.containerd.address, args, { namespace }),
  ]);
  return { berthd: outcome(b), containerd: outcome(c) };
}

let gcLeases = 0;
/**
 * A full garbage-collection pass on one daemon, finished before this returns: a lease
 * created and deleted with --sync. Each daemon collects on its own schedule (containerd at
 * the next interval of its scheduler, berthd soon after a deletion), so what ctr lists
 * right after an operation that leaves garbage (an import's lease-only blobs, a view
 * without a gc.root label) depends on timing unless the daemon has just collected.
 */
export async function collectGarbage(address: string, namespace: string): Promise<void> {
  const id = `gc-sync-${process.pid}-${++gcLeases}`;
  await ctrOk(address, ['leases', 'create', '--id', id], { namespace });
  await ctrOk(address, ['leases', 'rm', '--sync', id], { namespace });
}

/** collectGarbage on both daemons of the pair. */
export async function collectGarbageBoth(pair: Pair, namespace: string): Promise<void> {
  await Promise.all([collectGarbage(pair.berthd.address, namespace), collectGarbage(pair.containerd.address, namespace)]);
}
