// Image references as docker's distribution/reference grammar defines them and as
// containerd normalises them: "busybox" is docker.io/library/busybox:latest,
// "host:5000/a/b:tag", "name@sha256:…", "name:tag@sha256:…".
//
// Grammar (distribution/reference):
//   reference       := name [ ":" tag ] [ "@" digest ]
//   name            := [domain "/"] path-component ["/" path-component]*
//   domain          := domain-component ["." domain-component]* [":" port-number]   (or an [IPv6])
//   domain-component:= /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//   path-component  := alpha-numeric [separator alpha-numeric]*
//   alpha-numeric   := /[a-z0-9]+/
//   separator       := /[_.]|__|[-]*/
//   tag             := /[\w][\w.-]{0,127}/
//   digest          := algorithm ":" hex (validated like go-digest)

import { InvalidArgumentError } from '../errdefs/errors';
import { digestProblem } from '../content/digest';

export const DEFAULT_DOMAIN = 'docker.io';
/** docker's legacy name for the default registry, normalised to DEFAULT_DOMAIN. */
const LEGACY_DEFAULT_DOMAIN = 'index.docker.io';
const OFFICIAL_REPO_PREFIX = 'library/';
export const DEFAULT_TAG = 'latest';
/** distribution/reference's NameTotalLengthMax. */
const NAME_TOTAL_LENGTH_MAX = 255;

const ALPHA_NUMERIC = '[a-z0-9]+';
const SEPARATOR = '(?:[._]|__|[-]*)';
const PATH_COMPONENT = `${ALPHA_NUMERIC}(?:${SEPARATOR}${ALPHA_NUMERIC})*`;
const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const IPV6 = '\\[[a-fA-F0-9:]+\\]';
const DOMAIN = `(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|${IPV6})(?::[0-9]+)?`;
const TAG = '[\\w][\\w.-]{0,127}';
const DIGEST = '[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}';
const NAME = `(?:(${DOMAIN})/)?(${PATH_COMPONENT}(?:/${PATH_COMPONENT})*)`;
const REFERENCE_RE = new RegExp(`^${NAME}(?::(${TAG}))?(?:@(${DIGEST}))?$`);
const TAG_RE = new RegExp(`^${TAG}$`);
/** A bare 64-hex string would be read as a repository name; docker refuses it (it looks like an image id). */
const IMAGE_ID_RE = /^[a-f0-9]{64}$/;

/** A parsed image reference. `domain` and `path` are always set once normalised. */
export interface ImageReference {
  /** Registry host, with port if any: "docker.io", "127.0.0.1:5000", "registry.k8s.io". */
  readonly domain: string;
  /** Repository path below the registry: "library/busybox", "e2e-test-images/agnhost". */
  readonly path: string;
  readonly tag?: string;
  readonly digest?: string;
}

function invalid(ref: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`failed to parse image reference ${JSON.stringify(ref)}: ${why}`);
}

/** docker's splitDockerDomain: the first component is a registry host only if it looks like one. */
function splitDomain(name: string): { domain: string; path: string } {
  const i = name.indexOf('/');
  let domain: string;
  let path: string;
  if (i === -1 || (!/[.:]/.test(name.slice(0, i)) && name.slice(0, i) !== 'localhost' && !name.startsWith('['))) {
    domain = DEFAULT_DOMAIN;
    path = name;
  } else {
    domain = name.slice(0, i);
    path = name.slice(i + 1);
  }
  if (domain === LEGACY_DEFAULT_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_REPO_PREFIX + path;
  return { domain, path };
}

/**
 * docker's ParseNormalizedNamed: the familiar forms are completed ("busybox" →
 * docker.io/library/busybox), a tag and a digest are both kept, no default tag is added.
 * Throws InvalidArgumentError naming what is wrong.
 */
export function parseNormalizedReference(ref: string): ImageReference {
  if (ref === '') throw invalid(ref, 'repository name must have at least one component');
  if (IMAGE_ID_RE.test(ref)) throw invalid(ref, `invalid repository name (${ref}), cannot specify 64-byte hexadecimal strings`);
  // Split off the digest and the tag first so that the name part can be normalised
  // (and checked for upper case) on its own, as docker does.
  let rest = ref;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon !== -1 && colon > rest.lastIndexOf('/')) {
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
  }
  const { domain, path } = splitDomain(rest);
  if (path !== path.toLowerCase()) throw invalid(ref, 'repository name must be lowercase');
  if (tag !== undefined && !TAG_RE.test(tag)) throw invalid(ref, 'invalid tag format');
  const full = `${domain}/${path}${tag !== undefined ? `:${tag}` : ''}${digest !== undefined ? `@${digest}` : ''}`;
  const m = REFERENCE_RE.exec(full);
  if (!m || m[1] === undefined) {
    if (digest !== undefined && !new RegExp(`^${DIGEST}$`).test(digest)) throw invalid(ref, 'invalid digest format');
    throw invalid(ref, 'invalid reference format');
  }
  if (`${m[1]}/${m[2]}`.length > NAME_TOTAL_LENGTH_MAX) {
    throw invalid(ref, `repository name must not be more than ${NAME_TOTAL_LENGTH_MAX} characters`);
  }
  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem) throw invalid(ref, problem);
  }
  return { domain: m[1], path: m[2]!, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/**
 * containerd's reference/docker.ParseDockerRef (what CRI stores as an image name):
 * normalised, "latest" added when there is neither tag nor digest, and the tag dropped
 * when a digest pins the content ("a:1@sha256:…" → "docker.io/library/a@sha256:…").
 */
export function parseDockerRef(ref: string): ImageReference {
  const r = parseNormalizedReference(ref);
  if (r.digest !== undefined) return { domain: r.domain, path: r.path, digest: r.digest };
  if (r.tag === undefined) return { ...r, tag: DEFAULT_TAG };
  return r;
}

/**
 * The reference a pull starts from: normalised, "latest" added when there is neither tag
 * nor digest, but a tag next to a digest kept (ctr keeps "name:tag@digest" as the image
 * name; the digest decides what is fetched).
 */
export function parsePullReference(ref: string): ImageReference {
  const r = parseNormalizedReference(ref);
  return r.tag === undefined && r.digest === undefined ? { ...r, tag: DEFAULT_TAG } : r;
}

/** "domain/path". */
export function referenceName(r: ImageReference): string {
  return `${r.domain}/${r.path}`;
}

/** The full string: "domain/path[:tag][@digest]". */
export function formatReference(r: ImageReference): string {
  return `${referenceName(r)}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** docker's FamiliarString: "docker.io/library/busybox:latest" → "busybox:latest". */
export function familiarReference(r: ImageReference): string {
  let name = referenceName(r);
  if (r.domain === DEFAULT_DOMAIN) {
    name = r.path.startsWith(OFFICIAL_REPO_PREFIX) && r.path.indexOf('/', OFFICIAL_REPO_PREFIX.length) === -1 ? r.path.slice(OFFICIAL_REPO_PREFIX.length) : r.path;
  }
  return `${name}${r.tag !== undefined ? `:${r.tag}` : ''}${r.digest !== undefined ? `@${r.digest}` : ''}`;
}

/** What the registry is asked for: the digest when there is one, else the tag. */
export function referenceObject(r: ImageReference): string {
  return r.digest ?? r.tag ?? DEFAULT_TAG;
}
