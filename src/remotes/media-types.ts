// OCI and Docker image media types, and what a resolver asks a registry for.

export const MEDIA_TYPE_OCI_INDEX = 'application/vnd.oci.image.index.v1+json';
export const MEDIA_TYPE_OCI_MANIFEST = 'application/vnd.oci.image.manifest.v1+json';
export const MEDIA_TYPE_OCI_CONFIG = 'application/vnd.oci.image.config.v1+json';
export const MEDIA_TYPE_DOCKER_MANIFEST_LIST = 'application/vnd.docker.distribution.manifest.list.v2+json';
export const MEDIA_TYPE_DOCKER_MANIFEST = 'application/vnd.docker.distribution.manifest.v2+json';
export const MEDIA_TYPE_DOCKER_CONFIG = 'application/vnd.docker.container.image.v1+json';
/** Schema 1 (signed or not): long deprecated, refused with NotImplemented. */
export const MEDIA_TYPE_DOCKER_SCHEMA1 = 'application/vnd.docker.distribution.manifest.v1+json';
export const MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED = 'application/vnd.docker.distribution.manifest.v1+prettyjws';

/**
 * The Accept header containerd 1.6's resolver sends for manifests: both Docker v2 types,
 * both OCI types, then anything (a registry that knows none of them still answers).
 */
export const MANIFEST_ACCEPT = [
  MEDIA_TYPE_DOCKER_MANIFEST,
  MEDIA_TYPE_DOCKER_MANIFEST_LIST,
  MEDIA_TYPE_OCI_MANIFEST,
  MEDIA_TYPE_OCI_INDEX,
  '*/*',
].join(', ');

export function isIndexType(mt: string): boolean {
  return mt === MEDIA_TYPE_OCI_INDEX || mt === MEDIA_TYPE_DOCKER_MANIFEST_LIST;
}

export function isManifestType(mt: string): boolean {
  return mt === MEDIA_TYPE_OCI_MANIFEST || mt === MEDIA_TYPE_DOCKER_MANIFEST;
}

export function isSchema1Type(mt: string): boolean {
  return mt === MEDIA_TYPE_DOCKER_SCHEMA1 || mt === MEDIA_TYPE_DOCKER_SCHEMA1_SIGNED;
}

export function isConfigType(mt: string): boolean {
  return mt === MEDIA_TYPE_OCI_CONFIG || mt === MEDIA_TYPE_DOCKER_CONFIG;
}

/** Layer types: OCI tar (+gzip/+zstd, non-distributable too) and Docker's rootfs diffs. */
export function isLayerType(mt: string): boolean {
  return mt.startsWith('application/vnd.oci.image.layer.') || mt.startsWith('application/vnd.docker.image.rootfs.');
}

/**
 * The ingest ref containerd's remotes.MakeRefKey gives a blob: "<kind>-<digest>". The same
 * ref across pulls is what lets a second pull resume a first one's partial ingest.
 */
export function ingestRefFor(mediaType: string, digest: string): string {
  if (isManifestType(mediaType) || isSchema1Type(mediaType)) return `manifest-${digest}`;
  if (isIndexType(mediaType)) return `index-${digest}`;
  if (isLayerType(mediaType)) return `layer-${digest}`;
  if (isConfigType(mediaType)) return `config-${digest}`;
  return `unknown-${digest}`;
}

/** What a blob is in an image, by its media type (the kinds a pull reports progress for). */
export type BlobKind = 'index' | 'manifest' | 'config' | 'layer' | 'blob';

export function blobKindOf(mediaType: string): BlobKind {
  if (isIndexType(mediaType)) return 'index';
  if (isManifestType(mediaType) || isSchema1Type(mediaType)) return 'manifest';
  if (isConfigType(mediaType)) return 'config';
  if (isLayerType(mediaType)) return 'layer';
  return 'blob';
}
