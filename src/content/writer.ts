// The local store's writer: one open fd per ingest, a running sha256, resumable by ref.
//
// Write path: the bytes go to the data file with a positional write on libuv's threadpool
// while the main thread hashes the same buffer (no copy); nothing is fsynced until commit
// (or close, so a later resume starts from bytes that are really on disk). Commit: fsync
// the data file, verify size and digest, rename data into blobs/<alg>/<hex>, fsync that
// directory, then drop the ingest. Until the rename nothing is visible under blobs/.

import type { Hash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  OutOfRangeError,
  verbatim,
} from '../errdefs/errors';
import type { Logger } from '../log/logger';
import { fsError, onPath } from '../errdefs/fs';
import { digestOf, newDigester, validateDigest } from './digest';
import {
  formatTimestamp,
  ingestPaths,
  isErrno,
  readIngestStatus,
  writeSmallFile,
  type IngestPaths,
} from './ingest';
import type { RefLocks } from './locks';
import type { CommitOptions, ContentInfo, ContentWriter, IngestStatus, WriterOptions } from './store';
import { wallNow, type WallTime } from '../time/wall';
import { utimensat } from '../native/fs';

/** Chunk size for re-hashing an ingest on resume. */
const REHASH_CHUNK = 1 << 20;

/** What a writer needs from its store. */
export interface WriterHost {
  readonly root: string;
  readonly locks: RefLocks;
  readonly logger: Logger;
  /** Path of the blob for a valid digest. */
  blobPath(digest: string): string;
}

interface WriterState {
  fh: FileHandle;
  hash: Hash;
  offset: number;
  total: number;
  expected: string;
  startedAt: WallTime;
  updatedAt: WallTime;
  /** total/expected differ from what the ingest's files say. */
  dirty: boolean;
}

