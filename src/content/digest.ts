// Content digests: `<algorithm>:<hex>`, validated the way go-digest's Digest.Validate does.
// berth only produces sha256 digests; sha384 and sha512 are valid syntax (containerd links
// those hashes in, so clients may name them).

import { createHash, type Hash } from 'node:crypto';
import { InvalidArgumentError, verbatim } from '../errdefs/errors';

/** The algorithm berth writes with (go-digest's Canonical). */
export const CANONICAL_ALGORITHM = 'sha256';

/** Hex length per supported algorithm. */
const HEX_LENGTH: Readonly<Record<string, number>> = Object.freeze({ sha256: 64, sha384: 96, sha512: 128 });

/** go-digest's DigestRegexpAnchored. */
const DIGEST_SYNTAX = /^[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$/;
const LOWER_HEX = /^[a-f0-9]+$/;

export const ERR_DIGEST_INVALID_FORMAT = 'invalid checksum digest format';
export const ERR_DIGEST_INVALID_LENGTH = 'invalid checksum digest length';
export const ERR_DIGEST_UNSUPPORTED = 'unsupported digest algorithm';

/** Algorithms a digest may name (and the blobs/ subdirectories the store looks in). */
export const SUPPORTED_ALGORITHMS: readonly string[] = Object.freeze(Object.keys(HEX_LENGTH));

/**
 * Why `d` is not a valid digest, in go-digest's words (`invalid checksum digest format`,
 * `invalid checksum digest length`, `unsupported digest algorithm`), or undefined if it is
 * valid. Services that must reproduce containerd's per-method texts build them from this.
 */
export function digestProblem(d: string): string | undefined {
  const i = d.indexOf(':');
  if (i <= 0 || i + 1 === d.length) return ERR_DIGEST_INVALID_FORMAT;
  const algorithm = d.slice(0, i);
  const encoded = d.slice(i + 1);
  const hexLength = Object.prototype.hasOwnProperty.call(HEX_LENGTH, algorithm) ? HEX_LENGTH[algorithm] : undefined;
  if (hexLength === undefined) {
    return DIGEST_SYNTAX.test(d) ? ERR_DIGEST_UNSUPPORTED : ERR_DIGEST_INVALID_FORMAT;
  }
  if (encoded.length !== hexLength) return ERR_DIGEST_INVALID_LENGTH;
  return LOWER_HEX.test(encoded) ? undefined : ERR_DIGEST_INVALID_FORMAT;
}

export function isValidDigest(d: string): boolean {
  return digestProblem(d) === undefined;
}

/**
 * Throw InvalidArgumentError unless `d` is a valid digest. The text is what containerd's
 * content service sends for Info/Update (`"sha256:abc" failed validation`, verbatim).
 */
export function validateDigest(d: string): void {
  if (digestProblem(d) !== undefined) throw verbatim(new InvalidArgumentError(`${JSON.stringify(d)} failed validation`));
}

export interface ParsedDigest {
  algorithm: string;
  hex: string;
}

/** Split a digest already known to be valid. */
export function splitDigest(d: string): ParsedDigest {
  const i = d.indexOf(':');
  return { algorithm: d.slice(0, i), hex: d.slice(i + 1) };
}

/** A new incremental hash for the canonical algorithm. */
export function newDigester(): Hash {
  return createHash(CANONICAL_ALGORITHM);
}

/** The digest of a running hash, without finalizing it. */
export function digestOf(hash: Hash): string {
  return `${CANONICAL_ALGORITHM}:${hash.copy().digest('hex')}`;
}

/** sha256 digest of bytes or a string (go-digest's FromBytes / FromString). */
export function digestFromBytes(data: Uint8Array | string): string {
  return `${CANONICAL_ALGORITHM}:${createHash(CANONICAL_ALGORITHM).update(data).digest('hex')}`;
}

/** The digest of zero bytes. */
export const EMPTY_DIGEST = digestFromBytes(new Uint8Array(0));
