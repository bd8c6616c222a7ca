// Push an image from a content store to a registry, as containerd 1.6's docker pusher
// does: children before parents (layers and config, then manifests, the target last), each
// blob checked with HEAD first and skipped when the registry has it; a blob the store says
// came from another repository of the same registry (its distribution-source label) is
// mounted from there (POST …/blobs/uploads/?mount=<digest>&from=<repo>, 201) instead of
// uploaded; otherwise POST …/blobs/uploads/ and PUT <Location>?digest=<digest> with the
// bytes (monolithic). Manifests are PUT with their media type: children by digest, the
// target by the reference's tag (or digest). The token asks for pull,push on the
// repository (and pull on a mount's source).

import { Transform, type Readable } from 'node:stream';
import { InvalidArgumentError, NotFoundError, UnknownError } from '../errdefs/errors';
import { repositoryScope } from './auth';
import { parseIndex, parseManifest, type Descriptor, type Platform } from './descriptor';
import type { HttpResponse } from './http-client';
import type { RegistryHost } from './hosts';
import { distributionSourceKey } from './labels';
import { ingestRefFor, isIndexType, isManifestType } from './media-types';
import { onlyPlatform, type PlatformMatcher } from './platforms';
import { formatReference, parseNormalizedReference, type ImageReference } from './reference';
import type { Resolver } from './resolver';
import type { BlobKind } from './pull';

/** What a push reads from: a content store. */
export interface ContentProvider {
  /** Labels of a blob (the distribution-source labels pick mount sources), or undefined if absent. */
  info(digest: string): Promise<{ size: number; labels: Record<string, string> } | undefined>;
  /** A whole blob (manifests and indexes). */
  readBlob(digest: string, size: number): Promise<Buffer>;
  /** A blob as a stream (layers). */
  stream(digest: string, size: number): Promise<Readable>;
}

export type PushStatus = 'waiting' | 'uploading' | 'done' | 'exists' | 'mounted';

export interface PushProgress {
  digest: string;
  mediaType: string;
  kind: BlobKind;
  ref: string;
  status: PushStatus;
  /** Bytes sent so far. */
  offset: number;
  total: number;
}

export interface PushOptions {
  resolver: Resolver;
  provider: ContentProvider;
  /** The image's target: an index or a manifest. */
  target: Descriptor;
  /**
   * Which manifests of an index to push (the index itself is pushed whole). Default: all
   * of them, and a manifest missing from the store is an error (containerd's default).
   */
  platform?: Platform | PlatformMatcher;
  progress?: (p: PushProgress) => void;
  /** Blobs uploaded at once (default 3). */
  maxConcurrentUploads?: number;
  signal?: AbortSignal;
}

function kindOf(mt: string): BlobKind {
  if (isIndexType(mt)) return 'index';
  if (isManifestType(mt)) return 'manifest';
  if (mt.includes('config')) return 'config';
  if (mt.includes('layer') || mt.includes('rootfs')) return 'layer';
  return 'blob';
}

