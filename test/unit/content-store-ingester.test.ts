// The in-process ingester's writes (src/remotes/content-store-ingester.ts): a download's
// chunks are batched into writev calls while later chunks keep coming, and what lands in the
// store is byte for byte what was given, in order, whatever the chunk sizes; a failed write
// surfaces on a later write or at flush/commit, and nothing is committed.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LocalContentStore } from '../../src/content/local';
import type { ContentStore, ContentWriter } from '../../src/content/store';
import { contentStoreIngester } from '../../src/remotes/content-store-ingester';
import type { IngestWriter } from '../../src/remotes/ingester';

let root: string;
let store: LocalContentStore;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'berth-ingester-'));
  store = await LocalContentStore.open(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const digestOf = (b: Buffer): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function open(s: ContentStore, blob: Buffer): Promise<IngestWriter> {
  const w = await contentStoreIngester(s).openWriter({ ref: `layer-${digestOf(blob)}`, digest: digestOf(blob), size: blob.length });
  if ('exists' in w) throw new Error('blob exists');
  return w;
}

describe('content-store ingester writes', () => {
  it.each([
    ['64 KiB chunks', 64 << 10],
    ['odd 7 KiB + 1 chunks', 7 * 1024 + 1],
    ['1-byte chunks near the start, then 3 MiB', 0],
  ])('a 9 MiB blob in %s: the stored bytes, digest and offset are exact', async (_name, size) => {
    const blob = randomBytes(9 << 20);
    const w = await open(store, blob);
    let at = 0;
    const sizes: number[] = size > 0 ? [] : [1, 1, 1, 5, 3 << 20];
    while (at < blob.length) {
      const n = Math.min(size > 0 ? size : (sizes.shift() ?? 3 << 20), blob.length - at);
      await w.write(blob.subarray(at, at + n));
      at += n;
    }
    expect(w.offset).toBe(blob.length);
    await w.flush?.();
    expect(w.digest?.()).toBe(digestOf(blob));
    await w.commit({});
    await w.close();
    expect(Buffer.compare(await store.read(digestOf(blob), 0, blob.length), blob)).toBe(0);
  });

  it('a failing write is thrown (by a later write or flush) and nothing is committed', async () => {
    const blob = randomBytes(6 << 20);
    const failing: ContentStore = new Proxy(store, {
      get(target, prop, recv) {
        if (prop !== 'writer') return Reflect.get(target, prop, recv) as unknown;
        return async (...args: Parameters<ContentStore['writer']>): Promise<ContentWriter> => {
          const real = await target.writer(...args);
          // The second write to the disk fails, as a full disk would.
          let calls = 0;
          return new Proxy(real, {
            get(t, p, r) {
              if (p === 'writev' || p === 'write') {
                return (...a: unknown[]) => (++calls === 2 ? Promise.reject(new Error('ENOSPC: no space left on device')) : (Reflect.get(t, p, r) as (...x: unknown[]) => Promise<number>).apply(t, a));
              }
              return Reflect.get(t, p, r) as unknown;
            },
          });
        };
      },
    });
    const w = await open(failing, blob);
    let thrown: unknown;
    try {
      for (let at = 0; at < blob.length; at += 64 << 10) await w.write(blob.subarray(at, at + (64 << 10)));
      await w.flush?.();
    } catch (err) {
      thrown = err;
    }
    expect(String(thrown)).toContain('ENOSPC');
    await expect(w.commit({})).rejects.toThrow('ENOSPC');
    await w.close();
    await expect(store.info(digestOf(blob))).rejects.toThrow();
  });
});
