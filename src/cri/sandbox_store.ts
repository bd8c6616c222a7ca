// In-memory sandboxes (containerd's pkg/cri/store/sandbox): metadata that never changes
// after RunPodSandbox, a status that changes under its own lock, and the id prefix index.
// The durable copy of the metadata is the core container record's extension; the status
// is recovered from the pause task at start (restart.ts).
import type { PodSandboxConfig__Output } from '../generated/types/runtime/v1/PodSandboxConfig';
import { StopLatch } from './stop_signal';
import { IdStore } from './id_store';

export type SandboxState = 'ready' | 'notready' | 'unknown';

/** What RunPodSandbox decided; stored as JSON on the core record (versioned like containerd's). */
export interface SandboxMetadata {
  id: string;
  name: string;
  config: PodSandboxConfig__Output;
  /** Pinned network namespace ('' for host network). */
  netnsPath: string;
  ip: string;
  additionalIps: string[];
  runtimeHandler: string;
  /** The CNI result as the plugins returned it, for verbose status. */
  cniResult: unknown;
}

export interface SandboxStatus {
  pid: number;
  /** Nanoseconds since the epoch. */
  createdAt: bigint;
  state: SandboxState;
}

export class Sandbox {
  private current: SandboxStatus;
  /** Closed when the pause task has exited (or never ran). */
  readonly stopped = new StopLatch();

  constructor(
    readonly metadata: SandboxMetadata,
    status: SandboxStatus,
  ) {
    this.current = { ...status };
    if (status.state === 'notready') this.stopped.stop();
  }

  get id(): string {
    return this.metadata.id;
  }

  status(): SandboxStatus {
    return { ...this.current };
  }

  /** Apply fn to the status atomically (JS runs it to completion; no await inside). */
  updateStatus(fn: (s: SandboxStatus) => SandboxStatus): SandboxStatus {
    this.current = { ...fn({ ...this.current }) };
    return this.status();
  }
}

export class SandboxStore extends IdStore<Sandbox> {
  constructor() {
    super('sandbox');
  }
}
