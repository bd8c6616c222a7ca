// What the pod and container RPCs are built over, as small interfaces: the core's stores
// (in-process, the same objects the containerd-API services use), the CRI image store
// (ImageService's), the pod network (netns + CNI), and the paths and settings of [cri].
import type { Logger } from '../log/logger';
import type { ContainerStore as CoreContainerStore } from '../metadata/containers';
import type { LeaseStore } from '../metadata/leases';
import type { SnapshotterRegistry } from '../metadata/snapshots';
import type { Exchange } from '../events/exchange';
import type { TaskManager } from '../runtime';
import type { ImageConfig } from '../oci';

/** An image as CRI sees it (containerd's imagestore.Image). */
export interface CriImageInfo {
  /** The image id: its config's digest. */
  id: string;
  /** Names it is known by (repo tags and digests). */
  references: string[];
  /** The OCI config's `config` object. */
  config: ImageConfig;
  /** The chain id of its layers: the committed snapshot a container's rootfs is prepared on. */
  chainId: string;
}

/** The part of the CRI image store the runtime RPCs use. */
export interface CriImageResolver {
  /** By reference (normalised as crictl/kubelet name it) or id or id prefix; NotFound when unknown. */
  resolve(refOrId: string): Promise<CriImageInfo>;
  /** The sandbox image: resolved, pulled first when missing (containerd's ensureImageExists). */
  ensure(ref: string): Promise<CriImageInfo>;
}

/** A port mapping as CNI's portMappings capability takes it. */
export interface PodPortMapping {
  hostPort: number;
  containerPort: number;
  /** "tcp", "udp", "sctp". */
  protocol: string;
  hostIP: string;
}

export interface PodNetworkOptions {
  /** CNI_ARGS: K8S_POD_NAMESPACE, K8S_POD_NAME, K8S_POD_INFRA_CONTAINER_ID, K8S_POD_UID, IgnoreUnknown. */
  labels: Record<string, string>;
  portMappings: PodPortMapping[];
  dns?: { servers: string[]; searches: string[]; options: string[] };
  annotations: Record<string, string>;
}

export interface PodNetworkResult {
  /** The pod's addresses on its default interface (eth0), first = the pod IP. */
  ips: string[];
  /** The plugins' result, for verbose status. */
  raw: unknown;
}

/** The pod network (containerd's go-cni over src/cni): ADD on run, DEL on stop. */
export interface PodNetwork {
  setup(sandboxId: string, netnsPath: string, opts: PodNetworkOptions): Promise<PodNetworkResult>;
  /** DEL: releases the IP and the veth; an already-gone netns is fine. */
  teardown(sandboxId: string, netnsPath: string, opts: PodNetworkOptions): Promise<void>;
}

/** Pinned network namespaces (src/netns). */
export interface PodNetnsManager {
  /** A new netns pinned under berthd's state; its path. */
  create(): Promise<string>;
  /** Unmount and unlink; a gone one is fine. */
  remove(path: string): Promise<void>;
  /** Still pinned? */
  exists(path: string): boolean;
}

export interface PodRuntimeConfig {
  /** <root>/cri: sandbox files (hostname, hosts, resolv.conf), container status checkpoints. */
  rootDir: string;
  /** <state>/cri: /dev/shm mounts, FIFOs. */
  stateDir: string;
  sandboxImage: string;
  restrictOomScoreAdj: boolean;
  snapshotter: string;
  /** The runtime every pod and container runs with. */
  runtimeType: string;
  /** Where the snapshotter keeps its data (stats' fs_id mountpoint). */
  imageFsPath: string;
  /** CRI log line split size (0 or less: never). */
  maxContainerLogLineSize: number;
}

/** The core (containerd's client, in-process). */
export interface PodCore {
  containers: CoreContainerStore;
  /** A lease holds a new container's snapshot until its record references it. */
  leases: LeaseStore;
  snapshotters: SnapshotterRegistry;
  tasks: TaskManager;
  exchange: Exchange;
}

export interface PodRuntimeDeps {
  core: PodCore;
  images: CriImageResolver;
  network: PodNetwork;
  netns: PodNetnsManager;
  config: PodRuntimeConfig;
  log: Logger;
}
