// The pull pipeline: resolve a reference, walk index → manifest for the platform → config
// and layers, and write every blob through a ContentIngester, labelled as containerd 1.6
// labels them (labels.ts). Blobs already in the store are not fetched again; a partial
// ingest left by an earlier pull is resumed with a Range request. Layers (and the config)
// download in parallel, at most maxConcurrentDownloads at a time.
//
// Every byte is checked: the size while streaming (a registry sending more than the
// descriptor says is cut off), the digest before the commit (the ingest's running hash, or
// one kept here), and by the ingester's commit in any case. A corrupt blob is refused, its ingest
// removed, and nothing of it committed.
//
// Garbage collection: the caller runs a pull under whatever keeps blobs alive until the
// image record points at them (berthd: a lease, content-store-ingester.ts withPullLease).

import { createHash, type Hash } from 'node:crypto';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError, UnavailableError } from '../errdefs/errors';
import { splitDigest } from '../content/digest';
import {
  parseImageConfig,
  parseIndex,
  parseManifest,
  type Descriptor,
  type ImageConfigFile,
  type ImageManifest,
  type Platform,
} from './descriptor';
import type { ContentIngester, IngestWriter } from './ingester';
import { appendDistributionSource, distributionSourceKey, indexChildLabels, labelFits, manifestChildLabels } from './labels';
import { blobKindOf, ingestRefFor, isIndexType, isManifestType, isSchema1Type, type BlobKind } from './media-types';
import { defaultPlatformMatcher, formatPlatform, normalizePlatform, onlyPlatform, type PlatformMatcher } from './platforms';
import { formatReference, type ImageReference } from './reference';
import type { Resolver } from './resolver';

export type { BlobKind } from './media-types';

/**
 * What a blob is doing. waiting: queued behind maxConcurrentDownloads; downloading: bytes
 * arriving (offset counts a resumed ingest's earlier bytes); done: committed; exists:
 * already in the store, nothing fetched.
 */
export type BlobStatus = 'waiting' | 'downloading' | 'done' | 'exists';

export interface BlobProgress {
  digest: string;
  mediaType: string;
  kind: BlobKind;
  /** The ingest ref ("layer-sha256:…"). */
  ref: string;
  status: BlobStatus;
  /** Bytes in the store for this blob so far. */
  offset: number;
  total: number;
  /** The offset the download started from (> 0: resumed). */
  resumedFrom: number;
}

export type ProgressCallback = (p: BlobProgress) => void;

export interface PullOptions {
  resolver: Resolver;
  ingester: ContentIngester;
  /** The platform to pull (default: this host, containerd's platforms.Default()). */
  platform?: Platform | PlatformMatcher;
  progress?: ProgressCallback;
  /** Blobs fetched at once (containerd's default: 3). */
  maxConcurrentDownloads?: number;
  signal?: AbortSignal;
}

export interface PullResult {
  /** The image name: the normalised reference ("docker.io/library/busybox:latest"). */
  name: string;
  ref: ImageReference;
  /** What the reference resolved to (an index or a manifest): the image record's target. */
  target: Descriptor;
  /** The manifest chosen for the platform. */
  manifestDescriptor: Descriptor;
  manifest: ImageManifest;
  config: ImageConfigFile;
  /** manifest.layers, bottom first. */
  layers: Descriptor[];
  /** The platform of the pulled image (from its config, else from the index entry). */
  platform: Platform;
}

/** Blobs read whole into memory (indexes, manifests, configs) are refused above this. */
const MAX_BUFFERED_BLOB = 64 << 20;
const DEFAULT_CONCURRENCY = 3;

function isMatcher(p: Platform | PlatformMatcher): p is PlatformMatcher {
  return typeof (p as PlatformMatcher).match === 'function';
}

/** A counting semaphore: at most n holders. */
class Semaphore {
  private waiters: Array<() => void> = [];
  constructor(private free: number) {}
  async acquire(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.free++;
  }
}

