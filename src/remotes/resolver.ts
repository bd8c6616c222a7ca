// Resolve and fetch against an OCI distribution registry, as containerd 1.6's docker
// resolver does:
//  - resolve: for each endpoint able to resolve, HEAD <path>/<repo>/manifests/<tag|digest>
//    (for a digest, then blobs/<digest>) with the Accept header of the OCI and Docker v2
//    manifest and index types; the digest from Docker-Content-Digest, the size from
//    Content-Length; when HEAD does not give both, GET the manifest and digest its bytes.
//    A 404 tries the next endpoint; so does any other error status, and the first such
//    error is reported if none succeeds.
//  - fetch: manifests and indexes from manifests/<digest>, everything else from
//    blobs/<digest>, on each endpoint able to pull; resumed at an offset with Range (a
//    registry that ignores Range has the skipped bytes discarded, as containerd does).
// Mirrors get `?ns=<registry>` so a pull-through cache knows which upstream is meant.

import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { InvalidArgumentError, NotFoundError, NotImplementedError, UnknownError } from '../errdefs/errors';
import { digestFromBytes, digestProblem } from '../content/digest';
import { Authorizer, repositoryScope } from './auth';
import { parseChallenges } from './challenge';
import type { CredentialsCallback } from './credentials';
import type { Descriptor } from './descriptor';
import { registryHosts, type HostsOptions, type RegistryHost, type HostCapability } from './hosts';
import { HttpClient, tlsOf, type HttpMethod, type HttpResponse } from './http-client';
import {
  MANIFEST_ACCEPT,
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  MEDIA_TYPE_OCI_MANIFEST,
  isIndexType,
  isManifestType,
  isSchema1Type,
} from './media-types';
import { formatReference, parsePullReference, referenceObject, type ImageReference } from './reference';

/** containerd's MaxManifestSize: a resolved manifest larger than this is refused. */
export const MAX_MANIFEST_SIZE = 4 << 20;

export interface ResolverOptions {
  /** Where to route each registry: hosts.toml options, or a function of the registry name. */
  hosts?: HostsOptions | ((registry: string) => RegistryHost[]);
  credentials?: CredentialsCallback;
  /** Share one HTTP client (and its connection pools) between resolvers. */
  http?: HttpClient;
}

export interface Resolved {
  /** The normalised reference ("docker.io/library/busybox:latest"): the image name. */
  name: string;
  ref: ImageReference;
  /** The target: an index or a manifest. */
  descriptor: Descriptor;
}

/** A blob stream positioned at the asked offset. */
export interface FetchedBlob {
  body: Readable;
  /** The endpoint that served it. */
  host: string;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** Content-Type without parameters. */
function mediaTypeOf(res: HttpResponse): string {
  return (headerValue(res.headers['content-type']) ?? '').split(';')[0]!.trim();
}

function isKnownManifestType(mt: string): boolean {
  return isIndexType(mt) || isManifestType(mt) || isSchema1Type(mt);
}

/** A registry that serves a manifest as application/json: tell index from manifest by the document. */
function sniffManifestType(body: Buffer): string | undefined {
  try {
    const doc = JSON.parse(body.toString('utf8')) as { mediaType?: unknown; manifests?: unknown; config?: unknown; schemaVersion?: unknown };
    if (typeof doc.mediaType === 'string' && isKnownManifestType(doc.mediaType)) return doc.mediaType;
    if (Array.isArray(doc.manifests)) return MEDIA_TYPE_OCI_INDEX;
    if (doc.config !== undefined) return doc.schemaVersion === 2 ? MEDIA_TYPE_OCI_MANIFEST : MEDIA_TYPE_DOCKER_MANIFEST;
  } catch {
    return undefined;
  }
  return undefined;
}

/** Drops the first `n` bytes of a stream (a registry that answered a Range request with 200). */
class SkipBytes extends Transform {
  constructor(private left: number) {
    super();
  }
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    if (this.left >= chunk.length) {
      this.left -= chunk.length;
      cb();
      return;
    }
    const out = this.left > 0 ? chunk.subarray(this.left) : chunk;
    this.left = 0;
    cb(null, out);
  }
}

function statusError(method: string, res: HttpResponse): UnknownError {
  return new UnknownError(`unexpected status from ${method} request to ${res.url}: ${res.status} ${res.body.statusMessage ?? ''}`.trim());
}

export class Resolver {
  readonly http: HttpClient;
  private readonly ownsHttp: boolean;
  private readonly authorizer: Authorizer;
  private readonly hostsFor: (registry: string) => RegistryHost[];

