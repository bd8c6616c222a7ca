import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fsp, readdirSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { digestProblem, EMPTY_DIGEST, isValidDigest, validateDigest } from '../../src/content/digest';
import { ingestKey } from '../../src/content/ingest';
import { LocalContentStore } from '../../src/content/local';
import { formatGoDuration, formatGoTime } from '../../src/content/locks';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  OutOfRangeError,
  UnavailableError,
} from '../../src/errdefs/errors';
import { collect, contentStoreConformance, sha256, writeAll, writeBlob } from './content-conformance';

const REPO = resolve(__dirname, '../..');

function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'berth-content-'));
}

contentStoreConformance(
  'LocalContentStore',
  async () => {
    const dir = tempDir();
    const root = join(dir, 'content');
    const store = await LocalContentStore.open(root);
    return {
      store,
      reopen: () => LocalContentStore.open(root),
      cleanup: () => fsp.rm(dir, { recursive: true, force: true }),
    };
  },
  { labels: false },
);

async function rejection(p: Promise<unknown>): Promise<Error> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  if (!(err instanceof Error)) throw new Error('expected a rejection');
  return err;
}

describe('LocalContentStore (local only)', () => {
  let dir: string;
  let root: string;
  let store: LocalContentStore;

  beforeEach(async () => {
    dir = tempDir();
    root = join(dir, 'content');
    store = await LocalContentStore.open(root);
  });

  afterEach(async () => {
    await fsp.rm(dir, { recursive: true, force: true });
  });

  const ingestDir = (ref: string): string => join(root, 'ingest', ingestKey(ref));
  const blobFile = (digest: string): string => join(root, 'blobs', 'sha256', digest.slice('sha256:'.length));

  it('serves small blobs read once from memory, a copy each time, until deleted', async () => {
    const data = Buffer.from('{"schemaVersion":2}');
    const info = await writeBlob(store, 'small-1', data);
    expect(await store.read(info.digest, 0, 100)).toEqual(data);
    // The file is gone behind the store's back: the copy answers (a blob never changes).
    await fsp.rm(blobFile(info.digest));
    const a = await store.read(info.digest, 2, 5);
    expect(a).toEqual(data.subarray(2, 7));
    a.fill(0);
    expect(await store.read(info.digest, 0, 100)).toEqual(data);
    expect((await store.read(info.digest, 50, 10)).length).toBe(0);
    // delete() drops the copy with the file
    await writeBlob(store, 'small-2', data);
    await store.delete(info.digest);
    expect((await rejection(store.read(info.digest, 0, 10))).constructor.name).toBe('NotFoundError');
  });

  it('does not keep blobs larger than 16 KiB in memory', async () => {
    const data = randomBytes(20 << 10);
    const info = await writeBlob(store, 'big-1', data);
    expect(await store.read(info.digest, 0, data.length)).toEqual(data);
    await fsp.rm(blobFile(info.digest));
    expect((await rejection(store.read(info.digest, 0, 10))).constructor.name).toBe('NotFoundError');
  });

  it('creates blobs/sha256 and ingest/', () => {
    expect(statSync(join(root, 'blobs', 'sha256')).isDirectory()).toBe(true);
    expect(statSync(join(root, 'ingest')).isDirectory()).toBe(true);
  });

  it('lays ingests and blobs out like containerd', async () => {
    const data = randomBytes(5000);
    const w = await store.writer({ ref: 'layer-1', total: 5000, expected: sha256(data) });
    const idir = ingestDir('layer-1');
    expect(ingestKey('layer-1')).toBe(sha256('layer-1').slice(7));
    expect(readdirSync(idir).sort()).toEqual(['data', 'expected', 'ref', 'startedat', 'total', 'updatedat']);
    expect(readFileSync(join(idir, 'ref'), 'utf8')).toBe('layer-1');
    expect(readFileSync(join(idir, 'total'), 'utf8')).toBe('5000');
    expect(readFileSync(join(idir, 'expected'), 'utf8')).toBe(sha256(data));
    // RFC 3339 with nine fraction digits, as containerd's time.MarshalText writes it.
    expect(readFileSync(join(idir, 'startedat'), 'utf8')).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);

    await writeAll(w, data, 1000);
    expect(readFileSync(join(idir, 'data')).equals(data)).toBe(true);
    // Nothing is visible under blobs/ before the commit.
    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([]);

    await w.commit({ size: 5000, expected: sha256(data) });
    expect(existsSync(idir)).toBe(false);
    const blob = blobFile(sha256(data));
    expect(readFileSync(blob).equals(data)).toBe(true);
    expect(statSync(blob).mode & 0o777).toBe(0o444);
    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([sha256(data).slice(7)]);
  });

  it('reads status timestamps written by containerd (RFC 3339 with nanoseconds)', async () => {
    const w = await store.writer({ ref: 'go' });
    await w.write(Buffer.from('abc'), 0);
    await w.close();
    await fsp.writeFile(join(ingestDir('go'), 'startedat'), '2024-01-02T15:04:05.123456789+01:00');
    await fsp.writeFile(join(ingestDir('go'), 'updatedat'), '2024-01-02T15:04:06.5Z');
    const st = await store.status('go');
    expect(st.startedAt).toEqual({ seconds: Date.UTC(2024, 0, 2, 14, 4, 5) / 1000, nanos: 123456789 });
    expect(st.offset).toBe(3);
    // updatedAt is the later of the file and the data's mtime.
    expect(st.updatedAt.seconds).toBeGreaterThan(Date.parse('2024-01-02T15:04:06.5Z') / 1000);
  });

  it('failed commits leave blobs/ empty', async () => {
    const w = await store.writer({ ref: 'f' });
    await w.write(Buffer.from('abc'), 0);
    await expect(w.commit({ size: 4 })).rejects.toBeInstanceOf(FailedPreconditionError);
    const w2 = await store.writer({ ref: 'f' });
    await expect(w2.commit({ expected: sha256('abd') })).rejects.toBeInstanceOf(FailedPreconditionError);
    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([]);
    expect(readFileSync(join(ingestDir('f'), 'data'), 'utf8')).toBe('abc');
  });

  describe("containerd's messages", () => {
    it('commit size and digest mismatches', async () => {
      const w = await store.writer({ ref: 'm' });
      await w.write(Buffer.from('abc'), 0);
      expect((await rejection(w.commit({ size: 4 }))).message).toBe(
        'unexpected commit size 3, expected 4: failed precondition',
      );
      const w2 = await store.writer({ ref: 'm' });
      const other = sha256('x');
      expect((await rejection(w2.commit({ size: 3, expected: other }))).message).toBe(
        `unexpected commit digest ${sha256('abc')}, expected ${other}: failed precondition`,
      );
      const w3 = await store.writer({ ref: 'm' });
      await w3.commit({});
      expect((await rejection(w3.commit({}))).message).toBe('cannot commit on closed writer: failed precondition');
    });

    it('already exists (writer open and commit)', async () => {
      await writeBlob(store, 'a', Buffer.from('abc'));
      const e1 = await rejection(store.writer({ ref: 'b', expected: sha256('abc') }));
      expect(e1).toBeInstanceOf(AlreadyExistsError);
      expect(e1.message).toBe(`content ${sha256('abc')}: already exists`);
      const w = await store.writer({ ref: 'b' });
      await w.write(Buffer.from('abc'), 0);
      const e2 = await rejection(w.commit({}));
      expect(e2).toBeInstanceOf(AlreadyExistsError);
      expect(e2.message).toBe(`content ${sha256('abc')}: already exists`);
    });

    it('ref locked', async () => {
      const w = await store.writer({ ref: 'busy' });
      const e = await rejection(store.writer({ ref: 'busy' }));
      expect(e).toBeInstanceOf(UnavailableError);
      expect(e.message).toMatch(
        /^ref busy locked for \d+(\.\d+)?(ns|µs|ms|s) \(since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? \+0000 UTC\): unavailable$/,
      );
      await w.close();
    });

    it('write offset, read past the end', async () => {
      const w = await store.writer({ ref: 'o' });
      await w.write(Buffer.from('0123456789'), 0);
      const e = await rejection(w.write(Buffer.from('x'), 4));
      expect(e).toBeInstanceOf(OutOfRangeError);
      expect(e.message).toBe('write @4 must occur at current offset 10');
      await w.commit({});
      const r = await store.reader(sha256('0123456789'));
      let err: unknown;
      try {
        r.stream(11);
      } catch (x) {
        err = x;
      }
      expect(err).toBeInstanceOf(OutOfRangeError);
      expect((err as Error).message).toBe('read past object length 10 bytes');
      await r.close();
    });

    it('not found, invalid argument, update', async () => {
      const d = sha256('nothing');
      expect((await rejection(store.info(d))).message).toBe(`content digest ${d}: not found`);
      expect((await rejection(store.reader(d))).message).toBe(`content digest ${d}: not found`);
      expect((await rejection(store.delete(d))).message).toBe(`content digest ${d}: not found`);
      expect((await rejection(store.abort('r'))).message).toBe('ingest ref "r": not found');
      const bad = await rejection(store.info('sha256:abc'));
      expect(bad).toBeInstanceOf(InvalidArgumentError);
      expect(bad.message).toBe('"sha256:abc" failed validation');
      expect((await rejection(store.writer({ ref: '' }))).message).toBe('ref must not be empty: invalid argument');
      const upd = await rejection(store.update({ digest: d, labels: {} }, ['labels']));
      expect(upd).toBeInstanceOf(NotImplementedError);
    });
  });

  it('abort while a writer is open removes the ingest; that commit then fails', async () => {
    const w = await store.writer({ ref: 'gone' });
    await w.write(Buffer.from('abc'), 0);
    await store.abort('gone');
    expect(existsSync(ingestDir('gone'))).toBe(false);
    await expect(store.writer({ ref: 'gone' })).rejects.toBeInstanceOf(UnavailableError);
    await expect(w.commit({})).rejects.toBeInstanceOf(NotFoundError);
    expect(existsSync(ingestDir('gone'))).toBe(false);
    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([]);
    // The lock is released.
    const w2 = await store.writer({ ref: 'gone' });
    expect((await w2.status()).offset).toBe(0);
    await w2.close();
  });

  it('close after abort does not recreate the ingest', async () => {
    const w = await store.writer({ ref: 'gone2' });
    await w.write(Buffer.from('abc'), 0);
    await store.abort('gone2');
    await w.close();
    expect(existsSync(ingestDir('gone2'))).toBe(false);
  });

  it('setExpectation is persisted at close and checked at commit', async () => {
    const w = await store.writer({ ref: 'se' });
    await w.write(Buffer.from('abc'), 0);
    w.setExpectation(3, sha256('abc'));
    await w.close();
    expect((await store.status('se')).total).toBe(3);
    expect((await store.status('se')).expected).toBe(sha256('abc'));
    const w2 = await store.writer({ ref: 'se' });
    w2.setExpectation(4, '');
    await expect(w2.commit({})).rejects.toBeInstanceOf(FailedPreconditionError);
  });

  it('an ingest whose total disagrees with the new writer is restarted', async () => {
    const w = await store.writer({ ref: 't', total: 10 });
    await w.write(Buffer.from('abc'), 0);
    await w.close();
    const w2 = await store.writer({ ref: 't', total: 20 });
    const st = await w2.status();
    expect(st.offset).toBe(0);
    expect(st.total).toBe(20);
    expect(w2.digest()).toBe(EMPTY_DIGEST);
    await w2.close();
    expect((await store.status('t')).offset).toBe(0);
  });

  it('an ingest with a corrupt ref file is restarted', async () => {
    const w = await store.writer({ ref: 'c' });
    await w.write(Buffer.from('abc'), 0);
    await w.close();
    await fsp.writeFile(join(ingestDir('c'), 'ref'), 'other');
    const w2 = await store.writer({ ref: 'c' });
    expect((await w2.status()).offset).toBe(0);
    await w2.close();
    expect((await store.status('c')).ref).toBe('c');
  });

  it('open() removes leftovers of interrupted runs and keeps valid ingests', async () => {
    const w = await store.writer({ ref: 'keep' });
    await w.write(Buffer.from('abc'), 0);
    await w.close();
    const keep = ingestDir('keep');
    await fsp.writeFile(join(keep, 'updatedat.tmp'), 'partial');

    // A commit that renamed its data but died before removing the ingest directory.
    await writeBlob(store, 'committed', Buffer.from('xyz'));
    const done = ingestDir('committed');
    await fsp.mkdir(done);
    await fsp.writeFile(join(done, 'ref'), 'committed');
    await fsp.writeFile(join(done, 'startedat'), new Date().toISOString());

    // An ingest whose creation died before its ref was written.
    const half = ingestDir('half');
    await fsp.mkdir(half);
    await fsp.writeFile(join(half, 'ref.tmp'), 'ha');

    // A stray temp file under blobs/.
    const strayBlob = join(root, 'blobs', 'sha256', 'deadbeef.tmp');
    await fsp.writeFile(strayBlob, 'x');

    const again = await LocalContentStore.open(root);
    expect(existsSync(join(keep, 'updatedat.tmp'))).toBe(false);
    expect(existsSync(done)).toBe(false);
    expect(existsSync(half)).toBe(false);
    expect(existsSync(strayBlob)).toBe(false);
    expect(again.recovered.ingests.sort()).toEqual([done, half].sort());
    expect(again.recovered.tempFiles.length).toBe(3);

    expect((await again.status('keep')).offset).toBe(3);
    expect((await again.info(sha256('xyz'))).size).toBe(3);
    expect((await again.listStatuses([''])).map((s) => s.ref)).toEqual(['keep']);
  });

  it('list ignores files that are not blobs', async () => {
    await writeBlob(store, 'a', Buffer.from('abc'));
    await fsp.writeFile(join(root, 'blobs', 'sha256', 'not-a-digest'), 'x');
    await fsp.mkdir(join(root, 'blobs', 'md5'));
    const all: string[] = [];
    for await (const i of store.list([])) all.push(i.digest);
    expect(all).toEqual([sha256('abc')]);
  });

  it('simulated crash: a writer dropped without close is resumed by a new instance', async () => {
    const data = randomBytes(3 * (1 << 20) + 99);
    const half = Math.floor(data.length / 2);
    const w = await store.writer({ ref: 'crash', total: data.length });
    await writeAll(w, data.subarray(0, half), 65536);
    // No close: the "process" dies here. A new instance (new process) resumes.
    const after = await LocalContentStore.open(root);
    expect((await after.status('crash')).offset).toBe(half);
    const w2 = await after.writer({ ref: 'crash', total: data.length });
    expect((await w2.status()).offset).toBe(half);
    expect(w2.digest()).toBe(sha256(data.subarray(0, half)));
    await writeAll(w2, data);
    await w2.commit({ size: data.length, expected: sha256(data) });
    const r = await after.reader(sha256(data));
    expect((await collect(r.stream())).equals(data)).toBe(true);
    await r.close();
    await w.close(); // release the dead writer's fd
    expect(existsSync(ingestDir('crash'))).toBe(false);
  });

  it('SIGKILL mid-write leaves a resumable ingest and no blob', async () => {
    const data = randomBytes(8 * (1 << 20) + 3);
    const payload = join(dir, 'payload');
    await fsp.writeFile(payload, data);
    const child = `
      const { readFileSync } = require('node:fs');
      const { LocalContentStore } = require(${JSON.stringify(join(REPO, 'src/content/local'))});
      (async () => {
        const data = readFileSync(${JSON.stringify(payload)});
        const store = await LocalContentStore.open(${JSON.stringify(root)});
        const w = await store.writer({ ref: 'killed', total: data.length });
        let off = 0;
        for (;;) {
          const end = Math.min(off + 100000, data.length);
          await w.write(data.subarray(off, end), off);
          off = end;
          if (off >= data.length / 2) { process.stdout.write('half\\n'); }
          if (off === data.length) off = 0; // keep writing (truncate and restart) until killed
        }
      })().catch((e) => { console.error(e); process.exit(3); });
    `;
    const proc = spawn(process.execPath, ['--import', 'tsx', '-e', child], { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    proc.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    const exit = new Promise<NodeJS.Signals | number | null>((res) => proc.on('exit', (code, sig) => res(sig ?? code)));
    await new Promise<void>((res, rej) => {
      proc.stdout.on('data', () => res());
      proc.on('exit', () => rej(new Error(`child exited early: ${stderr}`)));
    });
    proc.kill('SIGKILL');
    expect(await exit).toBe('SIGKILL');

    expect(readdirSync(join(root, 'blobs', 'sha256'))).toEqual([]);
    const again = await LocalContentStore.open(root);
    const st = await again.status('killed');
    expect(st.offset).toBeLessThanOrEqual(data.length);
    expect(st.total).toBe(data.length);
    const w = await again.writer({ ref: 'killed', total: data.length });
    const offset = (await w.status()).offset;
    expect(offset).toBe(st.offset);
    // Whatever reached the file is a prefix of the payload, and the rebuilt digest matches it.
    expect(w.digest()).toBe(sha256(data.subarray(0, offset)));
    await writeAll(w, data);
    const info = await w.commit({ size: data.length, expected: sha256(data) });
    expect(info.digest).toBe(sha256(data));
    expect(await again.listStatuses([''])).toEqual([]);
  }, 60_000);
});

describe('digests', () => {
  it("validates like go-digest", () => {
    expect(digestProblem('sha256:' + 'a'.repeat(64))).toBeUndefined();
    expect(digestProblem('sha384:' + 'a'.repeat(96))).toBeUndefined();
    expect(digestProblem('sha512:' + 'a'.repeat(128))).toBeUndefined();
    expect(digestProblem('sha256:abc')).toBe('invalid checksum digest length');
    expect(digestProblem('sha256:' + 'A'.repeat(64))).toBe('invalid checksum digest format');
    expect(digestProblem('md5:abc')).toBe('unsupported digest algorithm');
    expect(digestProblem('MD5:abc')).toBe('invalid checksum digest format');
    expect(digestProblem('sha256')).toBe('invalid checksum digest format');
    expect(digestProblem('sha256:')).toBe('invalid checksum digest format');
    expect(digestProblem(':abc')).toBe('invalid checksum digest format');
    expect(isValidDigest(EMPTY_DIGEST)).toBe(true);
    expect(() => validateDigest('x')).toThrow('"x" failed validation');
  });

  it('formats Go durations and times', () => {
    expect(formatGoDuration(0n)).toBe('0s');
    expect(formatGoDuration(999n)).toBe('999ns');
    expect(formatGoDuration(1500n)).toBe('1.5µs');
    expect(formatGoDuration(1_234_567n)).toBe('1.234567ms');
    expect(formatGoDuration(2_000_000_000n)).toBe('2s');
    expect(formatGoDuration(62_500_000_000n)).toBe('1m2.5s');
    expect(formatGoDuration(3_600_000_000_000n)).toBe('1h0m0s');
    expect(formatGoTime(new Date('2024-01-02T03:04:05.120Z'))).toBe('2024-01-02 03:04:05.12 +0000 UTC');
    expect(formatGoTime(new Date('2024-01-02T03:04:05Z'))).toBe('2024-01-02 03:04:05 +0000 UTC');
  });
});