function abortError(signal: AbortSignal): Error {
  const reason: unknown = signal.reason;
  if (reason instanceof Error) return reason;
  const e = new Error('the pull was aborted');
  e.name = 'AbortError';
  return e;
}

/** Run tasks together; on the first failure abort the rest, wait for them, and throw it. */
async function allOrAbort<T>(controller: AbortController, tasks: Array<Promise<T>>): Promise<T[]> {
  let first: unknown;
  const settled = await Promise.allSettled(
    tasks.map((t) =>
      t.catch((err: unknown) => {
        if (first === undefined) {
          first = err;
          controller.abort(err);
        }
        throw err;
      }),
    ),
  );
  if (first !== undefined) throw first;
  return settled.map((s) => (s as PromiseFulfilledResult<T>).value);
}

class Puller {
  private readonly sem: Semaphore;
  private readonly matcher: PlatformMatcher;
  private readonly sourceKey: string;
  private readonly controller = new AbortController();

  constructor(
    private readonly opts: PullOptions,
    private readonly ref: ImageReference,
  ) {
    const n = opts.maxConcurrentDownloads ?? DEFAULT_CONCURRENCY;
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`maxConcurrentDownloads must be a positive integer, not ${n}`);
    this.sem = new Semaphore(n);
    this.matcher = opts.platform === undefined ? defaultPlatformMatcher() : isMatcher(opts.platform) ? opts.platform : onlyPlatform(opts.platform);
    this.sourceKey = distributionSourceKey(ref.domain);
    if (opts.signal) {
      if (opts.signal.aborted) this.controller.abort(opts.signal.reason);
      else opts.signal.addEventListener('abort', () => this.controller.abort(opts.signal?.reason), { once: true });
    }
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  private report(desc: Descriptor, status: BlobStatus, offset: number, resumedFrom = 0): void {
    this.opts.progress?.({
      digest: desc.digest,
      mediaType: desc.mediaType,
      kind: blobKindOf(desc.mediaType),
      ref: ingestRefFor(desc.mediaType, desc.digest),
      status,
      offset,
      total: desc.size,
      resumedFrom,
    });
  }

  /** The distribution-source label on a blob already in the store (if its value changes). */
  private async addSourceLabel(digest: string): Promise<void> {
    const info = await this.opts.ingester.info(digest);
    const value = appendDistributionSource(info?.labels[this.sourceKey], this.ref.path);
    if (!labelFits(this.sourceKey, value)) return;
    if (info?.labels[this.sourceKey] === value) return;
    await this.opts.ingester.setLabels(digest, { [this.sourceKey]: value });
  }

  /**
   * Make sure one blob is in the store with its source label. `keep`: return its bytes
   * (indexes, manifests, configs). Runs under the download semaphore.
   */
  async fetchBlob(desc: Descriptor, keep: boolean): Promise<Buffer | undefined> {
    if (keep && desc.size > MAX_BUFFERED_BLOB) {
      throw new InvalidArgumentError(`${blobKindOf(desc.mediaType)} ${desc.digest} is ${desc.size} bytes, more than the ${MAX_BUFFERED_BLOB} read into memory`);
    }
    this.report(desc, 'waiting', 0);
    await this.sem.acquire();
    try {
      if (this.signal.aborted) throw abortError(this.signal);
      const ref = ingestRefFor(desc.mediaType, desc.digest);
      const opened = await this.opts.ingester.openWriter({ ref, digest: desc.digest, size: desc.size });
      if ('exists' in opened) {
        await this.addSourceLabel(desc.digest);
        this.report(desc, 'exists', desc.size);
        return keep ? this.opts.ingester.readBlob(desc.digest, desc.size) : undefined;
      }
      const start = opened.offset;
      const bytes = await this.download(desc, opened, keep);
      // An ingest that already held every byte (the blob is on disk for another namespace,
      // or an earlier pull stopped just before its commit) fetched nothing.
      this.report(desc, start === desc.size ? 'exists' : 'done', desc.size, start);
      if (keep && !bytes) return this.opts.ingester.readBlob(desc.digest, desc.size);
      return bytes;
    } finally {
      this.sem.release();
    }
  }

