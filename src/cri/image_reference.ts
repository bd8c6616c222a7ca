import { parseNormalizedReference, type ImageReference } from '../remotes/reference';

// Image references as the CRI image store reads them. Parsing and normalising is the
// registry client's (src/remotes/reference.ts: docker's grammar, containerd's ParseDockerRef);
// this adds docker's ParseAnyReference, which the CRI uses to rank and sort an image's names.

export { formatReference, parseDockerRef, referenceName, type ImageReference } from '../remotes/reference';

/**
 * docker's ParseAnyReference, as far as the CRI image store asks it: a bare digest
 * ("sha256:<hex>", or 64 hex) is a digest reference, else a normalised name; undefined when
 * it parses as neither.
 */
export function parseAnyReference(ref: string): { kind: 'digest'; digest: string } | { kind: 'named'; ref: ImageReference } | undefined {
  if (/^[a-f0-9]{64}$/.test(ref)) return { kind: 'digest', digest: `sha256:${ref}` };
  if (/^sha256:[a-f0-9]{64}$/.test(ref)) return { kind: 'digest', digest: ref };
  try {
    return { kind: 'named', ref: parseNormalizedReference(ref) };
  } catch {
    return undefined;
  }
}
