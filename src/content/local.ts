// The raw content store over a directory (containerd content/local), shared by all
// namespaces; the metadata layer adds namespaces, labels and leases on top.
//
//   <root>/blobs/<alg>/<hex>           committed blobs, read-only, verified before the rename
//   <root>/ingest/<sha256(ref)>/...    in-flight writes (see ingest.ts)

import { closeSync, fstatSync, openSync, promises as fsp, readSync } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError, NotImplementedError, OutOfRangeError, verbatim } from '../errdefs/errors';
import { adaptFields } from '../filters/adaptors';
import { parseListFilters } from '../filters/list';
import { silentLogger, type Logger } from '../log/logger';
import { CANONICAL_ALGORITHM, SUPPORTED_ALGORITHMS, splitDigest, validateDigest } from './digest';
import { INGEST_DIR, TMP_SUFFIX, ingestPaths, ingestPathsOf, isErrno, readIngestStatus } from './ingest';
import { CONTAINERD_LOCK_RETRY, RefLocks, type LockRetry } from './locks';
import { LocalContentReader } from './reader';
import type { ContentInfo, ContentReader, ContentStore, ContentWriter, IngestStatus, WriterOptions } from './store';
import { openLocalWriter, type WriterHost } from './writer';
import { wallFromNs } from '../time/wall';

export const BLOBS_DIR = 'blobs';

/** Largest range ContentStore.read reads synchronously on the calling thread. */
export const SYNC_READ_MAX = 256 << 10;

const HEX_NAME: Readonly<Record<string, RegExp>> = Object.freeze({
  sha256: /^[a-f0-9]{64}$/,
  sha384: /^[a-f0-9]{96}$/,
  sha512: /^[a-f0-9]{128}$/,
});

export interface LocalContentStoreOptions {
  logger?: Logger;
  /** Retry schedule before a busy ref is reported Unavailable (default: containerd's). */
  lockRetry?: LockRetry;
}

/** What LocalContentStore.open removed while recovering the directory. */
export interface RecoveryReport {
  /** Leftover `*.tmp` files. */
  tempFiles: string[];
  /** Ingest directories without data or ref (creation interrupted, or commit done but not cleaned). */
  ingests: string[];
}

/**
 * Blobs up to this size are kept whole in memory once read. A `ctr run` reads the same
 * manifest and config blobs eight times through Content.Read, and each read in place (open,
 * fstat, pread, close) costs ~0.1 ms of the event loop; a blob never changes under its
 * digest, so a copy is as good as the file. delete() drops the copy with the file.
 */
const SMALL_BLOB_MAX = 16 << 10;
const SMALL_BLOB_TOTAL = 4 << 20;

class SmallBlobCache {
  private readonly blobs = new Map<string, Buffer>();
  private bytes = 0;

  get(digest: string): Buffer | undefined {
    const b = this.blobs.get(digest);
    if (b) {
      // most recently used last
      this.blobs.delete(digest);
      this.blobs.set(digest, b);
    }
    return b;
  }

  put(digest: string, b: Buffer): void {
    this.drop(digest);
    this.blobs.set(digest, b);
    this.bytes += b.length;
    for (const [d, old] of this.blobs) {
      if (this.bytes <= SMALL_BLOB_TOTAL) break;
      this.blobs.delete(d);
      this.bytes -= old.length;
    }
  }

  drop(digest: string): void {
    const b = this.blobs.get(digest);
    if (!b) return;
    this.blobs.delete(digest);
    this.bytes -= b.length;
  }
}

