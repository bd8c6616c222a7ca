// The state the pod and container RPCs share: the in-memory stores, the name
// reservations and where each sandbox's and container's files live (containerd's
// criService, the part of it that is not images or streaming).
import * as path from 'node:path';
import type { Logger } from '../log/logger';
import { ContainerStore } from './container_store';
import { NameIndex } from './name_index';
import type { PodRuntimeDeps } from './pod_deps';
import { SandboxStore } from './sandbox_store';
import { CpuSamples } from './stats_metrics';
import { ContainerEventBroadcaster } from './container_event_broadcaster';
import type { ContainerEventResponse } from '../generated/types/runtime/v1/ContainerEventResponse';

export class PodRuntime {
  readonly sandboxes = new SandboxStore();
  readonly containers = new ContainerStore();
  readonly sandboxNames = new NameIndex();
  readonly containerNames = new NameIndex();
  /** The previous cpu sample of each container and sandbox (usage_nano_cores). */
  readonly cpuSamples = new CpuSamples();
  /** The GetContainerEvents streams (container_events.ts sends to them). */
  readonly containerEvents = new ContainerEventBroadcaster<ContainerEventResponse>((err) => this.log.error('making a container event', { error: err as Error }));
  readonly log: Logger;

  constructor(readonly deps: PodRuntimeDeps) {
    this.log = deps.log;
  }

  get config(): PodRuntimeDeps['config'] {
    return this.deps.config;
  }

  /** Sandbox files that must survive a reboot of /run: hostname, hosts, resolv.conf. */
  sandboxRootDir(id: string): string {
    return path.join(this.config.rootDir, 'sandboxes', id);
  }

  /** Sandbox files that live with the state dir: the /dev/shm mount point. */
  sandboxStateDir(id: string): string {
    return path.join(this.config.stateDir, 'sandboxes', id);
  }

  sandboxHostnamePath(id: string): string {
    return path.join(this.sandboxRootDir(id), 'hostname');
  }

  sandboxHostsPath(id: string): string {
    return path.join(this.sandboxRootDir(id), 'hosts');
  }

  sandboxResolvPath(id: string): string {
    return path.join(this.sandboxRootDir(id), 'resolv.conf');
  }

  sandboxShmPath(id: string): string {
    return path.join(this.sandboxStateDir(id), 'shm');
  }

  /** The status checkpoint lives here. */
  containerRootDir(id: string): string {
    return path.join(this.config.rootDir, 'containers', id);
  }

  /** The FIFOs live here. */
  containerStateDir(id: string): string {
    return path.join(this.config.stateDir, 'containers', id);
  }

  containerIoDir(id: string): string {
    return path.join(this.containerStateDir(id), 'io');
  }
}