export class LocalContentWriter implements ContentWriter {
  readonly ref: string;
  private fh: FileHandle | undefined;
  private hash: Hash;
  private offset: number;
  private total: number;
  private expected: string;
  private readonly startedAt: WallTime;
  private updatedAt: WallTime;
  private dirty: boolean;
  private digestCache: string | undefined;
  /** Set when a write failed half-way: the running hash no longer matches the file. */
  private failure: unknown;
  /** Serializes write/commit/close. */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly host: WriterHost,
    ref: string,
    private readonly paths: IngestPaths,
    state: WriterState,
  ) {
    this.ref = ref;
    this.fh = state.fh;
    this.hash = state.hash;
    this.offset = state.offset;
    this.total = state.total;
    this.expected = state.expected;
    this.startedAt = state.startedAt;
    this.updatedAt = state.updatedAt;
    this.dirty = state.dirty;
  }

  async status(): Promise<IngestStatus> {
    return {
      ref: this.ref,
      offset: this.offset,
      total: this.total,
      expected: this.expected,
      startedAt: this.startedAt,
      updatedAt: this.updatedAt,
    };
  }

  digest(): string {
    if (this.digestCache === undefined) this.digestCache = digestOf(this.hash);
    return this.digestCache;
  }

  setExpectation(total: number, expected: string): void {
    if (total > 0 && total !== this.total) {
      this.total = total;
      this.dirty = true;
    }
    if (expected && expected !== this.expected) {
      this.expected = expected;
      this.dirty = true;
    }
  }

  /** Resolves to the number of bytes written (all of data). */
  write(data: Uint8Array, offset: number): Promise<number> {
    return this.serial(() => this.doWrite(data, offset));
  }

  /** Resolves to the number of bytes written (all of parts). */
  writev(parts: readonly Uint8Array[], offset: number): Promise<number> {
    return this.serial(() => this.doWritev(parts, offset));
  }

  commit(opts: CommitOptions): Promise<ContentInfo> {
    return this.serial(() => this.doCommit(opts));
  }

  close(): Promise<void> {
    return this.serial(() => this.doClose());
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async doWrite(data: Uint8Array, offset: number): Promise<number> {
    const fh = this.fh;
    if (!fh) throw new FailedPreconditionError('cannot write on closed writer');
    if (this.failure !== undefined) throw this.failure;
    if (offset === 0 && this.offset > 0) {
      // containerd: a write at 0 on a non-empty ingest restarts it.
      await fh.truncate(0);
      this.hash = newDigester();
      this.offset = 0;
      this.digestCache = undefined;
    }
    return this.append(fh, [data], offset);
  }

  private async doWritev(parts: readonly Uint8Array[], offset: number): Promise<number> {
    const fh = this.fh;
    if (!fh) throw new FailedPreconditionError('cannot write on closed writer');
    if (this.failure !== undefined) throw this.failure;
    // Only a download's appends come here; a restart at 0 goes through write.
    return this.append(fh, parts, offset);
  }

  /** Appends parts at the current offset (one write or writev), hashing them meanwhile. */
  private async append(fh: FileHandle, parts: readonly Uint8Array[], offset: number): Promise<number> {
    if (offset !== this.offset) {
      throw verbatim(new OutOfRangeError(`write @${offset} must occur at current offset ${this.offset}`));
    }
    let len = 0;
    for (const p of parts) len += p.byteLength;
    if (len === 0) return 0;
    const pos = this.offset;
    try {
      const first = parts.length === 1 ? fh.write(parts[0] as Uint8Array, 0, len, pos) : fh.writev(parts as Uint8Array[], pos);
      // Hash on this thread while the threadpool writes the same bytes.
      for (const p of parts) this.hash.update(p);
      this.digestCache = undefined;
      let written = (await first).bytesWritten;
      // A short write (rare: a signal, a full disk) goes on from where it stopped.
      let start = 0;
      for (const p of parts) {
        const end = start + p.byteLength;
        while (written < end) {
          const { bytesWritten } = await fh.write(p, written - start, end - written, pos + written);
          if (bytesWritten <= 0) throw new Error(`short write: wrote ${written} of ${len} bytes`);
          written += bytesWritten;
        }
        start = end;
      }
    } catch (err) {
      // Named like containerd's "write <ingest>/data: no space left on device".
      const failure = fsError(err, 'write', this.paths.data);
      this.failure = failure;
      throw failure;
    }
    this.offset = pos + len;
    this.updatedAt = wallNow();
    return len;
  }

  private async doCommit(opts: CommitOptions): Promise<ContentInfo> {
    const fh = this.fh;
    if (!fh) throw new FailedPreconditionError('cannot commit on closed writer');
    // Like containerd, a commit ends the writer whatever its outcome; the ingest stays
    // (unless the blob turned out to exist) and a new writer resumes it.
    this.fh = undefined;
    try {
      let size: number;
      try {
        if (this.failure !== undefined) throw this.failure;
        await onPath('sync', this.paths.data, fh.sync());
        size = (await fh.stat()).size;
      } finally {
        await fh.close();
      }
      if (size !== this.offset) {
        throw new FailedPreconditionError(`ingest data is ${size} bytes but ${this.offset} were written`);
      }
      const wantSize = opts.size !== undefined && opts.size > 0 ? opts.size : this.total;
      if (wantSize > 0 && wantSize !== size) {
        throw new FailedPreconditionError(`unexpected commit size ${size}, expected ${wantSize}`);
      }
      const dgst = this.digest();
      const wantDigest = opts.expected ? opts.expected : this.expected;
      if (wantDigest && wantDigest !== dgst) {
        throw new FailedPreconditionError(`unexpected commit digest ${dgst}, expected ${wantDigest}`);
      }

      const target = this.host.blobPath(dgst);
      const blobDir = dirname(target);
      await onPath('mkdir', blobDir, fsp.mkdir(blobDir, { recursive: true }));
      if (await exists(target)) {
        await this.removeIngest();
        throw new AlreadyExistsError(`content ${dgst}`);
      }
      try {
        await fsp.rename(this.paths.data, target);
      } catch (err) {
        if (isErrno(err, 'ENOENT')) throw new NotFoundError(`ingest ref ${JSON.stringify(this.ref)}`);
        throw fsError(err, 'rename', `${this.paths.data} ${target}`);
      }
      await onPath('sync', blobDir, fsyncDir(blobDir));

      // The blob is visible; what follows is best effort, like containerd.
      const now = wallNow();
      await setFileTimes(target, now).catch((err: unknown) =>
        this.host.logger.warn('failed to change file time to commit time', { digest: dgst, error: err }),
      );
      await fsp.chmod(target, 0o444).catch((err: unknown) =>
        this.host.logger.warn('failed to make blob readonly', { digest: dgst, error: err }),
      );
      await this.removeIngest();
      return { digest: dgst, size, createdAt: now, updatedAt: now, labels: {} };
    } finally {
      this.host.locks.unlock(this.ref);
    }
  }

  private async doClose(): Promise<void> {
    const fh = this.fh;
    if (!fh) return;
    this.fh = undefined;
    try {
      await fh.sync().catch(() => undefined);
      await fh.close();
      // The ingest may have been aborted meanwhile: never recreate its directory.
      if (await exists(this.paths.dir)) {
        await writeSmallFile(this.paths.updatedAt, formatTimestamp(this.updatedAt));
        if (this.dirty) {
          if (this.total > 0) await writeSmallFile(this.paths.total, String(this.total));
          if (this.expected) await writeSmallFile(this.paths.expected, this.expected);
          this.dirty = false;
        }
      }
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) this.host.logger.warn('closing content writer', { ref: this.ref, error: err });
    } finally {
      this.host.locks.unlock(this.ref);
    }
  }

  private async removeIngest(): Promise<void> {
    await fsp.rm(this.paths.dir, { recursive: true, force: true }).catch((err: unknown) =>
      this.host.logger.error('failed to remove ingest directory', { ref: this.ref, path: this.paths.dir, error: err }),
    );
  }
}

/**
 * Open or resume the writer for opts.ref (containerd store.Writer): takes the ref lock
 * (UnavailableError if another writer holds it), fails with AlreadyExistsError if the
 * expected blob exists, resumes a valid ingest (re-hashing its data) or starts a new one.
 */
