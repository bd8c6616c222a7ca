// The snapshotter module: the interface, the overlayfs and native backends, and their
// shared pieces.

export type { Mount, SnapshotInfo, SnapshotKind, Snapshotter, SnapshotterBackend, Usage } from './snapshotter';
export { snapshotterRoot, type BackendOptions } from './base';
export {
  OverlaySnapshotter, OverlayNotSupportedError, checkOverlaySupport, overlaySupportsIndex,
  type OverlayOptions,
} from './overlay';
export { NativeSnapshotter, type NativeOptions } from './native';
export { diskUsage } from './usage';
export { copyTree, type CopyOptions } from './copy';
