import type { CniManager } from '../cni';
import type { NetworkPluginStatus } from './status';

/** go-cni's ErrCNINotInitialized: what containerd's Status says for any network not ready. */
const NOT_INITIALIZED = 'cni plugin not initialized';

/**
 * The CRI's view of the network plugin over src/cni's CniManager, with go-cni's meanings:
 * ready when conf_dir yields a network (loopback and the default network), reading conf_dir
 * again each time as containerd's conf_dir watcher reloads on change; not ready is always
 * "cni plugin not initialized" (go-cni's Status does not say why: the load's own error goes
 * to lastLoadStatus, Status verbose "lastCNILoadStatus"). Plugin binaries are not looked for
 * here (go-cni does not either); a missing one fails the pod's ADD.
 */
export function cniNetworkStatus(cni: Pick<CniManager, 'networks' | 'load' | 'config' | 'lastLoadStatus'>): NetworkPluginStatus {
  return {
    status: async () => {
      try {
        await cni.networks();
      } catch {
        throw new Error(NOT_INITIALIZED);
      }
    },
    load: () => cni.load(),
    config: () => cni.config(),
    lastLoadStatus: () => cni.lastLoadStatus(),
  };
}
