// Conformance suite for ContentStore implementations (the raw LocalContentStore and the
// namespaced store): the behaviour containerd's content/testsuite and its content service
// rely on. Only error classes are checked where containerd's layers word errors
// differently; implementation-specific texts are tested next to each implementation.

import { createHash, randomBytes } from 'node:crypto';
import type { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  OutOfRangeError,
  UnavailableError,
} from '../../src/errdefs/errors';
import type { ContentInfo, ContentStore, ContentWriter } from '../../src/content/store';
import { SYNC_READ_MAX } from '../../src/content/local';
import { compareWall, formatWall, wallNow, type WallTime } from '../../src/time/wall';

/** before <= t <= after, to the nanosecond (containerd's content/testsuite checks so). */
function expectBetween(what: string, t: WallTime, before: WallTime, after: WallTime): void {
  expect(compareWall(t, before), `${what} ${formatWall(t)} earlier than ${formatWall(before)}`).toBeGreaterThanOrEqual(0);
  expect(compareWall(t, after), `${what} ${formatWall(t)} later than ${formatWall(after)}`).toBeLessThanOrEqual(0);
}

const isWallTime = (t: WallTime): boolean =>
  Number.isInteger(t.seconds) && Number.isInteger(t.nanos) && t.nanos >= 0 && t.nanos < 1e9;

export interface ContentStoreFixture {
  store: ContentStore;
  cleanup(): Promise<void>;
  /**
   * A new store instance over the same storage (a daemon restart). Tests that need it
   * are skipped when absent.
   */
  reopen?(): Promise<ContentStore>;
}

export interface ConformanceOptions {
  /** The store keeps labels (commit labels, update, label filters). */
  labels: boolean;
}

export function sha256(data: Uint8Array | string): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export async function collect(r: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array));
  return Buffer.concat(chunks);
}

/** Write data in chunks of `chunk` bytes at the writer's current offset. */
export async function writeAll(w: ContentWriter, data: Uint8Array, chunk = 1 << 20): Promise<void> {
  let off = (await w.status()).offset;
  while (off < data.length) {
    const end = Math.min(off + chunk, data.length);
    const n = await w.write(data.subarray(off, end), off);
    expect(n).toBe(end - off);
    off = end;
  }
}

export async function writeBlob(
  store: ContentStore,
  ref: string,
  data: Uint8Array,
  labels?: Record<string, string>,
): Promise<ContentInfo> {
  const w = await store.writer({ ref, total: data.length, expected: sha256(data) });
  try {
    await writeAll(w, data);
    return await w.commit({ size: data.length, expected: sha256(data), labels });
  } catch (err) {
    await w.close();
    throw err;
  }
}

async function readAllOf(store: ContentStore, digest: string): Promise<Buffer> {
  const r = await store.reader(digest);
  try {
    return await collect(r.stream());
  } finally {
    await r.close();
  }
}

async function listAll(store: ContentStore, filters: readonly string[] = []): Promise<ContentInfo[]> {
  const out: ContentInfo[] = [];
  for await (const info of store.list(filters)) out.push(info);
  return out;
}

/** stream() may refuse synchronously or fail the stream: accept either. */
async function streamError(fn: () => Readable): Promise<unknown> {
  try {
    await collect(fn());
  } catch (err) {
    return err;
  }
  return undefined;
}

