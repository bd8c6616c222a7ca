// In-memory containers (containerd's pkg/cri/store/container): metadata fixed at
// CreateContainer, a status persisted in its checkpoint file, the container's IO (the
// copy of its output into the CRI log), and the id prefix index.
import type { ContainerConfig__Output } from '../generated/types/runtime/v1/ContainerConfig';
import type { Writable } from 'node:stream';
import type { ContainerStatusStore } from './container_status_file';
import type { FifoWriter } from './stream_fifo';
import { StopLatch } from './stop_signal';
import { IdStore } from './id_store';

/** What CreateContainer decided; stored as JSON on the core record. */
export interface ContainerMetadata {
  id: string;
  name: string;
  sandboxId: string;
  config: ContainerConfig__Output;
  /** The image's id (config digest). */
  imageRef: string;
  /** Host path of the CRI log ('' when the pod has no log directory or the container no log path). */
  logPath: string;
  /** From the image config (STOPSIGNAL), '' = SIGTERM. */
  stopSignal: string;
}

/** The running side of a container's output: reopened by ReopenContainerLog, closed at exit. */
export interface ContainerOutput {
  /** Reopen the log file (after kubelet rotated it). */
  reopen(): Promise<void>;
  /** Resolves once both streams reached EOF and the log is flushed. */
  readonly done: Promise<void>;
  /** Stop copying (the container is being removed). */
  close(): void;
  /**
   * Tee one of the container's output streams to an attached client (containerd's
   * ContainerIO.Attach) from now until the stream ends, the client fails or detach().
   */
  attachOutput(stream: 'stdout' | 'stderr', sink: Writable): OutputAttachment;
  /** berthd's write end of the container's stdin FIFO (config.stdin), while open. */
  readonly stdin: FifoWriter | undefined;
}

export interface OutputAttachment {
  /** Resolves when the stream ended, the client's sink failed, or detach() was called. */
  readonly done: Promise<void>;
  detach(): void;
}

export class CriContainer {
  readonly stopped = new StopLatch();
  output: ContainerOutput | undefined;
  /** StopContainer has sent the stop signal and is waiting out its timeout. */
  stopSignalSent = false;

  constructor(
    readonly metadata: ContainerMetadata,
    readonly status: ContainerStatusStore,
  ) {
    // An exited container (recovered after a restart) has nothing left to wait for.
    if (status.get().finishedAt !== 0n) this.stopped.stop();
  }

  get id(): string {
    return this.metadata.id;
  }
}

export class ContainerStore extends IdStore<CriContainer> {
  constructor() {
    super('container');
  }

  /** Containers of one sandbox. */
  ofSandbox(sandboxId: string): CriContainer[] {
    return this.list().filter((c) => c.metadata.sandboxId === sandboxId);
  }
}
