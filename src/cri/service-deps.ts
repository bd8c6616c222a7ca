import type { Logger } from '../log/logger';
import type { ServiceDeps } from '../services/context';
import type { CriConfig } from './config';
import type { CriImageStore } from './image_store';
import type { NetworkPluginStatus } from './status';
import type { PodRuntime } from './pod_runtime';
import type { StreamingServer } from './streaming';

/**
 * The namespace CRI keeps its images, containers and snapshots in, in the core: containerd's
 * CRI plugin uses "k8s.io", and tools (ctr -n k8s.io …, dockerd's own namespace "moby"
 * aside) look there. Every CRI call works in it; CRI requests carry no namespace.
 */
export const CRI_NAMESPACE = 'k8s.io';

/**
 * What the CRI services are built over: the core's stores (the same objects the
 * containerd-API services use, in-process), the [cri] config, the network plugin's status
 * (src/cni), and the CRI image store every RPC that names an image resolves through.
 */
export interface CriDeps {
  core: ServiceDeps;
  config: CriConfig;
  log: Logger;
  network: NetworkPluginStatus;
  images: CriImageStore;
  /** berthd's own version, as Version answers it. */
  version: string;
  /** Where the snapshotter keeps its data (ImageFsInfo's mountpoint). */
  snapshotterRoot: string;
  /** Pods and containers: their stores and everything the pod/container RPCs share. */
  pods: PodRuntime;
  /** The streaming server the Exec/Attach/PortForward URLs point at (absent: Unimplemented). */
  streaming?: StreamingServer;
}
