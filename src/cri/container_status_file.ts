// The container status checkpoint (containerd's pkg/cri/store/container/status.go): one
// small JSON file per container under <cri root>/containers/<id>/status, replaced
// atomically on every change that must survive a crash (created, started, exited). On
// restart it is what tells a container that ran and exited from one that never started.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { ContainerResources__Output } from '../generated/types/runtime/v1/ContainerResources';

const STATUS_VERSION = 'v1';
export const STATUS_FILE = 'status';

export interface ContainerStatusData {
  pid: number;
  /** Nanoseconds since the epoch; 0 = not yet. */
  createdAt: bigint;
  startedAt: bigint;
  finishedAt: bigint;
  exitCode: number;
  reason: string;
  message: string;
  resources: ContainerResources__Output | null;
  /** In-memory only (containerd's json:"-"): a start or remove is under way; the status
   * could not be read at recovery. */
  starting: boolean;
  removing: boolean;
  unknown: boolean;
}

export type ContainerStateName = 'CONTAINER_CREATED' | 'CONTAINER_RUNNING' | 'CONTAINER_EXITED' | 'CONTAINER_UNKNOWN';

export function stateOf(s: ContainerStatusData): ContainerStateName {
  if (s.unknown) return 'CONTAINER_UNKNOWN';
  if (s.finishedAt !== 0n) return 'CONTAINER_EXITED';
  if (s.startedAt !== 0n) return 'CONTAINER_RUNNING';
  if (s.createdAt !== 0n) return 'CONTAINER_CREATED';
  return 'CONTAINER_UNKNOWN';
}

export function emptyStatus(): ContainerStatusData {
  return { pid: 0, createdAt: 0n, startedAt: 0n, finishedAt: 0n, exitCode: 0, reason: '', message: '', resources: null, starting: false, removing: false, unknown: false };
}

interface StoredStatus {
  Version: string;
  Pid: number;
  CreatedAt: string;
  StartedAt: string;
  FinishedAt: string;
  ExitCode: number;
  Reason: string;
  Message: string;
  Resources: ContainerResources__Output | null;
}

function encode(s: ContainerStatusData): string {
  const stored: StoredStatus = {
    Version: STATUS_VERSION,
    Pid: s.pid,
    CreatedAt: s.createdAt.toString(),
    StartedAt: s.startedAt.toString(),
    FinishedAt: s.finishedAt.toString(),
    ExitCode: s.exitCode,
    Reason: s.reason,
    Message: s.message,
    Resources: s.resources,
  };
  return JSON.stringify(stored);
}

function decode(text: string): ContainerStatusData {
  const v = JSON.parse(text) as Partial<StoredStatus>;
  if (v.Version !== STATUS_VERSION) throw new Error(`unsupported version: "${String(v.Version)}"`);
  const big = (x: string | undefined): bigint => BigInt(x ?? '0');
  return {
    ...emptyStatus(),
    pid: v.Pid ?? 0,
    createdAt: big(v.CreatedAt),
    startedAt: big(v.StartedAt),
    finishedAt: big(v.FinishedAt),
    exitCode: v.ExitCode ?? 0,
    reason: v.Reason ?? '',
    message: v.Message ?? '',
    resources: v.Resources ?? null,
  };
}

/** Write-to-temp, fsync, rename: a crash leaves the old file or the new one. */
async function atomicWrite(file: string, data: string): Promise<void> {
  const tmp = `${file}.${process.pid}.tmp`;
  const fh = await fsp.open(tmp, 'w', 0o600);
  try {
    await fh.writeFile(data);
    await fh.sync();
  } finally {
    await fh.close();
  }
  await fsp.rename(tmp, file);
}

/** A container's status: read at any time, changed one update at a time, persisted. */
export class ContainerStatusStore {
  private current: ContainerStatusData;
  /** Updates run in order; each sees the result of the one before. */
  private queue: Promise<unknown> = Promise.resolve();
  private deleted = false;

  private constructor(
    private readonly file: string,
    status: ContainerStatusData,
  ) {
    this.current = status;
  }

  /** A new container: write its first status (the directory must exist). */
  static async create(dir: string, status: ContainerStatusData): Promise<ContainerStatusStore> {
    const file = path.join(dir, STATUS_FILE);
    await atomicWrite(file, encode(status));
    return new ContainerStatusStore(file, status);
  }

  /** A status recovered at start (already on disk, or to be written by the next update). */
  static loaded(dir: string, status: ContainerStatusData): ContainerStatusStore {
    return new ContainerStatusStore(path.join(dir, STATUS_FILE), status);
  }

  static async load(dir: string): Promise<ContainerStatusData> {
    const file = path.join(dir, STATUS_FILE);
    const text = await fsp.readFile(file, 'utf8');
    try {
      return decode(text);
    } catch (err) {
      throw new Error(`failed to decode status ${JSON.stringify(text)}: ${(err as Error).message}`);
    }
  }

  get(): ContainerStatusData {
    return { ...this.current };
  }

  /** Change the persisted fields in memory and on disk; resolves once the file holds them.
   * fn may throw to refuse the change (nothing is written then). The in-memory flags
   * (starting, removing, unknown) are update()'s alone: what fn sets there is ignored, so a
   * flag set while the write was under way is not lost. */
  updateSync(fn: (s: ContainerStatusData) => ContainerStatusData): Promise<ContainerStatusData> {
    const run = async (): Promise<ContainerStatusData> => {
      const next = fn({ ...this.current });
      if (!this.deleted) await atomicWrite(this.file, encode(next));
      this.current = { ...next, starting: this.current.starting, removing: this.current.removing, unknown: this.current.unknown };
      return this.get();
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Change the in-memory-only parts (starting/removing flags): no write. Synchronous, so
   * a check-and-set cannot interleave with another. */
  update(fn: (s: ContainerStatusData) => ContainerStatusData): ContainerStatusData {
    this.current = fn({ ...this.current });
    return this.get();
  }

  /** The container is being removed: its file goes with its directory. */
  async delete(): Promise<void> {
    this.deleted = true;
    await this.queue;
    await fsp.rm(this.file, { force: true });
  }
}
