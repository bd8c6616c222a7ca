// In-memory containers (containerd's pkg/cri/store/container): metadata fixed at
// CreateContainer, a status persisted in its checkpoint file, the container's IO (the
// copy of its output into the CRI log), and the id prefix index.
import type { ContainerConfig__Output } from '../generated/types/runtime/v1/ContainerConfig';
import { AlreadyExistsError, NotFoundError } from '../errdefs/errors';
import type { Writable } from 'node:stream';
import type { ContainerStatusStore } from './container_status_file';
import type { FifoWriter } from './stream_fifo';
import { StopLatch } from './stop_signal';
import { TruncIndex } from './truncindex';

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

export class ContainerStore {
  private readonly containers = new Map<string, CriContainer>();
  private readonly index = new TruncIndex();

  add(c: CriContainer): void {
    if (this.containers.has(c.id)) throw new AlreadyExistsError(`container ${c.id}`);
    this.index.add(c.id);
    this.containers.set(c.id, c);
  }

  get(idOrPrefix: string): CriContainer {
    const id = this.index.get(idOrPrefix);
    const c = this.containers.get(id);
    if (!c) throw new NotFoundError(`container ${idOrPrefix}`);
    return c;
  }

  find(id: string): CriContainer | undefined {
    return this.containers.get(id);
  }

  list(): CriContainer[] {
    return [...this.containers.values()];
  }

  /** Containers of one sandbox. */
  ofSandbox(sandboxId: string): CriContainer[] {
    return this.list().filter((c) => c.metadata.sandboxId === sandboxId);
  }

  delete(id: string): void {
    if (this.containers.delete(id)) this.index.delete(id);
  }
}
