// The OCI documents a pull walks: descriptors, image indexes, manifests, configs. Parsed
// from registry bytes, so every field is checked before it is trusted.

import { InvalidArgumentError } from '../errdefs/errors';
import { digestProblem } from '../content/digest';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  urls?: string[];
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface ImageIndex {
  schemaVersion: number;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: number;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

/** The parts of an image config a puller looks at (the rest is kept as parsed). */
export interface ImageConfigFile {
  architecture?: string;
  os?: string;
  variant?: string;
  rootfs?: { type?: string; diff_ids?: string[] };
  config?: Record<string, unknown>;
  [key: string]: unknown;
}

function bad(what: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid ${what}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw bad(what, 'annotations must be an object');
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw bad(what, `annotation ${k} is not a string`);
    out[k] = val;
  }
  return out;
}

function parsePlatform(v: unknown, what: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isObject(v) || typeof v.architecture !== 'string' || typeof v.os !== 'string') {
    throw bad(what, 'platform needs string os and architecture');
  }
  const p: Platform = { architecture: v.architecture, os: v.os };
  if (typeof v.variant === 'string' && v.variant !== '') p.variant = v.variant;
  if (typeof v['os.version'] === 'string') p['os.version'] = v['os.version'];
  if (Array.isArray(v['os.features'])) p['os.features'] = v['os.features'].filter((f): f is string => typeof f === 'string');
  return p;
}

/** A descriptor from untrusted JSON: media type, a valid digest, a non-negative safe size. */
export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v)) throw bad(what, 'descriptor is not an object');
  const { mediaType, digest, size } = v;
  if (typeof mediaType !== 'string') throw bad(what, 'descriptor without mediaType');
  if (typeof digest !== 'string') throw bad(what, 'descriptor without digest');
  const problem = digestProblem(digest);
  if (problem) throw bad(what, `descriptor digest ${JSON.stringify(digest)}: ${problem}`);
  if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad(what, `descriptor ${digest} has an invalid size`);
  const d: Descriptor = { mediaType, digest, size };
  if (Array.isArray(v.urls)) d.urls = v.urls.filter((u): u is string => typeof u === 'string');
  const annotations = stringMap(v.annotations, what);
  if (annotations) d.annotations = annotations;
  const platform = parsePlatform(v.platform, what);
  if (platform) d.platform = platform;
  return d;
}

function parseJson(bytes: Uint8Array, what: string): Record<string, unknown> {
  let doc: unknown;
  try {
    doc = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'));
  } catch (err) {
    throw bad(what, `not JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc)) throw bad(what, 'not a JSON object');
  return doc;
}

export function parseIndex(bytes: Uint8Array, digest: string): ImageIndex {
  const what = `index ${digest}`;
  const doc = parseJson(bytes, what);
  if (!Array.isArray(doc.manifests)) throw bad(what, 'no manifests array');
  const index: ImageIndex = {
    schemaVersion: typeof doc.schemaVersion === 'number' ? doc.schemaVersion : 0,
    manifests: doc.manifests.map((m) => parseDescriptor(m, what)),
  };
  if (typeof doc.mediaType === 'string') index.mediaType = doc.mediaType;
  const annotations = stringMap(doc.annotations, what);
  if (annotations) index.annotations = annotations;
  return index;
}

export function parseManifest(bytes: Uint8Array, digest: string): ImageManifest {
  const what = `manifest ${digest}`;
  const doc = parseJson(bytes, what);
  if (doc.layers !== undefined && doc.layers !== null && !Array.isArray(doc.layers)) throw bad(what, 'layers is not an array');
  const manifest: ImageManifest = {
    schemaVersion: typeof doc.schemaVersion === 'number' ? doc.schemaVersion : 0,
    config: parseDescriptor(doc.config, what),
    layers: ((doc.layers as unknown[] | undefined) ?? []).map((l) => parseDescriptor(l, what)),
  };
  if (typeof doc.mediaType === 'string') manifest.mediaType = doc.mediaType;
  const annotations = stringMap(doc.annotations, what);
  if (annotations) manifest.annotations = annotations;
  return manifest;
}

export function parseImageConfig(bytes: Uint8Array, digest: string): ImageConfigFile {
  return parseJson(bytes, `image config ${digest}`) as ImageConfigFile;
}