  /** Stream a blob into an open ingest, verify it, commit it. Returns the bytes if asked and all seen. */
  private async download(desc: Descriptor, w: IngestWriter, keep: boolean): Promise<Buffer | undefined> {
    const start = w.offset;
    const { algorithm } = splitDigest(desc.digest);
    // The digest is checked before the commit: with the ingest's own running hash when it
    // keeps one (no second pass over the bytes, and a resumed prefix is covered too),
    // else by hashing here from 0; a resumed download without it is left to the commit.
    const ingestHash = algorithm === 'sha256' && typeof w.digest === 'function';
    const hash: Hash | undefined = start === 0 && !ingestHash && w.verifiesOnCommit !== true ? createHash(algorithm) : undefined;
    const chunks: Buffer[] | undefined = keep && start === 0 ? [] : undefined;
    let offset = start;
    let committed = false;
    if (start < desc.size) this.report(desc, 'downloading', offset, start);
    try {
      if (offset < desc.size) {
        const { body } = await this.opts.resolver.fetch(this.ref, desc, offset, this.signal);
        try {
          for await (const c of body) {
            const chunk = c as Buffer;
            if (offset + chunk.length > desc.size) {
              throw new FailedPreconditionError(`${desc.digest}: registry sent more than the ${desc.size} bytes the descriptor says`);
            }
            hash?.update(chunk);
            chunks?.push(chunk);
            await w.write(chunk);
            offset += chunk.length;
            this.report(desc, 'downloading', offset, start);
          }
        } finally {
          body.destroy();
        }
      }
      if (offset !== desc.size) {
        // A short body: keep what arrived, a later pull resumes it.
        throw new UnavailableError(`${desc.digest}: download ended at ${offset} of ${desc.size} bytes`);
      }
      await w.flush?.();
      const got = ingestHash ? (w.digest as () => string).call(w) : hash ? `${algorithm}:${hash.digest('hex')}` : undefined;
      if (got !== undefined && got !== desc.digest) throw new FailedPreconditionError(`unexpected commit digest ${got}, expected ${desc.digest}`);
      const labels: Record<string, string> = {};
      if (labelFits(this.sourceKey, this.ref.path)) labels[this.sourceKey] = this.ref.path;
      await w.commit(labels);
      committed = true;
      return chunks ? Buffer.concat(chunks) : undefined;
    } catch (err) {
      if (!committed) {
        if (err instanceof FailedPreconditionError) {
          // Wrong bytes: nothing of them is worth resuming.
          await w.abort().catch(() => undefined);
          throw new FailedPreconditionError(`failed to fetch ${blobKindOf(desc.mediaType)} ${desc.digest} of ${formatReference(this.ref)}: ${err.context}`);
        }
        await w.close().catch(() => undefined);
      }
      throw err;
    } finally {
      if (committed) await w.close().catch(() => undefined);
    }
  }

  /** Label a parent with gc refs to its children (containerd: before the children are fetched). */
  private async labelChildren(desc: Descriptor, labels: Record<string, string>): Promise<void> {
    if (Object.keys(labels).length > 0) await this.opts.ingester.setLabels(desc.digest, labels);
  }