export function contentStoreConformance(
  name: string,
  make: () => Promise<ContentStoreFixture>,
  opts: ConformanceOptions,
): void {
  describe(`ContentStore conformance: ${name}`, () => {
    let fx: ContentStoreFixture;
    let store: ContentStore;
    const open: ContentWriter[] = [];

    beforeEach(async () => {
      fx = await make();
      store = fx.store;
    });

    afterEach(async () => {
      for (const w of open.splice(0)) await w.close().catch(() => undefined);
      await fx.cleanup();
    });

    /** A writer closed after the test whatever happens. */
    async function writer(ref: string, total?: number, expected?: string): Promise<ContentWriter> {
      const w = await store.writer({ ref, total, expected });
      open.push(w);
      return w;
    }

    describe('write and read back', () => {
      it('writes, commits and reads a small blob', async () => {
        const data = Buffer.from('hello, berth');
        const w = await writer('small');
        expect(w.ref).toBe('small');
        const st0 = await w.status();
        expect(st0.ref).toBe('small');
        expect(st0.offset).toBe(0);
        expect(w.digest()).toBe(sha256(''));
        expect(await w.write(data, 0)).toBe(data.length);
        expect((await w.status()).offset).toBe(data.length);
        expect(w.digest()).toBe(sha256(data));

        const info = await w.commit({ size: data.length, expected: sha256(data) });
        expect(info.digest).toBe(sha256(data));
        expect(info.size).toBe(data.length);

        const got = await store.info(sha256(data));
        expect(got.digest).toBe(sha256(data));
        expect(got.size).toBe(data.length);
        expect(isWallTime(got.createdAt)).toBe(true);
        expect(isWallTime(got.updatedAt)).toBe(true);
        expect(got.labels).toEqual({});

        const r = await store.reader(sha256(data));
        expect(r.size).toBe(data.length);
        expect((await r.readAt(0, data.length)).equals(data)).toBe(true);
        expect((await collect(r.stream())).equals(data)).toBe(true);
        await r.close();

        await expect(store.status('small')).rejects.toBeInstanceOf(NotFoundError);
      });

      it('writes and reads back a multi-MB blob in uneven chunks', async () => {
        const data = randomBytes(5 * (1 << 20) + 12345);
        const w = await writer('big', data.length);
        await writeAll(w, data, 777_777);
        expect(w.digest()).toBe(sha256(data));
        const info = await w.commit({ size: data.length, expected: sha256(data) });
        expect(info.size).toBe(data.length);
        expect((await readAllOf(store, sha256(data))).equals(data)).toBe(true);
      });

      it('commits an empty blob', async () => {
        const w = await writer('empty');
        const info = await w.commit({ size: 0, expected: sha256('') });
        expect(info.digest).toBe(sha256(''));
        expect(info.size).toBe(0);
        expect((await store.info(sha256(''))).size).toBe(0);
        expect((await readAllOf(store, sha256(''))).length).toBe(0);
      });

      it('commits without expectations, returning the computed digest', async () => {
        const data = randomBytes(4096);
        const w = await writer('noexpect');
        await writeAll(w, data);
        const info = await w.commit({});
        expect(info.digest).toBe(sha256(data));
        expect(info.size).toBe(4096);
      });

      it('times have nanoseconds and lie within the calls that set them', async () => {
        // As containerd's suite: a time cut to milliseconds would fall before `pre`.
        const data = randomBytes(64);
        const preStart = wallNow();
        const w = await writer('times', data.length, sha256(data));
        const postStart = wallNow();
        let st = await w.status();
        expectBetween('startedAt', st.startedAt, preStart, postStart);
        expectBetween('updatedAt', st.updatedAt, preStart, postStart);
        const preUpdate = wallNow();
        await w.write(data, 0);
        const postUpdate = wallNow();
        st = await w.status();
        expectBetween('startedAt', st.startedAt, preStart, postStart);
        expectBetween('updatedAt after write', st.updatedAt, preUpdate, postUpdate);
        const preCommit = wallNow();
        const info = await w.commit({ size: data.length, expected: sha256(data) });
        const postCommit = wallNow();
        expectBetween('createdAt', info.createdAt, preCommit, postCommit);
        const got = await store.info(sha256(data));
        expectBetween('stored createdAt', got.createdAt, preCommit, postCommit);
        expectBetween('stored updatedAt', got.updatedAt, preCommit, postCommit);
      });

      it('writes different refs concurrently', async () => {
        const blobs = [randomBytes(300_000), randomBytes(200_000), randomBytes(100_000)];
        const infos = await Promise.all(blobs.map((b, i) => writeBlob(store, `par-${i}`, b)));
        for (let i = 0; i < blobs.length; i++) {
          expect(infos[i].digest).toBe(sha256(blobs[i]));
          expect((await readAllOf(store, sha256(blobs[i]))).equals(blobs[i])).toBe(true);
        }
      });
    });

    describe('commit verification', () => {
      it('size mismatch fails, commits nothing, keeps the ingest', async () => {
        const data = randomBytes(1000);
        const w = await writer('badsize');
        await writeAll(w, data);
        await expect(w.commit({ size: 1001 })).rejects.toBeInstanceOf(FailedPreconditionError);
        await expect(store.info(sha256(data))).rejects.toBeInstanceOf(NotFoundError);
        expect(await listAll(store)).toEqual([]);
        expect((await store.status('badsize')).offset).toBe(1000);

        // The ingest can be resumed and committed correctly.
        const w2 = await writer('badsize');
        expect((await w2.status()).offset).toBe(1000);
        expect(w2.digest()).toBe(sha256(data));
        const info = await w2.commit({ size: 1000, expected: sha256(data) });
        expect(info.digest).toBe(sha256(data));
      });

      it('digest mismatch fails and commits nothing', async () => {
        const data = randomBytes(1000);
        const other = sha256('something else');
        const w = await writer('baddigest');
        await writeAll(w, data);
        await expect(w.commit({ size: 1000, expected: other })).rejects.toBeInstanceOf(FailedPreconditionError);
        await expect(store.info(sha256(data))).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.info(other)).rejects.toBeInstanceOf(NotFoundError);
        expect(await listAll(store)).toEqual([]);
        expect((await store.status('baddigest')).offset).toBe(1000);
      });

      it('a commit ends the writer; the ref can be reopened', async () => {
        const data = randomBytes(100);
        const w = await writer('ended');
        await writeAll(w, data);
        await expect(w.commit({ size: 99 })).rejects.toBeInstanceOf(FailedPreconditionError);
        await expect(w.commit({ size: 100 })).rejects.toBeInstanceOf(FailedPreconditionError);
        const w2 = await writer('ended');
        await w2.commit({ size: 100 });
        await expect(w2.write(data, 100)).rejects.toBeInstanceOf(FailedPreconditionError);
        await expect(w2.commit({})).rejects.toBeInstanceOf(FailedPreconditionError);
      });

      it('committing content that already exists → AlreadyExists, ingest removed', async () => {
        const data = randomBytes(256);
        await writeBlob(store, 'first', data);

        const w = await writer('second');
        await writeAll(w, data);
        await expect(w.commit({ size: 256, expected: sha256(data) })).rejects.toBeInstanceOf(AlreadyExistsError);
        await expect(store.status('second')).rejects.toBeInstanceOf(NotFoundError);

        // Same without an expected digest.
        const w2 = await writer('second');
        await writeAll(w2, data);
        await expect(w2.commit({ size: 256 })).rejects.toBeInstanceOf(AlreadyExistsError);
        await expect(store.status('second')).rejects.toBeInstanceOf(NotFoundError);

        // The blob is intact and the ref usable again.
        expect((await readAllOf(store, sha256(data))).equals(data)).toBe(true);
        const w3 = await writer('second');
        expect((await w3.status()).offset).toBe(0);
      });
    });

    describe('writers', () => {
      it('an expected blob that exists → AlreadyExists when opening, lock released', async () => {
        const data = randomBytes(64);
        await writeBlob(store, 'x', data);
        await expect(store.writer({ ref: 'y', expected: sha256(data) })).rejects.toBeInstanceOf(AlreadyExistsError);
        const w = await writer('y');
        expect((await w.status()).offset).toBe(0);
      });

      it('a second writer on the same ref → Unavailable until the first closes', async () => {
        const w = await writer('locked');
        await w.write(Buffer.from('abc'), 0);
        const err = await store.writer({ ref: 'locked' }).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(UnavailableError);
        expect((err as Error).message).toContain('ref locked locked');
        // Other refs are free.
        await writer('other-ref');
        await w.close();
        const w2 = await writer('locked');
        expect((await w2.status()).offset).toBe(3);
      });

      it('the lock is released by commit and by a failed commit', async () => {
        const w = await writer('rel');
        await w.write(Buffer.from('abc'), 0);
        await expect(w.commit({ size: 4 })).rejects.toBeInstanceOf(FailedPreconditionError);
        const w2 = await writer('rel');
        await w2.commit({ size: 3 });
        const w3 = await writer('rel');
        expect((await w3.status()).offset).toBe(0);
      });

      it('resumes after close: status offset, continue writing, digest correct', async () => {
        const data = randomBytes(3 * (1 << 20) + 17);
        const half = Math.floor(data.length / 2);
        const w = await writer('resume', data.length);
        await writeAll(w, data.subarray(0, half), 100_000);
        await w.close();

        const st = await store.status('resume');
        expect(st.ref).toBe('resume');
        expect(st.offset).toBe(half);
        expect(st.total).toBe(data.length);
        expect(compareWall(st.startedAt, st.updatedAt)).toBeLessThanOrEqual(0);

        const w2 = await writer('resume', data.length);
        const st2 = await w2.status();
        expect(st2.offset).toBe(half);
        expect(st2.total).toBe(data.length);
        expect(st2.startedAt).toEqual(st.startedAt);
        expect(w2.digest()).toBe(sha256(data.subarray(0, half)));
        await writeAll(w2, data);
        expect(w2.digest()).toBe(sha256(data));
        const info = await w2.commit({ size: data.length, expected: sha256(data) });
        expect(info.digest).toBe(sha256(data));
        expect((await readAllOf(store, info.digest)).equals(data)).toBe(true);
      });

      it('resumes after reopening the store', async (ctx) => {
        if (!fx.reopen) {
          ctx.skip();
          return;
        }
        const data = randomBytes(2 * (1 << 20) + 5);
        const half = 1 << 20;
        const w = await writer('restart', data.length);
        await writeAll(w, data.subarray(0, half));
        await w.close();

        const again = await fx.reopen();
        expect((await again.status('restart')).offset).toBe(half);
        expect((await again.listStatuses([''])).map((s) => s.ref)).toEqual(['restart']);
        const w2 = await again.writer({ ref: 'restart', total: data.length });
        try {
          expect((await w2.status()).offset).toBe(half);
          expect(w2.digest()).toBe(sha256(data.subarray(0, half)));
          await writeAll(w2, data);
          await w2.commit({ size: data.length, expected: sha256(data) });
        } finally {
          await w2.close();
        }
        expect((await readAllOf(again, sha256(data))).equals(data)).toBe(true);
        expect((await store.info(sha256(data))).size).toBe(data.length);
      });

      it('a write at offset 0 on a non-empty ingest truncates it', async () => {
        const w = await writer('trunc');
        await w.write(Buffer.from('0123456789'), 0);
        expect((await w.status()).offset).toBe(10);
        expect(await w.write(Buffer.from('abc'), 0)).toBe(3);
        expect((await w.status()).offset).toBe(3);
        expect(w.digest()).toBe(sha256('abc'));
        const info = await w.commit({ size: 3, expected: sha256('abc') });
        expect(info.digest).toBe(sha256('abc'));
        expect((await readAllOf(store, info.digest)).toString()).toBe('abc');
      });

      it('truncates a resumed ingest too', async () => {
        const w = await writer('trunc2');
        await w.write(Buffer.from('0123456789'), 0);
        await w.close();
        const w2 = await writer('trunc2');
        expect((await w2.status()).offset).toBe(10);
        await w2.write(Buffer.from('xy'), 0);
        const info = await w2.commit({});
        expect(info.digest).toBe(sha256('xy'));
        expect(info.size).toBe(2);
      });

      it('a write at the wrong offset → OutOfRange, writer still usable', async () => {
        const w = await writer('offset');
        await w.write(Buffer.from('0123456789'), 0);
        await expect(w.write(Buffer.from('x'), 5)).rejects.toBeInstanceOf(OutOfRangeError);
        await expect(w.write(Buffer.from('x'), 11)).rejects.toBeInstanceOf(OutOfRangeError);
        expect((await w.status()).offset).toBe(10);
        await w.write(Buffer.from('ab'), 10);
        const info = await w.commit({ size: 12 });
        expect(info.digest).toBe(sha256('0123456789ab'));
      });

      it('an empty write is a no-op', async () => {
        const w = await writer('nop');
        await w.write(Buffer.from('abc'), 0);
        expect(await w.write(new Uint8Array(0), 3)).toBe(0);
        expect((await w.status()).offset).toBe(3);
      });

      it('setExpectation updates the writer status', async () => {
        const w = await writer('expect');
        expect((await w.status()).total).toBe(0);
        expect((await w.status()).expected).toBe('');
        w.setExpectation(3, sha256('abc'));
        w.setExpectation(0, '');
        const st = await w.status();
        expect(st.total).toBe(3);
        expect(st.expected).toBe(sha256('abc'));
      });

      it('an empty ref → InvalidArgument', async () => {
        await expect(store.writer({ ref: '' })).rejects.toBeInstanceOf(InvalidArgumentError);
      });

      it('refs may be any string', async () => {
        const ref = 'layer-sha256:abc/../../x y@z';
        const w = await writer(ref);
        await w.write(Buffer.from('q'), 0);
        await w.close();
        expect((await store.status(ref)).ref).toBe(ref);
      });
    });

    describe('ingest management', () => {
      it('status of an unknown ref → NotFound', async () => {
        await expect(store.status('nope')).rejects.toBeInstanceOf(NotFoundError);
      });

      it('status reports an open writer', async () => {
        const w = await writer('live', 100);
        await w.write(randomBytes(40), 0);
        const st = await store.status('live');
        expect(st.ref).toBe('live');
        expect(st.offset).toBe(40);
        expect(st.total).toBe(100);
      });

      it('abort removes the ingest; abort of an unknown ref → NotFound', async () => {
        const w = await writer('ab');
        await w.write(Buffer.from('abcdef'), 0);
        await w.close();
        await store.abort('ab');
        await expect(store.status('ab')).rejects.toBeInstanceOf(NotFoundError);
        expect(await store.listStatuses([])).toEqual([]);
        await expect(store.abort('ab')).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.abort('never')).rejects.toBeInstanceOf(NotFoundError);
        const w2 = await writer('ab');
        expect((await w2.status()).offset).toBe(0);
        expect(w2.digest()).toBe(sha256(''));
      });

      it('listStatuses with filters', async () => {
        for (const ref of ['a-1', 'a-2', 'b-1']) {
          const w = await writer(ref, 10);
          await w.write(Buffer.from(ref), 0);
          await w.close();
        }
        const refs = async (f: string[]): Promise<string[]> =>
          (await store.listStatuses(f)).map((s) => s.ref).sort();
        expect(await refs([])).toEqual(['a-1', 'a-2', 'b-1']);
        expect(await refs([''])).toEqual(['a-1', 'a-2', 'b-1']);
        expect(await refs(['ref==a-1'])).toEqual(['a-1']);
        expect(await refs(['ref~=^a-'])).toEqual(['a-1', 'a-2']);
        expect(await refs(['ref==a-1', 'ref==b-1'])).toEqual(['a-1', 'b-1']);
        expect(await refs(['ref!=a-1'])).toEqual(['a-2', 'b-1']);
        expect(await refs(['ref'])).toEqual(['a-1', 'a-2', 'b-1']);
        expect(await refs(['ref==zzz'])).toEqual([]);
        const all = await store.listStatuses([]);
        for (const s of all) {
          expect(s.offset).toBe(3);
          expect(s.total).toBe(10);
          expect(isWallTime(s.startedAt)).toBe(true);
          expect(isWallTime(s.updatedAt)).toBe(true);
        }
        await expect(store.listStatuses(['ref=='])).rejects.toBeInstanceOf(InvalidArgumentError);
      });

      it('committed ingests leave listStatuses', async () => {
        await writeBlob(store, 'done', randomBytes(10));
        expect(await store.listStatuses([''])).toEqual([]);
      });
    });

    describe('blobs', () => {
      it('list with filters, in digest order', async () => {
        const blobs = [randomBytes(10), randomBytes(20), randomBytes(30)];
        for (const [i, b] of blobs.entries()) await writeBlob(store, `l-${i}`, b);
        const digests = blobs.map((b) => sha256(b)).sort();

        const all = await listAll(store);
        expect(all.map((i) => i.digest)).toEqual(digests);
        for (const info of all) {
          expect(info.size).toBe(blobs.find((b) => sha256(b) === info.digest)?.length);
        }
        expect((await listAll(store, [''])).length).toBe(3);
        expect((await listAll(store, [`digest==${digests[1]}`])).map((i) => i.digest)).toEqual([digests[1]]);
        expect((await listAll(store, [`digest==${digests[0]}`, `digest==${digests[2]}`])).map((i) => i.digest)).toEqual([
          digests[0],
          digests[2],
        ]);
        expect((await listAll(store, ['digest~=^sha256:'])).length).toBe(3);
        expect((await listAll(store, ['labels.foo'])).length).toBe(0);
        expect((await listAll(store, ['labels.foo!=bar'])).length).toBe(3);
        await expect(listAll(store, ['digest=='])).rejects.toBeInstanceOf(InvalidArgumentError);
      });

      it('delete removes a blob; deleting a missing one → NotFound', async () => {
        const data = randomBytes(100);
        await writeBlob(store, 'del', data);
        await store.delete(sha256(data));
        await expect(store.info(sha256(data))).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.reader(sha256(data))).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.delete(sha256(data))).rejects.toBeInstanceOf(NotFoundError);
        expect(await listAll(store)).toEqual([]);
        // It can be written again.
        await writeBlob(store, 'del', data);
        expect((await store.info(sha256(data))).size).toBe(100);
      });

      it('an open reader survives deletion of its blob', async () => {
        const data = randomBytes(1000);
        await writeBlob(store, 'keep', data);
        const r = await store.reader(sha256(data));
        await store.delete(sha256(data));
        expect((await collect(r.stream())).equals(data)).toBe(true);
        await r.close();
      });

      it('reads with offset and size, and past the end', async () => {
        const data = randomBytes(3 * (1 << 20) + 1000);
        await writeBlob(store, 'ranges', data);
        const r = await store.reader(sha256(data));
        try {
          expect(r.size).toBe(data.length);
          expect((await r.readAt(100, 50)).equals(data.subarray(100, 150))).toBe(true);
          expect((await r.readAt(0, data.length)).equals(data)).toBe(true);
          expect((await r.readAt(data.length - 10, 100)).equals(data.subarray(data.length - 10))).toBe(true);
          expect((await r.readAt(data.length, 10)).length).toBe(0);
          expect((await r.readAt(data.length + 10, 10)).length).toBe(0);

          expect((await collect(r.stream(5))).equals(data.subarray(5))).toBe(true);
          expect((await collect(r.stream(5, 0))).equals(data.subarray(5))).toBe(true);
          expect((await collect(r.stream(5, -1))).equals(data.subarray(5))).toBe(true);
          expect((await collect(r.stream(1 << 20, 1 << 20))).equals(data.subarray(1 << 20, 2 << 20))).toBe(true);
          expect((await collect(r.stream(data.length - 3, 100))).equals(data.subarray(data.length - 3))).toBe(true);
          expect((await collect(r.stream(data.length))).length).toBe(0);
          expect(await streamError(() => r.stream(data.length + 1))).toBeInstanceOf(OutOfRangeError);
          // Several streams from one reader.
          const [a, b] = await Promise.all([collect(r.stream(0, 1000)), collect(r.stream(1000, 1000))]);
          expect(Buffer.concat([a, b]).equals(data.subarray(0, 2000))).toBe(true);
        } finally {
          await r.close();
        }
      });

      it('read returns a range in one buffer, small (synchronous) or large', async () => {
        const small = randomBytes(5000);
        const large = randomBytes(SYNC_READ_MAX + 4096);
        await writeBlob(store, 'read-small', small);
        await writeBlob(store, 'read-large', large);
        for (const data of [small, large]) {
          const d = sha256(data);
          expect((await store.read(d, 0, data.length)).equals(data)).toBe(true);
          expect((await store.read(d, 100, 50)).equals(data.subarray(100, 150))).toBe(true);
          expect((await store.read(d, data.length - 10, 100)).equals(data.subarray(data.length - 10))).toBe(true);
          expect((await store.read(d, data.length, 10)).length).toBe(0);
          expect((await store.read(d, data.length + 10, 10)).length).toBe(0);
          expect((await store.read(d, 0, 0)).length).toBe(0);
          await expect(store.read(d, -1, 10)).rejects.toBeInstanceOf(OutOfRangeError);
        }
        await expect(store.read(sha256('missing'), 0, 10)).rejects.toBeInstanceOf(NotFoundError);
        await expect(store.read('sha256:abc', 0, 10)).rejects.toBeInstanceOf(InvalidArgumentError);
        await store.delete(sha256(small));
        await expect(store.read(sha256(small), 0, 10)).rejects.toBeInstanceOf(NotFoundError);
      });

      it('info of a missing blob → NotFound', async () => {
        const err = await store.info(sha256('missing')).then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(NotFoundError);
        expect((err as Error).message).toBe(`content digest ${sha256('missing')}: not found`);
        await expect(store.reader(sha256('missing'))).rejects.toBeInstanceOf(NotFoundError);
        const sha512 = 'sha512:' + 'a'.repeat(128);
        await expect(store.info(sha512)).rejects.toBeInstanceOf(NotFoundError);
      });

      it('invalid digests → InvalidArgument', async () => {
        const bad = [
          'sha256:abc',
          'sha256:' + 'A'.repeat(64),
          'sha256:' + 'g'.repeat(64),
          'SHA256:' + 'a'.repeat(64),
          'md5:' + 'a'.repeat(32),
          'sha384:' + 'a'.repeat(64),
          'nocolon',
          '',
          ':' + 'a'.repeat(64),
          'sha256:',
        ];
        for (const d of bad) {
          await expect(store.info(d), d).rejects.toBeInstanceOf(InvalidArgumentError);
          await expect(store.reader(d), d).rejects.toBeInstanceOf(InvalidArgumentError);
          await expect(store.delete(d), d).rejects.toBeInstanceOf(InvalidArgumentError);
        }
      });
    });

    if (opts.labels) {
      describe('labels', () => {
        it('commit labels, update and filter by them', async () => {
          const data = randomBytes(32);
          const d = sha256(data);
          const info = await writeBlob(store, 'lab', data, { a: '1', 'containerd.io/gc.root': 'x' });
          expect(info.labels).toEqual({ a: '1', 'containerd.io/gc.root': 'x' });
          expect((await store.info(d)).labels).toEqual({ a: '1', 'containerd.io/gc.root': 'x' });

          expect((await listAll(store, ['labels.a==1'])).map((i) => i.digest)).toEqual([d]);
          expect((await listAll(store, ['labels."containerd.io/gc.root"'])).map((i) => i.digest)).toEqual([d]);
          expect((await listAll(store, ['labels."containerd.io/gc.root"==x'])).map((i) => i.digest)).toEqual([d]);
          expect(await listAll(store, ['labels.a==2'])).toEqual([]);

          const u1 = await store.update({ digest: d, labels: { b: '2', a: 'ignored' } }, ['labels.b']);
          expect(u1.labels).toEqual({ a: '1', b: '2', 'containerd.io/gc.root': 'x' });
          const u2 = await store.update({ digest: d, labels: { c: '3' } }, ['labels']);
          expect(u2.labels).toEqual({ c: '3' });
          const u3 = await store.update({ digest: d, labels: {} }, ['labels.c']);
          expect(u3.labels).toEqual({});
          expect((await store.info(d)).labels).toEqual({});
          const before = wallNow();
          const u4 = await store.update({ digest: d, labels: { e: '5' } }, ['labels.e']);
          const after = wallNow();
          expectBetween('updatedAt', u4.updatedAt, before, after);
          expect((await store.info(d)).updatedAt).toEqual(u4.updatedAt);
          expect(compareWall(u4.createdAt, before)).toBeLessThan(0);
        });

        it('update of a missing blob → NotFound, of a bad field → InvalidArgument', async () => {
          await expect(store.update({ digest: sha256('nope'), labels: {} }, ['labels'])).rejects.toBeInstanceOf(
            NotFoundError,
          );
          const data = randomBytes(8);
          await writeBlob(store, 'lab2', data);
          await expect(store.update({ digest: sha256(data), labels: {} }, ['size'])).rejects.toBeInstanceOf(
            InvalidArgumentError,
          );
        });
      });
    } else {
      describe('no labels', () => {
        it('ignores commit labels', async () => {
          const data = randomBytes(32);
          const info = await writeBlob(store, 'lab', data, { a: '1' });
          expect(info.labels).toEqual({});
          expect((await store.info(sha256(data))).labels).toEqual({});
          expect(await listAll(store, ['labels.a'])).toEqual([]);
        });
      });
    }
  });
}
