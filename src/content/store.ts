import type { Readable } from 'node:stream';
import type { Labels } from '../metadata/records';
import type { WallTime } from '../time/wall';

// The content store: blobs addressed by digest, written through resumable ingests.
// Two implementations share this interface and one conformance suite
// (test/unit/content-conformance.ts): the raw LocalContentStore (files on disk, shared by
// all namespaces) and the NamespacedContentStore (metadata: namespaces, labels, leases).

export interface ContentInfo {
  digest: string;
  size: number;
  createdAt: WallTime;
  updatedAt: WallTime;
  labels: Labels;
}

/** An in-flight write (an ingest), by ref. */
export interface IngestStatus {
  ref: string;
  /** Bytes written so far (the resume point). */
  offset: number;
  /** Expected total size, 0 if unknown. */
  total: number;
  /** Expected digest, '' if unknown. */
  expected: string;
  startedAt: WallTime;
  updatedAt: WallTime;
}

export interface WriterOptions {
  ref: string;
  /** Expected size (0 = unknown). */
  total?: number;
  /** Expected digest ('' = unknown). If that blob already exists, opening fails with AlreadyExistsError. */
  expected?: string;
}

export interface CommitOptions {
  /** Size the client says it wrote (0 = don't check). */
  size?: number;
  /** Digest the client expects ('' = don't check). */
  expected?: string;
  labels?: Labels;
}

/**
 * A writer holds the ref's lock until commit, abort or close. A second writer on the same
 * ref fails with UnavailableError("ref <ref> locked") until then.
 */
export interface ContentWriter {
  readonly ref: string;
  status(): Promise<IngestStatus>;
  /** Digest of the bytes written so far. */
  digest(): string;
  /**
   * Write data at offset. offset must equal the current offset (OutOfRangeError otherwise),
   * except that offset 0 on a non-empty ingest truncates it and starts again.
   */
  write(data: Uint8Array, offset: number): Promise<number>;
  /** Write `parts` one after another at offset, as one write (writev): a download's 64 KiB
   * socket reads go to the disk in MiB-sized writes, one thread-pool trip each. */
  writev(parts: readonly Uint8Array[], offset: number): Promise<number>;
  /** Set the expected total / digest after opening (later non-zero values win). */
  setExpectation(total: number, expected: string): void;
  /**
   * Verify size and digest, make the blob visible (write, fsync, rename) and drop the
   * ingest. Size mismatch or digest mismatch → FailedPreconditionError and nothing
   * committed (the ingest stays, so the client may resume or abort). Blob already present →
   * AlreadyExistsError (the ingest is removed).
   */
  commit(opts: CommitOptions): Promise<ContentInfo>;
  /** Release the lock; the ingest stays on disk for a later resume. */
  close(): Promise<void>;
}

export interface ContentReader {
  readonly size: number;
  /** Read up to `length` bytes at `offset`. */
  readAt(offset: number, length: number): Promise<Buffer>;
  /** Stream [offset, offset+size) (size ≤ 0: to the end). */
  stream(offset?: number, size?: number): Readable;
  /** The open descriptor of a local blob (valid until close()): a diff worker thread reads
   * the layer through it itself, off the daemon's event loop. */
  readonly fd?: number;
  close(): Promise<void>;
}

export interface ContentStore {
  info(digest: string): Promise<ContentInfo>;
  /** Update labels: paths `labels` or `labels.<key>`; returns the new info. */
  update(info: Pick<ContentInfo, 'digest' | 'labels'>, paths: readonly string[]): Promise<ContentInfo>;
  /** Every blob (matching containerd filters on `digest`, `labels.<key>`), in digest order. */
  list(filters: readonly string[]): AsyncIterable<ContentInfo>;
  delete(digest: string): Promise<void>;
  reader(digest: string): Promise<ContentReader>;
  /**
   * Bytes [offset, offset+length) of a blob in one buffer, clamped to its end (empty at or
   * past it). Ranges up to SYNC_READ_MAX are read synchronously: open, fstat, read and close
   * of a page-cached file take microseconds, less than one trip through libuv's thread
   * pool, and the small blobs clients fetch (manifests, configs) are read on every run.
   */
  read(digest: string, offset: number, length: number): Promise<Buffer>;

  /** Open (or resume) the ingest for ref. */
  writer(opts: WriterOptions): Promise<ContentWriter>;
  status(ref: string): Promise<IngestStatus>;
  /** In-flight ingests matching containerd filters on `ref`. */
  listStatuses(filters: readonly string[]): Promise<IngestStatus[]>;
  /** Remove an ingest (NotFound if there is none). */
  abort(ref: string): Promise<void>;
}