  /** Index or manifest → the chosen manifest, its config and its layers in the store. */
  async walk(desc: Descriptor, indexPlatform: Platform | undefined): Promise<Omit<PullResult, 'name' | 'ref' | 'target'>> {
    if (isSchema1Type(desc.mediaType)) throw new NotImplementedError(`${formatReference(this.ref)}: Docker schema 1 manifests are not supported`);
    if (isIndexType(desc.mediaType)) {
      const bytes = (await this.fetchBlob(desc, true)) as Buffer;
      const index = parseIndex(bytes, desc.digest);
      await this.labelChildren(desc, indexChildLabels(index));
      // containerd's FilterPlatforms then LimitManifests(…, 1): entries without a platform
      // are kept, the best match first.
      const candidates = index.manifests
        .filter((m) => m.platform === undefined || this.matcher.match(m.platform))
        .map((m, i) => ({ m, i }))
        .sort((a, b) => {
          const pa = a.m.platform;
          const pb = b.m.platform;
          if (pa === undefined && pb !== undefined) return 1;
          if (pb === undefined && pa !== undefined) return -1;
          if (pa && pb) {
            if (this.matcher.less(pa, pb)) return -1;
            if (this.matcher.less(pb, pa)) return 1;
          }
          return a.i - b.i;
        });
      const chosen = candidates[0]?.m;
      if (!chosen) {
        throw new NotFoundError(`no match for platform ${formatPlatform(this.matcher.platform)} in manifest ${desc.digest} of ${formatReference(this.ref)}`);
      }
      return this.walk(chosen, chosen.platform ?? indexPlatform);
    }
    if (!isManifestType(desc.mediaType)) {
      throw new InvalidArgumentError(`${formatReference(this.ref)}: ${desc.digest} has media type ${JSON.stringify(desc.mediaType)}, not an image index or manifest`);
    }
    const bytes = (await this.fetchBlob(desc, true)) as Buffer;
    const manifest = parseManifest(bytes, desc.digest);
    await this.labelChildren(desc, manifestChildLabels(manifest));
    // The config and the layers together, as containerd dispatches a manifest's children.
    const configTask = this.fetchBlob(manifest.config, true).then((b) => {
      const config = parseImageConfig(b as Buffer, manifest.config.digest);
      const fromConfig = typeof config.os === 'string' && typeof config.architecture === 'string'
        ? normalizePlatform({ os: config.os, architecture: config.architecture, ...(typeof config.variant === 'string' && config.variant ? { variant: config.variant } : {}) })
        : undefined;
      // A manifest not picked from an index by platform must still be for this platform
      // (containerd's images.Manifest checks the config).
      if (indexPlatform === undefined && fromConfig && !this.matcher.match(fromConfig)) {
        throw new NotFoundError(`manifest ${desc.digest} of ${formatReference(this.ref)} is for ${formatPlatform(fromConfig)}: no match for platform ${formatPlatform(this.matcher.platform)}`);
      }
      return { config, platform: fromConfig ?? (indexPlatform ? normalizePlatform(indexPlatform) : this.matcher.platform) };
    });
    const layerTasks = manifest.layers.map((l) => this.fetchBlob(l, false).then(() => undefined));
    const [first] = await allOrAbort(this.controller, [configTask, ...layerTasks]);
    const { config, platform } = first as { config: ImageConfigFile; platform: Platform };
    return { manifestDescriptor: desc, manifest, config, layers: manifest.layers, platform };
  }
}

/**
 * Pull an image's content: resolve `ref`, fetch the index (if any), the manifest for the
 * platform, its config and layers into the ingester. Does not create an image record or
 * unpack: the caller does that (under the same lease).
 */
export async function pull(ref: string | ImageReference, opts: PullOptions): Promise<PullResult> {
  try {
    const resolved = await opts.resolver.resolve(ref, opts.signal);
    const puller = new Puller(opts, resolved.ref);
    const walked = await puller.walk(resolved.descriptor, undefined);
    return { name: resolved.name, ref: resolved.ref, target: resolved.descriptor, ...walked };
  } catch (err) {
    // However the abort surfaced (a destroyed socket says "aborted"), the caller sees its
    // own abort reason (an AbortError by default).
    if (opts.signal?.aborted) throw abortError(opts.signal);
    throw err;
  }
}
