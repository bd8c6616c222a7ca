import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrOk, startBerthd, type BerthdHandle } from '../harness';
import { ContentWriteSession } from './grpc-client';
import { ContainerdClient } from '../../src/client/services';
import { callMetadata } from '../../src/client/connection';

// Crash safety: berthd SIGKILLed in the middle of a 100 MB Content.Write. After a restart no
// partial blob is visible, the ingest is listed and resumable (or abortable), and the
// metadata is consistent.

const SIZE = 100 * 1024 * 1024;
const CHUNK = 1 << 20;

function payload(): Buffer {
  const b = Buffer.alloc(SIZE);
  for (let i = 0; i < SIZE; i += 4) b.writeUInt32LE((i * 2654435761) >>> 0, i);
  return b;
}

let d: BerthdHandle;
let data: Buffer;
let digest: string;

beforeAll(async () => {
  d = await startBerthd();
  data = payload();
  digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
});
afterAll(async () => {
  await d?.cleanup();
});

/** Write until at least `until` bytes were acknowledged, then SIGKILL the daemon. */
async function writeThenKill(ref: string, until: number, expected?: string): Promise<number> {
  const client = new ContainerdClient(d.address);
  const s = new ContentWriteSession(client, 'crash');
  try {
    await s.send({ action: 'STAT', ref, total: SIZE, expected });
    let offset = 0;
    while (offset < until) {
      const r = await s.send({ action: 'WRITE', offset, data: data.subarray(offset, offset + CHUNK) });
      offset = r.offset;
    }
    await d.kill();
    return offset;
  } finally {
    client.close();
  }
}

function blobFiles(): string[] {
  const dir = join(d.root, 'content', 'blobs', 'sha256');
  return existsSync(dir) ? readdirSync(dir) : [];
}

describe('SIGKILL during a 100 MB content write', () => {
  it('leaves no blob, keeps a resumable ingest, and the resumed write commits the right digest', async () => {
    const acked = await writeThenKill('big-resume', 50 * CHUNK, digest);
    await d.restart();
    expect(blobFiles()).toEqual([]);
    expect((await ctrOk(d.address, ['content', 'ls', '-q'], { namespace: 'crash' })).stdout.trim()).toBe('');
    const active = await ctrOk(d.address, ['content', 'active'], { namespace: 'crash' });
    expect(active.stdout).toContain('big-resume');
    await ctrOk(d.address, ['namespaces', 'ls']);

    const client = new ContainerdClient(d.address);
    try {
      const s = new ContentWriteSession(client, 'crash');
      const st = await s.send({ action: 'STAT', ref: 'big-resume', total: SIZE, expected: digest });
      // Everything acknowledged before the kill may or may not have reached the disk, but
      // what is there is a prefix the daemon vouches for with its digest.
      expect(st.offset).toBeGreaterThan(0);
      expect(st.offset).toBeLessThanOrEqual(acked);
      expect(st.digest).toBe(`sha256:${createHash('sha256').update(data.subarray(0, st.offset)).digest('hex')}`);
      let offset = st.offset;
      while (offset < SIZE) {
        const r = await s.send({ action: 'WRITE', offset, data: data.subarray(offset, offset + CHUNK) });
        offset = r.offset;
      }
      const done = await s.send({ action: 'COMMIT', offset, total: SIZE, expected: digest });
      expect(done.digest).toBe(digest);
      s.end();
    } finally {
      client.close();
    }
    expect(blobFiles()).toEqual([digest.slice(7)]);
    const ls = await ctrOk(d.address, ['content', 'ls'], { namespace: 'crash' });
    expect(ls.stdout).toContain(digest);
    expect((await ctrOk(d.address, ['content', 'active'], { namespace: 'crash' })).stdout).not.toContain('big-resume');
  }, 180_000);

  it('an interrupted ingest can be aborted cleanly after the restart', async () => {
    await writeThenKill('big-abort', 20 * CHUNK);
    await d.restart();
    const client = new ContainerdClient(d.address);
    try {
      await new Promise<void>((resolve, reject) =>
        client.content.Abort({ ref: 'big-abort' }, callMetadata('crash'), (err) => (err ? reject(err) : resolve())),
      );
    } finally {
      client.close();
    }
    expect((await ctrOk(d.address, ['content', 'active'], { namespace: 'crash' })).stdout).not.toContain('big-abort');
    const ingestDir = join(d.root, 'content', 'ingest');
    expect(existsSync(ingestDir) ? readdirSync(ingestDir) : []).toEqual([]);
  }, 180_000);
});