function header(res: HttpResponse, name: string): string | undefined {
  const v = res.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function unexpected(what: string, res: HttpResponse): UnknownError {
  return new UnknownError(`${what}: unexpected status from ${res.url}: ${res.status} ${res.body.statusMessage ?? ''}`.trim());
}

class Pusher {
  private readonly host: RegistryHost;
  private readonly scopes: string[];
  private free: number;
  private waiters: Array<() => void> = [];
  /** Each blob once, however many manifests share it. */
  private readonly started = new Map<string, Promise<void>>();

  constructor(
    private readonly opts: PushOptions,
    private readonly ref: ImageReference,
  ) {
    const hosts = opts.resolver.hosts(ref, 'push');
    if (hosts.length === 0) throw new NotFoundError(`${formatReference(ref)}: no push hosts configured`);
    // containerd pushes to the first endpoint able to.
    this.host = hosts[0]!;
    this.scopes = [repositoryScope(ref.path, ['pull', 'push'])];
    this.free = opts.maxConcurrentUploads ?? 3;
    if (!Number.isInteger(this.free) || this.free < 1) throw new InvalidArgumentError(`maxConcurrentUploads must be a positive integer, not ${this.free}`);
  }

  private report(d: Descriptor, status: PushStatus, offset: number): void {
    this.opts.progress?.({ digest: d.digest, mediaType: d.mediaType, kind: kindOf(d.mediaType), ref: ingestRefFor(d.mediaType, d.digest), status, offset, total: d.size });
  }

  private async slot<T>(fn: () => Promise<T>): Promise<T> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((r) => this.waiters.push(r));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.free++;
    }
  }

  private send(req: Parameters<Resolver['sendRequest']>[2]): Promise<HttpResponse> {
    return this.opts.resolver.sendRequest(this.host, this.ref, { scopes: this.scopes, ...(this.opts.signal ? { signal: this.opts.signal } : {}), ...req });
  }

  /** Push a descriptor and everything below it; the target last. */
  async push(d: Descriptor, isTarget: boolean): Promise<void> {
    if (isIndexType(d.mediaType)) {
      const index = parseIndex(await this.opts.provider.readBlob(d.digest, d.size), d.digest);
      const matcher = this.opts.platform === undefined ? undefined : 'match' in this.opts.platform ? this.opts.platform : onlyPlatform(this.opts.platform);
      const children = matcher ? index.manifests.filter((m) => m.platform === undefined || matcher.match(m.platform)) : index.manifests;
      if (children.length === 0) throw new NotFoundError(`no manifest of index ${d.digest} for the platform`);
      await Promise.all(children.map((c) => this.push(c, false)));
      return this.putManifest(d, isTarget);
    }
    if (isManifestType(d.mediaType)) {
      if (!(await this.opts.provider.info(d.digest))) throw new NotFoundError(`content digest ${d.digest}`);
      const manifest = parseManifest(await this.opts.provider.readBlob(d.digest, d.size), d.digest);
      await Promise.all([manifest.config, ...manifest.layers].map((b) => this.blobOnce(b)));
      return this.putManifest(d, isTarget);
    }
    return this.blobOnce(d);
  }

  private blobOnce(d: Descriptor): Promise<void> {
    let p = this.started.get(d.digest);
    if (!p) {
      p = this.pushBlob(d);
      this.started.set(d.digest, p);
    }
    return p;
  }

  private async pushBlob(d: Descriptor): Promise<void> {
    this.report(d, 'waiting', 0);
    await this.slot(async () => {
      const head = await this.send({ method: 'HEAD', parts: ['blobs', d.digest], headers: { accept: `${d.mediaType}, *` } });
      head.body.resume();
      if (head.status === 200) {
        this.report(d, 'exists', d.size);
        return;
      }
      if (head.status !== 404) throw unexpected(`checking blob ${d.digest}`, head);
      const info = await this.opts.provider.info(d.digest);
      if (!info) throw new NotFoundError(`content digest ${d.digest}`);
      // A repository of the same registry the blob came from: mount it from there.
      const sources = (info.labels[distributionSourceKey(this.ref.domain)] ?? '').split(',').filter((r) => r !== '' && r !== this.ref.path);
      const from = sources[0];
      const start = await this.send({
        method: 'POST',
        parts: ['blobs', 'uploads', ''],
        ...(from !== undefined ? { query: { mount: d.digest, from }, scopes: [...this.scopes, repositoryScope(from)] } : {}),
      });
      start.body.resume();
      if (from !== undefined && start.status === 201) {
        this.report(d, 'mounted', d.size);
        return;
      }
      if (![200, 202, 204].includes(start.status)) throw unexpected(`starting the upload of ${d.digest}`, start);
      const location = header(start, 'location');
      if (!location) throw new UnknownError(`starting the upload of ${d.digest}: no Location in the registry's answer`);
      const url = new URL(location, start.url);
      this.report(d, 'uploading', 0);
      const source = await this.opts.provider.stream(d.digest, d.size);
      let sent = 0;
      // Counted on the way through (a 'data' listener would start the flow before the
      // request is there to take it).
      const body = new Transform({
        transform: (chunk: Buffer, _enc, cb) => {
          sent += chunk.length;
          this.report(d, 'uploading', sent);
          cb(null, chunk);
        },
      });
      source.on('error', (e) => body.destroy(e));
      body.on('close', () => source.destroy());
      source.pipe(body);
      const put = await this.send({ method: 'PUT', url, query: { digest: d.digest }, headers: { 'content-type': 'application/octet-stream' }, body, bodyLength: d.size });
      put.body.resume();
      if (![200, 201, 204].includes(put.status)) throw unexpected(`uploading ${d.digest}`, put);
      const got = header(put, 'docker-content-digest');
      if (got !== undefined && got !== d.digest) throw new UnknownError(`uploading ${d.digest}: the registry stored ${got}`);
      this.report(d, 'done', d.size);
    });
  }

  private async putManifest(d: Descriptor, isTarget: boolean): Promise<void> {
    // The target goes under the tag (when there is one), children under their digests.
    const object = isTarget && this.ref.tag !== undefined ? this.ref.tag : d.digest;
    this.report(d, 'waiting', 0);
    await this.slot(async () => {
      const head = await this.send({ method: 'HEAD', parts: ['manifests', object], headers: { accept: `${d.mediaType}, *` } });
      head.body.resume();
      if (head.status === 200 && (object === d.digest || header(head, 'docker-content-digest') === d.digest)) {
        this.report(d, 'exists', d.size);
        return;
      }
      if (head.status !== 200 && head.status !== 404) throw unexpected(`checking manifest ${d.digest}`, head);
      const bytes = await this.opts.provider.readBlob(d.digest, d.size);
      this.report(d, 'uploading', 0);
      const put = await this.send({ method: 'PUT', parts: ['manifests', object], headers: { 'content-type': d.mediaType }, body: bytes });
      put.body.resume();
      if (![200, 201, 204].includes(put.status)) throw unexpected(`putting manifest ${d.digest} as ${object}`, put);
      const got = header(put, 'docker-content-digest');
      if (got !== undefined && got !== d.digest) throw new UnknownError(`putting manifest ${d.digest}: the registry stored ${got}`);
      this.report(d, 'done', d.size);
    });
  }
}

/**
 * Push `opts.target` and everything it refers to from the provider to `ref`'s repository.
 * A reference without tag or digest is pushed as :latest.
 */
export async function push(ref: string | ImageReference, opts: PushOptions): Promise<{ name: string }> {
  let r = typeof ref === 'string' ? parseNormalizedReference(ref) : ref;
  if (r.tag === undefined && r.digest === undefined) r = { ...r, tag: 'latest' };
  if (r.digest !== undefined && r.digest !== opts.target.digest) {
    throw new InvalidArgumentError(`cannot push ${opts.target.digest} as ${formatReference(r)}: the reference names another digest`);
  }
  const pusher = new Pusher(opts, r);
  await pusher.push(opts.target, true);
  return { name: formatReference(r) };
}