export async function openLocalWriter(host: WriterHost, opts: WriterOptions): Promise<LocalContentWriter> {
  const ref = opts.ref;
  if (!ref) throw new InvalidArgumentError('ref must not be empty');
  const total = opts.total !== undefined && opts.total > 0 ? opts.total : 0;
  const expected = opts.expected ?? '';
  if (expected) validateDigest(expected);

  await host.locks.lock(ref);
  try {
    if (expected && (await exists(host.blobPath(expected)))) {
      throw new AlreadyExistsError(`content ${expected}`);
    }
    const paths = ingestPaths(host.root, ref);
    let created = true;
    try {
      await fsp.mkdir(paths.dir, { mode: 0o755 });
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw fsError(err, 'mkdir', paths.dir);
      created = false;
    }
    if (!created) {
      try {
        return await resume(host, ref, paths, total, expected);
      } catch (err) {
        host.logger.info('failed to resume the ingest, will recreate it', { ref, path: paths.dir, error: err });
      }
    }
    return await start(host, ref, paths, total, expected, !created);
  } catch (err) {
    host.locks.unlock(ref);
    throw err;
  }
}

/** atime and mtime of a file set to t with its nanoseconds (utimensat through the addon;
 * fs.utimes takes a double of seconds and rounds). Without the addon, fs.utimes. */
async function setFileTimes(path: string, t: WallTime): Promise<void> {
  try {
    utimensat(path, t.seconds, t.nanos, t.seconds, t.nanos);
    return;
  } catch (err) {
    if (!(err instanceof Error) || !err.message.startsWith('berth native addon')) throw err;
  }
  const s = t.seconds + t.nanos / 1e9;
  await fsp.utimes(path, s, s);
}

async function start(
  host: WriterHost,
  ref: string,
  paths: IngestPaths,
  total: number,
  expected: string,
  stale: boolean,
): Promise<LocalContentWriter> {
  const now = wallNow();
  if (stale) {
    await fsp.rm(paths.total, { force: true });
    await fsp.rm(paths.expected, { force: true });
  }
  await writeSmallFile(paths.ref, ref);
  await writeSmallFile(paths.startedAt, formatTimestamp(now));
  await writeSmallFile(paths.updatedAt, formatTimestamp(now));
  if (total > 0) await writeSmallFile(paths.total, String(total));
  if (expected) await writeSmallFile(paths.expected, expected);
  // The data file last: an ingest without data is incomplete and LocalContentStore.open drops it.
  const fh = await onPath('open', paths.data, fsp.open(paths.data, 'w', 0o644));
  return new LocalContentWriter(host, ref, paths, {
    fh,
    hash: newDigester(),
    offset: 0,
    total,
    expected,
    startedAt: now,
    updatedAt: now,
    dirty: false,
  });
}

async function resume(
  host: WriterHost,
  ref: string,
  paths: IngestPaths,
  total: number,
  expected: string,
): Promise<LocalContentWriter> {
  const st = await readIngestStatus(paths);
  if (st.ref !== ref) throw new Error(`ref key does not match: ${ref} != ${st.ref}`);
  if (total > 0 && st.total > 0 && total !== st.total) {
    throw new Error(`provided total differs from status: ${total} != ${st.total}`);
  }
  const fh = await fsp.open(paths.data, 'r+');
  let rehashed: { hash: Hash; offset: number };
  try {
    rehashed = await rehash(fh);
  } catch (err) {
    await fh.close().catch(() => undefined);
    throw err;
  }
  const newTotal = st.total > 0 ? st.total : total;
  const newExpected = expected || st.expected;
  return new LocalContentWriter(host, ref, paths, {
    fh,
    hash: rehashed.hash,
    offset: rehashed.offset,
    total: newTotal,
    expected: newExpected,
    startedAt: st.startedAt,
    updatedAt: st.updatedAt,
    dirty: newTotal !== st.total || newExpected !== st.expected,
  });
}

/** Hash a file from the start, reading the next chunk while hashing the current one. */
async function rehash(fh: FileHandle): Promise<{ hash: Hash; offset: number }> {
  const hash = newDigester();
  const bufs = [Buffer.allocUnsafe(REHASH_CHUNK), Buffer.allocUnsafe(REHASH_CHUNK)];
  let i = 0;
  let pos = 0;
  let pending = fh.read(bufs[0], 0, REHASH_CHUNK, 0);
  for (;;) {
    const { bytesRead } = await pending;
    if (bytesRead === 0) break;
    const cur = bufs[i];
    pos += bytesRead;
    i ^= 1;
    pending = fh.read(bufs[i], 0, REHASH_CHUNK, pos);
    hash.update(cur.subarray(0, bytesRead));
  }
  return { hash, offset: pos };
}

export async function exists(path: string): Promise<boolean> {
  try {
    await fsp.lstat(path);
    return true;
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return false;
    throw err;
  }
}

/** fsync a directory, making a rename into it durable. */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fsp.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
