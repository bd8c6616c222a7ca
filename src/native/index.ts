// berth's native layer: the Linux syscalls Node lacks, from the N-API addon in native/
// (build: npm run build:native). The addon loads lazily on first call; a missing
// build throws "berth native addon not built: …".

export { native, nativeAvailable, NATIVE_ADDON_PATH, NOT_BUILT_MESSAGE } from './binding';
export type { NativeBinding, PathArg } from './binding';
export { isNativeError } from './errors';
export type { NativeError } from './errors';
export * from './constants';
export {
  mount, umount2, umount2Async, parseMountOptions, compactLowerdirOption, mountOne, mountAll, unmount, unmountAll,
} from './mount';
export type { Mount, ParsedMountOptions } from './mount';
export { mknod, lsetxattr, lgetxattr, llistxattr, lremovexattr, utimensat, lutimes, removeTree } from './fs';
export {
  prctlSetChildSubreaper, prctlGetChildSubreaper, pidfdOpen, pidfdSendSignal, waitidPidfd,
  exitedNormally, watchFd, UV_READABLE, UV_WRITABLE, waitPidfd, spawnWithPidfd, execve, closeOnExecFrom,
} from './process';
export type { WaitResult, FdWatcher, SpawnedChild } from './process';
export { recvFd, sendFd, socketpair } from './socket';
export type { ReceivedFd } from './socket';
export { setns, unshare, bindNewNetns } from './ns';
export { pipe, setWinsize, getWinsize, getPeerCred, eventfd, EFD_CLOEXEC, EFD_NONBLOCK } from './io';
export type { PeerCred } from './io';
export { clockRealtimeInto } from './clock';
export { flockTry, setNonBlocking, sendNoWait } from './lock';
