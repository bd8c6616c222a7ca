// Pod network namespaces: created and pinned under a directory of berthd's state, removed
// on sandbox removal (see netns.ts for how and why).

export { NetNS, NetNSError, createNetNS, removeNetNS, isNetNS } from './netns';
export type { CreateNetNSOptions } from './netns';
export { ensureSharedMountDir } from './shared-dir';