  constructor(opts: ResolverOptions = {}) {
    this.ownsHttp = !opts.http;
    this.http = opts.http ?? new HttpClient();
    this.authorizer = new Authorizer(this.http, opts.credentials ? { credentials: opts.credentials } : {});
    const hosts = opts.hosts;
    const lookup = typeof hosts === 'function' ? hosts : (registry: string) => registryHosts(registry, hosts ?? {});
    // Read once per resolver (a resolver serves one pull, or one client's session): a
    // changed hosts.toml applies to the next resolver, with no daemon restart.
    const cache = new Map<string, RegistryHost[]>();
    this.hostsFor = (registry) => {
      let list = cache.get(registry);
      if (!list) {
        list = lookup(registry);
        cache.set(registry, list);
      }
      return list;
    };
  }

  /** Endpoints for the reference's registry that have a capability. */
  hosts(ref: ImageReference, cap: HostCapability): RegistryHost[] {
    return this.hostsFor(ref.domain).filter((h) => h.capabilities.has(cap));
  }

  /**
   * One request to an endpoint, authorized: anonymous (or with what earlier requests to
   * the host obtained) first, then whatever a 401's challenge asks for; a 401 for
   * authorization obtained afresh is a denial.
   */
  async send(h: RegistryHost, ref: ImageReference, method: 'GET' | 'HEAD', parts: string[], headers: Record<string, string>, signal?: AbortSignal): Promise<HttpResponse> {
    return this.sendRequest(h, ref, { method, parts, headers, ...(signal ? { signal } : {}) });
  }

  /** The URL of `parts` below the repository on an endpoint (with ?ns= for a mirror). */
  endpointUrl(h: RegistryHost, ref: ImageReference, parts: string[]): URL {
    // Tags and digests need no escaping (the reference grammar allows none of the
    // characters that would); containerd sends "sha256:…" with its colon as is.
    const u = new URL(`${h.scheme}://${h.host}${h.path}/${ref.path}/${parts.join('/')}`);
    // A mirror (any endpoint other than the registry itself) is told which registry is meant.
    const isMirror = h.host !== ref.domain && !(ref.domain === 'docker.io' && h.host === 'registry-1.docker.io');
    if (isMirror) u.searchParams.set('ns', ref.domain);
    return u;
  }

  /**
   * The general form of send(): any method, a path below the repository or an absolute
   * URL (an upload's Location), query parameters, a body, and the scopes the token must
   * carry (default: pull on the repository). A stream body is sent once, so a request
   * with one must come after the host's auth is set up (a POST before it did that).
   */
  async sendRequest(
    h: RegistryHost,
    ref: ImageReference,
    req: {
      method: HttpMethod;
      parts?: string[];
      url?: URL;
      query?: Record<string, string>;
      headers?: Record<string, string>;
      body?: Buffer | Readable;
      bodyLength?: number;
      scopes?: string[];
      signal?: AbortSignal;
    },
  ): Promise<HttpResponse> {
    const u = req.url ? new URL(req.url.href) : this.endpointUrl(h, ref, req.parts ?? []);
    for (const [k, v] of Object.entries(req.query ?? {})) u.searchParams.set(k, v);
    const scopes = req.scopes ?? [repositoryScope(ref.path)];
    const signal = req.signal;
    for (let attempt = 0; ; attempt++) {
      const authorization = await this.authorizer.authorize(h.host, scopes, signal);
      const all: Record<string, string | string[]> = { ...(h.header ?? {}), ...(req.headers ?? {}) };
      if (authorization) all.authorization = authorization;
      const res = await this.http.request({
        method: req.method,
        url: u.href,
        headers: all,
        tls: tlsOf(h),
        ...(req.body ? { body: req.body } : {}),
        ...(req.bodyLength !== undefined ? { bodyLength: req.bodyLength } : {}),
        ...(signal ? { signal } : {}),
      });
      if (res.status !== 401 || (req.body !== undefined && !Buffer.isBuffer(req.body))) return res;
      res.body.resume();
      await this.authorizer.addChallenge(h.host, parseChallenges(res.headers['www-authenticate']), {
        hadAuthorization: authorization !== undefined,
        denied: authorization !== undefined && attempt >= 1,
        statusText: `${res.status} ${res.body.statusMessage ?? 'Unauthorized'}`,
      });
    }
  }

  /** Resolve a reference to its target descriptor. NotFound when no endpoint has it. */
  async resolve(refOrString: string | ImageReference, signal?: AbortSignal): Promise<Resolved> {
    const ref = typeof refOrString === 'string' ? parsePullReference(refOrString) : refOrString;
    const name = formatReference(ref);
    const hosts = this.hosts(ref, 'resolve');
    if (hosts.length === 0) throw new NotFoundError(`${name}: no resolver hosts configured`);
    const paths: string[][] = ref.digest ? [['manifests', ref.digest], ['blobs', ref.digest]] : [['manifests', referenceObject(ref)]];
    let firstErr: Error | undefined;
    for (const h of hosts) {
      for (const parts of paths) {
        try {
          const desc = await this.resolveAt(h, ref, parts, signal);
          if (desc) return { name, ref, descriptor: desc };
        } catch (err) {
          if ((err as Error).name === 'AbortError') throw err;
          if (err instanceof InvalidArgumentError || err instanceof NotImplementedError) throw err;
          firstErr ??= err as Error;
        }
      }
    }
    throw firstErr ?? new NotFoundError(`${name}: not found`);
  }

