// The directory that holds pinned network namespaces is made a shared mount point, as
// `ip netns` and CNI's own test utilities do (containerd 1.6's pkg/netns says in a comment
// that it "needs to be a shared mountpoint" but only creates the directory): the netns
// bind mounts made below it then propagate into mount namespaces that received a copy of
// it (a container with rslave/rshared propagation, a shim), and unmounting one here removes
// those copies too, so a removed netns is not kept alive by a stale copy elsewhere.

import { mkdirSync } from 'node:fs';
import { mount, isNativeError, MS_BIND, MS_REC, MS_SHARED } from '../native';

/** mkdir -p dir, then `mount --make-rshared dir`; when dir is not a mount point yet
 * (EINVAL), bind-mount it onto itself first (recursively, so netns mounts already there
 * are carried over). Synchronous on purpose: within berthd no two calls interleave, so two
 * concurrent sandboxes can never both see EINVAL and stack two bind mounts. */
export function ensureSharedMountDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  try {
    mount(null, dir, 'none', MS_SHARED | MS_REC);
    return;
  } catch (err) {
    if (!isNativeError(err, 'EINVAL')) throw err;
  }
  mount(dir, dir, 'none', MS_BIND | MS_REC);
  mount(null, dir, 'none', MS_SHARED | MS_REC);
}
