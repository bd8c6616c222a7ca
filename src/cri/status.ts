import type { StatusResponse } from '../generated/types/runtime/v1/StatusResponse';
import type { CriDeps } from './service-deps';

/**
 * The network plugin as Status and UpdateRuntimeConfig see it: containerd's go-cni Status()
 * and Load(); status_network.ts adapts src/cni's CniManager to it.
 */
export interface NetworkPluginStatus {
  /** Resolves when the default network is ready; rejects with why it is not. */
  status(): Promise<void>;
  /** Read the network configuration again; rejects when there is still none usable. */
  load(): Promise<void>;
  /** What was loaded (Status verbose "cniconfig"), or undefined before any load. */
  config(): unknown;
  /** The last load's outcome: "OK" or its error (Status verbose "lastCNILoadStatus"). */
  lastLoadStatus(): string;
}

/** containerd's reason for a network that is not ready; kubelet shows it on the node. */
export const NETWORK_NOT_READY_REASON = 'NetworkPluginNotReady';

/**
 * Status: the runtime is ready whenever berthd answers (the CRI is in-process, so a call
 * reaching it means the core is up, as containerd reasons); the network is ready when the CNI
 * configuration is, else NetworkReady=false with containerd's reason and message.
 */
export async function criStatus(deps: CriDeps, verbose: boolean): Promise<StatusResponse> {
  const network = { type: 'NetworkReady', status: true, reason: '', message: '' };
  try {
    await deps.network.status();
  } catch (err) {
    network.status = false;
    network.reason = NETWORK_NOT_READY_REASON;
    network.message = `Network plugin returns error: ${(err as Error).message}`;
  }
  const res: StatusResponse = {
    status: { conditions: [{ type: 'RuntimeReady', status: true, reason: '', message: '' }, network] },
  };
  if (verbose) {
    const last = deps.network.lastLoadStatus();
    res.info = {
      config: JSON.stringify(deps.config),
      // containerd reports the Go version it was built with under "golang"; berth runs on Node.
      node: JSON.stringify(process.version),
      cniconfig: JSON.stringify(deps.network.config() ?? null),
      'lastCNILoadStatus.default': last,
      lastCNILoadStatus: last,
    };
  }
  return res;
}