/** Up to n bytes of fd from offset (fewer if the file ends first). */
function readAt(fd: number, offset: number, n: number): Buffer {
  const buf = Buffer.allocUnsafe(n);
  let got = 0;
  while (got < n) {
    const bytesRead = readSync(fd, buf, got, n - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return got === n ? buf : buf.subarray(0, got);
}

/** A copy of blob[offset, offset + length), clamped to the blob. */
function copyRange(blob: Buffer, offset: number, length: number): Buffer {
  const start = Math.min(offset, blob.length);
  return Buffer.from(blob.subarray(start, Math.min(blob.length, offset + Math.max(0, Math.floor(length)))));
}

export class LocalContentStore implements ContentStore, WriterHost {
  readonly locks: RefLocks;
  readonly logger: Logger;
  /** Set by open(): what crash recovery removed. */
  recovered: RecoveryReport = { tempFiles: [], ingests: [] };
  /** Whole small blobs by digest (see read). */
  private readonly small = new SmallBlobCache();

  private constructor(
    readonly root: string,
    opts: LocalContentStoreOptions,
  ) {
    this.logger = opts.logger ?? silentLogger;
    this.locks = new RefLocks(opts.lockRetry ?? CONTAINERD_LOCK_RETRY);
  }

  /**
   * Open the store at root: create blobs/sha256 and ingest/, and remove what an
   * interrupted process left behind (temp files, ingests without data). Ref locks are per
   * instance: open one store per root and process.
   */
  static async open(root: string, opts: LocalContentStoreOptions = {}): Promise<LocalContentStore> {
    const store = new LocalContentStore(root, opts);
    await fsp.mkdir(join(root, BLOBS_DIR, CANONICAL_ALGORITHM), { recursive: true, mode: 0o755 });
    await fsp.mkdir(join(root, INGEST_DIR), { recursive: true, mode: 0o755 });
    store.recovered = await store.recover();
    return store;
  }

  blobPath(digest: string): string {
    const { algorithm, hex } = splitDigest(digest);
    return join(this.root, BLOBS_DIR, algorithm, hex);
  }

  async info(digest: string): Promise<ContentInfo> {
    validateDigest(digest);
    let st;
    try {
      st = await fsp.stat(this.blobPath(digest), { bigint: true });
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw notFound(digest);
      throw err;
    }
    if (!st.isFile()) throw notFound(digest);
    return blobInfo(digest, st);
  }

  async update(info: Pick<ContentInfo, 'digest' | 'labels'>, _paths: readonly string[]): Promise<ContentInfo> {
    validateDigest(info.digest);
    throw new NotImplementedError('update not supported on immutable content store');
  }

  async *list(filters: readonly string[]): AsyncIterable<ContentInfo> {
    const filter = parseListFilters(filters);
    for (const algorithm of SUPPORTED_ALGORITHMS) {
      const dir = join(this.root, BLOBS_DIR, algorithm);
      let names: string[];
      try {
        names = await fsp.readdir(dir);
      } catch (err) {
        if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) continue;
        throw err;
      }
      const valid = HEX_NAME[algorithm];
      names = names.filter((n) => valid.test(n)).sort();
      for (const hex of names) {
        const digest = `${algorithm}:${hex}`;
        let st;
        try {
          st = await fsp.stat(join(dir, hex), { bigint: true });
        } catch (err) {
          if (isErrno(err, 'ENOENT')) continue; // deleted meanwhile
          throw err;
        }
        if (!st.isFile()) continue;
        const info = blobInfo(digest, st);
        if (filter.match(adaptFields({ digest }, { labels: info.labels }))) yield info;
      }
    }
  }

  async delete(digest: string): Promise<void> {
    validateDigest(digest);
    this.small.drop(digest);
    try {
      await fsp.unlink(this.blobPath(digest));
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw notFound(digest);
      throw err;
    }
  }

  async reader(digest: string): Promise<ContentReader> {
    validateDigest(digest);
    let fh;
    try {
      fh = await fsp.open(this.blobPath(digest), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw notFound(digest);
      throw err;
    }
    try {
      const st = await fh.stat();
      if (!st.isFile()) throw notFound(digest);
      return new LocalContentReader(fh, st.size);
    } catch (err) {
      await fh.close().catch(() => undefined);
      throw err;
    }
  }

  async read(digest: string, offset: number, length: number): Promise<Buffer> {
    validateDigest(digest);
    if (!Number.isSafeInteger(offset) || offset < 0) throw verbatim(new OutOfRangeError(`invalid read offset ${offset}`));
    if (length > SYNC_READ_MAX) {
      const r = await this.reader(digest);
      try {
        return await r.readAt(offset, length);
      } finally {
        await r.close();
      }
    }
    return this.readSync(digest, offset, length);
  }

  private readSync(digest: string, offset: number, length: number): Buffer {
    const cached = this.small.get(digest);
    if (cached) return copyRange(cached, offset, length);
    let fd: number;
    try {
      fd = openSync(this.blobPath(digest), 'r');
    } catch (err) {
      if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) throw notFound(digest);
      throw err;
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) throw notFound(digest);
      if (st.size <= SMALL_BLOB_MAX) {
        const whole = readAt(fd, 0, st.size);
        if (whole.length === st.size) this.small.put(digest, whole);
        return copyRange(whole, offset, length);
      }
      const n = Math.min(Math.max(0, Math.floor(length)), Math.max(0, st.size - offset));
      if (n === 0) return Buffer.alloc(0);
      return readAt(fd, offset, n);
    } finally {
      closeSync(fd);
    }
  }

  writer(opts: WriterOptions): Promise<ContentWriter> {
    return openLocalWriter(this, opts);
  }

  status(ref: string): Promise<IngestStatus> {
    return readIngestStatus(ingestPaths(this.root, ref));
  }

  async listStatuses(filters: readonly string[]): Promise<IngestStatus[]> {
    const filter = parseListFilters(filters);
    const out: IngestStatus[] = [];
    for (const name of await this.ingestNames()) {
      let st: IngestStatus;
      try {
        st = await readIngestStatus(ingestPathsOf(join(this.root, INGEST_DIR, name)));
      } catch (err) {
        // Committed or aborted while we listed, or not (yet) a complete ingest.
        if (!(err instanceof NotFoundError)) this.logger.warn('skipping unreadable ingest', { ingest: name, error: err });
        continue;
      }
      if (filter.match(adaptFields({ ref: st.ref }))) out.push(st);
    }
    return out.sort((a, b) => (a.ref < b.ref ? -1 : a.ref > b.ref ? 1 : 0));
  }

  async abort(ref: string): Promise<void> {
    const { dir } = ingestPaths(this.root, ref);
    try {
      await fsp.lstat(dir);
    } catch (err) {
      if (isErrno(err, 'ENOENT')) throw new NotFoundError(`ingest ref ${JSON.stringify(ref)}`);
      throw err;
    }
    // Like containerd, an open writer does not protect its ingest: it is removed, and that
    // writer's commit then fails.
    await fsp.rm(dir, { recursive: true, force: true });
  }

  private async ingestNames(): Promise<string[]> {
    try {
      return await fsp.readdir(join(this.root, INGEST_DIR));
    } catch (err) {
      if (isErrno(err, 'ENOENT')) return [];
      throw err;
    }
  }

  /**
   * Crash recovery. Commits rename the verified data file straight into blobs/, so an
   * interrupted commit leaves either the whole ingest (resumable) or a blob plus an ingest
   * directory without data (removed here). Small ingest files are replaced through
   * `<name>.tmp`; leftovers are removed. blobs/ never holds partial data, but a `*.tmp`
   * there (not a digest) is removed too.
   */
  private async recover(): Promise<RecoveryReport> {
    const report: RecoveryReport = { tempFiles: [], ingests: [] };
    const ingestRoot = join(this.root, INGEST_DIR);
    for (const name of await this.ingestNames()) {
      const path = join(ingestRoot, name);
      const st = await fsp.lstat(path).catch(() => undefined);
      if (!st) continue;
      if (!st.isDirectory()) {
        if (name.endsWith(TMP_SUFFIX)) {
          await fsp.rm(path, { force: true });
          report.tempFiles.push(path);
        }
        continue;
      }
      const entries = await fsp.readdir(path);
      for (const e of entries) {
        if (e.endsWith(TMP_SUFFIX)) {
          await fsp.rm(join(path, e), { force: true, recursive: true });
          report.tempFiles.push(join(path, e));
        }
      }
      if (!entries.includes('data') || !entries.includes('ref')) {
        await fsp.rm(path, { recursive: true, force: true });
        report.ingests.push(path);
      }
    }
    for (const algorithm of SUPPORTED_ALGORITHMS) {
      const dir = join(this.root, BLOBS_DIR, algorithm);
      const names = await fsp.readdir(dir).catch(() => [] as string[]);
      for (const name of names) {
        if (name.endsWith(TMP_SUFFIX)) {
          await fsp.rm(join(dir, name), { force: true });
          report.tempFiles.push(join(dir, name));
        }
      }
    }
    if (report.tempFiles.length + report.ingests.length > 0) {
      this.logger.info('content store: removed leftovers of an interrupted run', {
        tempFiles: report.tempFiles.length,
        ingests: report.ingests.length,
      });
    }
    return report;
  }
}

function notFound(digest: string): NotFoundError {
  return new NotFoundError(`content digest ${digest}`);
}

/** containerd's local store: createdAt is the file's mtime, updatedAt its atime (both set
 * at commit), read with their nanoseconds (bigint stat). */
function blobInfo(digest: string, st: { size: bigint; mtimeNs: bigint; atimeNs: bigint }): ContentInfo {
  return { digest, size: Number(st.size), createdAt: wallFromNs(st.mtimeNs), updatedAt: wallFromNs(st.atimeNs), labels: {} };
}
