/** Set on a layer blob once its uncompressed digest (diff ID) was verified by an apply. */
export const UNCOMPRESSED_LABEL = 'containerd.io/uncompressed';
/** On the image config blob: keeps the unpacked snapshot chain alive for the collector. */
export const GC_REF_SNAPSHOT_PREFIX = 'containerd.io/gc.ref.snapshot.';
/** On each unpacked snapshot: its chain ID (containerd sets it for remote snapshotters). */
export const SNAPSHOT_REF_LABEL = 'containerd.io/snapshot.ref';
/** Layer annotations with this prefix are copied onto the snapshot as labels. */
export const INHERITED_LABEL_PREFIX = 'containerd.io/snapshot/';
/** Key of an extraction snapshot: "extract-<unique> <chainID>" (containerd's UnpackKeyFormat). */
export const UNPACK_KEY_PREFIX = 'extract';
