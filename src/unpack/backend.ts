import type { Labels } from '../metadata/records';
import type { Mount } from '../snapshotter/snapshotter';

// What the unpacker needs from a daemon, and nothing more: three small interfaces, so the
// same algorithm (unpacker.ts) runs in berthd over its in-process stores (inprocess.ts) and
// in a client over containerd's gRPC Snapshots, Diff and Content services (the client
// library's adapter). An adapter must:
//  - throw src/errdefs' NotFoundError where containerd answers NotFound (stat of a missing
//    snapshot) and AlreadyExistsError where it answers AlreadyExists (prepare of a key in
//    use, commit onto an existing name): the algorithm branches on those two classes;
//  - do its writes under the lease it was made with (containerd's `containerd-lease`
//    header), so that snapshots half-way through an unpack are not collected.

/** An OCI descriptor as the unpacker reads it. */
export interface UnpackDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Labels;
}

/** containerd's Snapshots service, the calls an unpack makes (one snapshotter). */
export interface UnpackSnapshotter {
  /** The snapshotter's name: it goes into the config blob's gc.ref.snapshot.<name> label. */
  readonly name: string;
  /** Resolves if `key` exists; NotFoundError if not. */
  stat(key: string): Promise<void>;
  /** A new active snapshot on committed `parent` ('' for none); AlreadyExistsError if `key` is taken. */
  prepare(key: string, parent: string, labels: Labels): Promise<Mount[]>;
  /** Active `key` becomes committed `name` with `labels`; AlreadyExistsError if `name` exists. */
  commit(name: string, key: string, labels: Labels): Promise<void>;
  remove(key: string): Promise<void>;
}

/** containerd's Diff service Apply: unpack a layer blob onto mounts, return the uncompressed digest. */
export interface UnpackApplier {
  apply(layer: UnpackDescriptor, mounts: readonly Mount[]): Promise<{ digest: string }>;
}

/** containerd's Content service, the calls an unpack makes. */
export interface UnpackContent {
  /** A whole (small) blob: the image config. NotFoundError if absent. */
  readBlob(digest: string): Promise<Buffer>;
  /** Set these labels on a blob, leaving its other labels alone (fieldpaths labels.<key>). */
  setLabels(digest: string, labels: Labels): Promise<void>;
}

export interface UnpackBackend {
  snapshotter: UnpackSnapshotter;
  applier: UnpackApplier;
  content: UnpackContent;
}