  /** One endpoint and path: the descriptor, or undefined on 404. */
  private async resolveAt(h: RegistryHost, ref: ImageReference, parts: string[], signal?: AbortSignal): Promise<Descriptor | undefined> {
    const accept = { accept: MANIFEST_ACCEPT };
    const head = await this.send(h, ref, 'HEAD', parts, accept, signal);
    head.body.resume();
    if (head.status === 404) return undefined;
    if (head.status < 200 || head.status > 299) throw statusError('HEAD', head);
    let mediaType = mediaTypeOf(head);
    let digest = ref.digest ?? headerValue(head.headers['docker-content-digest']) ?? '';
    const lengthHeader = headerValue(head.headers['content-length']);
    let size = lengthHeader !== undefined && /^\d+$/.test(lengthHeader) ? Number(lengthHeader) : -1;
    if (digest !== '' && digestProblem(digest)) throw new UnknownError(`${head.url}: invalid Docker-Content-Digest ${JSON.stringify(digest)}`);
    if (digest === '' || size < 0 || !isKnownManifestType(mediaType)) {
      // HEAD did not say enough: read the manifest itself.
      const get = await this.send(h, ref, 'GET', parts, accept, signal);
      if (get.status === 404) {
        get.body.resume();
        return undefined;
      }
      if (get.status < 200 || get.status > 299) {
        get.body.resume();
        throw statusError('GET', get);
      }
      const body = await HttpClient.readBody(get, MAX_MANIFEST_SIZE);
      mediaType = mediaTypeOf(get);
      if (!isKnownManifestType(mediaType)) mediaType = sniffManifestType(body) ?? mediaType;
      if (digest === '') digest = digestFromBytes(body);
      size = body.length;
    }
    if (size > MAX_MANIFEST_SIZE) throw new InvalidArgumentError(`rejecting ${size} byte manifest ${digest} for ${formatReference(ref)}: larger than ${MAX_MANIFEST_SIZE} bytes`);
    if (isSchema1Type(mediaType)) throw new NotImplementedError(`${formatReference(ref)}: Docker schema 1 manifests are not supported`);
    if (!isKnownManifestType(mediaType)) throw new InvalidArgumentError(`${formatReference(ref)}: unsupported manifest media type ${JSON.stringify(mediaType)}`);
    return { mediaType, digest, size };
  }

  /**
   * Open a blob at `offset` (0: from the start). Manifests and indexes come from the
   * manifests endpoint, everything else from blobs. The caller verifies size and digest.
   */
  async fetch(ref: ImageReference, desc: Descriptor, offset = 0, signal?: AbortSignal): Promise<FetchedBlob> {
    const manifestish = isIndexType(desc.mediaType) || isManifestType(desc.mediaType) || isSchema1Type(desc.mediaType);
    const parts = [manifestish ? 'manifests' : 'blobs', desc.digest];
    const headers: Record<string, string> = { accept: manifestish ? `${desc.mediaType}, */*` : '*/*' };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    let firstErr: Error | undefined;
    for (const h of this.hosts(ref, 'pull')) {
      let res: HttpResponse;
      try {
        res = await this.send(h, ref, 'GET', parts, headers, signal);
      } catch (err) {
        if ((err as Error).name === 'AbortError') throw err;
        firstErr ??= err as Error;
        continue;
      }
      if (res.status === 404) {
        res.body.resume();
        firstErr ??= new NotFoundError(`content at ${res.url}`);
        continue;
      }
      if (res.status !== 200 && res.status !== 206) {
        res.body.resume();
        firstErr ??= statusError('GET', res);
        continue;
      }
      if (offset > 0) {
        const range = headerValue(res.headers['content-range']) ?? '';
        if (res.status === 206 && range.startsWith(`bytes ${offset}-`)) return { body: res.body, host: h.host };
        if (res.status === 200) {
          // The registry sent the whole blob: skip what the ingest already holds.
          const skip = new SkipBytes(offset);
          res.body.on('error', (e) => skip.destroy(e));
          // A reader that gives up early closes the transform: the response and its socket go too.
          skip.on('close', () => {
            if (!res.body.complete) res.body.destroy();
          });
          return { body: res.body.pipe(skip), host: h.host };
        }
        res.body.resume();
        throw new UnknownError(`unhandled content range in response from ${res.url}: ${JSON.stringify(range)}`);
      }
      return { body: res.body, host: h.host };
    }
    throw firstErr ?? new NotFoundError(`${desc.digest}: no pull hosts for ${ref.domain}`);
  }

  /** Close idle connections (only of an HTTP client this resolver made itself). */
  close(): void {
    if (this.ownsHttp) this.http.close();
  }
}
