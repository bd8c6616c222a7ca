import { NotFoundError } from '../errdefs/errors';
// Where a pull writes: a content store seen through the few calls a pull needs. berthd
// implements it over its in-process content store (content-store-ingester.ts); a client
// implements it over containerd's Content gRPC service (Info, Read, Write with
// ref/expected/total and the STAT action for the resume offset, Update for labels). All
// digests are "sha256:<hex>"; labels are containerd labels.

/** A committed blob's size and labels. */
export interface IngestedBlob {
  size: number;
  labels: Record<string, string>;
}

/** A blob's size and labels from a content store's info call, or undefined when the store
 * does not have it (NotFound): what ContentIngester.info and ContentProvider.info answer. */
export async function blobInfo(lookup: Promise<IngestedBlob>): Promise<IngestedBlob | undefined> {
  try {
    const i = await lookup;
    return { size: i.size, labels: i.labels };
  } catch (err) {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  }
}

export interface OpenWriterOptions {
  /** The ingest ref ("layer-sha256:…", containerd's remotes.MakeRefKey): a second pull of the same blob resumes it. */
  ref: string;
  /** The digest the bytes must have. */
  digest: string;
  /** The size they must have. */
  size: number;
}

/** An open ingest. Writes append; the offset is where the next byte goes. */
export interface IngestWriter {
  /**
   * Bytes already in the ingest when it was opened (a partial earlier download), never more
   * than the expected size (the implementation starts over when it holds more). The pull
   * fetches the rest with a Range request.
   */
  readonly offset: number;
  /** Append bytes at the current offset. The writer may keep `chunk` (not copy it) until
   * flush, commit or close: the caller must not reuse its memory. */
  write(chunk: Uint8Array): Promise<void>;
  /** Optional: waits until everything given to write is in the store (a writer that
   * returns from write before that); throws the first write's failure. */
  flush?(): Promise<void>;
  /**
   * Optional: the sha256 digest ("sha256:<hex>") of every byte in the ingest so far, the
   * resumed prefix included, for a store that keeps a running hash anyway. The pull then
   * checks the digest with it before committing instead of hashing the bytes a second
   * time (and can check a resumed download too).
   */
  digest?(): string;
  /**
   * Optional: true when the store hashes what it is sent and checks it at commit anyway (a
   * daemon's Content service): the pull then does not hash the bytes too. Hashing 150 MB
   * costs the client ~0.4 s of CPU, which on a busy machine the daemon is short of.
   */
  readonly verifiesOnCommit?: boolean;
  /**
   * Make the blob visible with these labels. The implementation MUST verify size and
   * digest against the expected ones (after a resume the puller has not seen the first
   * bytes) and throw a FailedPreconditionError on a mismatch, committing nothing. A blob
   * that got committed meanwhile by someone else is not an error.
   */
  commit(labels: Record<string, string>): Promise<void>;
  /** Remove the ingest and what it holds (after a corrupt download). */
  abort(): Promise<void>;
  /** Release the ingest without committing: it stays, resumable. */
  close(): Promise<void>;
}

export interface ContentIngester {
  /** The committed blob, or undefined when there is none. */
  info(digest: string): Promise<IngestedBlob | undefined>;
  /** A whole committed blob (the pull reads back manifests and indexes it already has). */
  readBlob(digest: string, size: number): Promise<Buffer>;
  /**
   * Open (or resume) the ingest for a blob, or `{ exists: true }` when the blob is already
   * committed. Either way the blob is then held by whatever protects the pull from garbage
   * collection (berthd: the pull's lease), as containerd's writer does.
   */
  openWriter(opts: OpenWriterOptions): Promise<IngestWriter | { exists: true }>;
  /** Set these labels on a committed blob (other labels untouched). */
  setLabels(digest: string, labels: Record<string, string>): Promise<void>;
}
