// The content labels containerd 1.6 sets while pulling:
//  - on every blob, `containerd.io/distribution.source.<registry host name>=<repository>`
//    (a sorted, comma-separated set when several repositories share the blob), so a later
//    push can mount it cross-repository;
//  - on every parent, a gc reference to each child so garbage collection keeps the tree:
//    an index `containerd.io/gc.ref.content.m.<i>` for each of its manifests (all of
//    them, the platforms not pulled included: containerd labels before it filters), a
//    manifest `containerd.io/gc.ref.content.config` and `containerd.io/gc.ref.content.l.<i>`.

import type { Descriptor, ImageIndex, ImageManifest } from './descriptor';

export const DISTRIBUTION_SOURCE_PREFIX = 'containerd.io/distribution.source.';
export const GC_REF_CONTENT_MANIFEST = 'containerd.io/gc.ref.content.m.';
export const GC_REF_CONTENT_CONFIG = 'containerd.io/gc.ref.content.config';
export const GC_REF_CONTENT_LAYER = 'containerd.io/gc.ref.content.l.';
/** containerd's limit on a label's key and value together. */
const MAX_LABEL_SIZE = 4096;

/**
 * The source label's key for a registry. containerd takes the host name of the reference
 * without its port (Go's URL.Hostname(): "127.0.0.1:5000" → "127.0.0.1", "[::1]:5000" →
 * "::1"), so two registries on one host share the key.
 */
export function distributionSourceKey(registry: string): string {
  return DISTRIBUTION_SOURCE_PREFIX + hostnameOf(registry);
}

/** Go's URL.Hostname() of "host[:port]". */
export function hostnameOf(registry: string): string {
  if (registry.startsWith('[')) {
    const end = registry.indexOf(']');
    return end === -1 ? registry : registry.slice(1, end);
  }
  const colon = registry.indexOf(':');
  return colon === -1 ? registry : registry.slice(0, colon);
}

/** containerd's appendDistributionSourceLabel: add a repository to the set, sorted, no duplicates. */
export function appendDistributionSource(existing: string | undefined, repo: string): string {
  const repos = new Set((existing ?? '').split(',').filter((r) => r !== ''));
  repos.add(repo);
  return [...repos].sort().join(',');
}

/** Whether containerd would accept the label (it skips the source label rather than fail). */
export function labelFits(key: string, value: string): boolean {
  return key.length + value.length <= MAX_LABEL_SIZE;
}

/** gc ref labels of an index: every manifest it lists. */
export function indexChildLabels(index: ImageIndex): Record<string, string> {
  const out: Record<string, string> = {};
  index.manifests.forEach((m: Descriptor, i) => {
    out[`${GC_REF_CONTENT_MANIFEST}${i}`] = m.digest;
  });
  return out;
}

/** gc ref labels of a manifest: its config and its layers. */
export function manifestChildLabels(manifest: ImageManifest): Record<string, string> {
  const out: Record<string, string> = { [GC_REF_CONTENT_CONFIG]: manifest.config.digest };
  manifest.layers.forEach((l, i) => {
    out[`${GC_REF_CONTENT_LAYER}${i}`] = l.digest;
  });
  return out;
}
