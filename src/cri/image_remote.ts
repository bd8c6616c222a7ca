import type { ContentStore } from '../content/store';
import type { DescriptorRecord } from '../metadata/records';
import type { CredentialsCallback } from '../remotes/credentials';

// What PullImage needs from the registry client: fetch an image into the content store.
// The CRI does the rest itself (unpack, image records, its index). image_remote_remotes.ts
// implements it over src/remotes' pull pipeline; tests can give PullImage another.

export interface RemoteFetchOptions {
  /** The content store to write into; its writes are under the pull's lease. */
  content: ContentStore;
  /** Credentials for a registry host ("127.0.0.1:5000"), or undefined for anonymous: the
   * request's AuthConfig as containerd's ParseAuth reads it (src/remotes credentialsFromCriAuth). */
  credentials: CredentialsCallback;
  /** [cri.registry] config_path: <host>/hosts.toml routing, containerd's format ("" for none). */
  hostsDir: string;
  maxConcurrentDownloads: number;
}

export interface FetchedImage {
  /** What the reference resolved to (an index or a manifest): the image record's target. */
  target: DescriptorRecord;
  /** The host platform's manifest's config and layers, all fetched and verified. */
  config: DescriptorRecord;
  layers: DescriptorRecord[];
  /** A Docker schema 1 manifest was converted: its digest is no repo digest. */
  schema1: boolean;
}

/**
 * The registry client's pull, as CRI calls it: resolve `ref` (normalised, "domain/path:tag"
 * or "…@sha256:…") through the hosts configuration, fetch the index, the host platform's
 * manifest, config and layers into opts.content with containerd's labels (gc.ref.content.*
 * on parents, containerd.io/distribution.source.<host> on blobs), verifying every digest.
 */
export interface RemoteImageFetcher {
  fetch(ref: string, opts: RemoteFetchOptions): Promise<FetchedImage>;
}
