import { InvalidArgumentError } from '../errdefs/errors';

// Image references as CRI reads them (docker's distribution/reference grammar, as containerd's
// reference/docker package normalises it). src/remotes/reference.ts is the registry client's
// full parser; this is the part the CRI image store needs to name and rank references, kept
// to the same names (parseDockerRef, ImageReference) so that switching to that module once
// it is merged is an import change.

export interface ImageReference {
  /** "docker.io", "127.0.0.1:5000", "registry.k8s.io". */
  readonly domain: string;
  /** "library/busybox". */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

const PATH_COMPONENT = '[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*';
const DOMAIN = '(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?';
const PATH_RE = new RegExp(`^${PATH_COMPONENT}(?:/${PATH_COMPONENT})*$`);
const DOMAIN_RE = new RegExp(`^${DOMAIN}$`);
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
const HEX64 = /^[a-f0-9]{64}$/;

function invalid(ref: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`failed to parse image reference ${JSON.stringify(ref)}: ${why}`);
}

/** docker's ParseNormalizedNamed: "busybox" → docker.io/library/busybox; no default tag. */
export function parseNormalizedReference(ref: string): ImageReference {
  if (ref === '') throw invalid(ref, 'repository name must have at least one component');
  if (HEX64.test(ref)) throw invalid(ref, `invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) throw invalid(ref, 'invalid digest format');
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (!TAG_RE.test(tag)) throw invalid(ref, 'invalid tag format');
  }
  const slash = rest.indexOf('/');
  const first = slash < 0 ? '' : rest.slice(0, slash);
  let domain = 'docker.io';
  let path = rest;
  if (slash >= 0 && (/[.:]/.test(first) || first === 'localhost' || first.startsWith('['))) {
    domain = first === 'index.docker.io' ? 'docker.io' : first;
    path = rest.slice(slash + 1);
  }
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  if (path !== path.toLowerCase()) throw invalid(ref, 'repository name must be lowercase');
  if (!DOMAIN_RE.test(domain) || !PATH_RE.test(path)) throw invalid(ref, 'invalid reference format');
  if (`${domain}/${path}`.length > 255) throw invalid(ref, 'repository name must not be more than 255 characters');
  return { domain, path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** containerd's ParseDockerRef: normalised; "latest" without tag or digest; a digest drops the tag. */
export function parseDockerRef(ref: string): ImageReference {
  const r = parseNormalizedReference(ref);
  if (r.digest !== undefined) return { domain: r.domain, path: r.path, digest: r.digest };
  return r.tag === undefined ? { ...r, tag: 'latest' } : r;
}

export function referenceName(r: ImageReference): string {
  return `${r.domain}/${r.path}`;
}

export function formatReference(r: ImageReference): string {
  return `${referenceName(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/**
 * docker's ParseAnyReference, reduced to what the CRI image store asks of it: a bare digest
 * ("sha256:<hex>", or 64 hex) is a digest reference, else a normalised name; undefined when
 * it parses as neither.
 */
export function parseAnyReference(ref: string): { kind: 'digest'; digest: string } | { kind: 'named'; ref: ImageReference } | undefined {
  if (HEX64.test(ref)) return { kind: 'digest', digest: `sha256:${ref}` };
  if (DIGEST_RE.test(ref)) return { kind: 'digest', digest: ref };
  try {
    return { kind: 'named', ref: parseNormalizedReference(ref) };
  } catch {
    return undefined;
  }
}
