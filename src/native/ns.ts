// Namespaces. Both calls act on the calling thread only — the JS main thread —
// not on libuv's threadpool threads, which keep the namespaces they started in.
// Meant for short-lived helper processes, not for the daemon or shim themselves.

import { native } from './binding';

/** setns(2): join the namespace referred to by `fd` (e.g. opened /proc/<pid>/ns/mnt). */
export function setns(fd: number, nstype = 0): void {
  native().setns(fd, nstype);
}

/** unshare(2) with CLONE_NEW* flags. */
export function unshare(flags: number): void {
  native().unshare(flags);
}

/**
 * A new network namespace pinned onto the existing file `path` (a bind mount in this
 * process's mount namespace), made by a thread of its own that exits after: no thread of
 * the process changes namespace. Runs off the event loop.
 */
export function bindNewNetns(path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    native().bindNewNetns(path, (err) => (err ? reject(err) : resolve()));
  });
}
