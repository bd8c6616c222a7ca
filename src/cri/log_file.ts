// The CRI log file of one container: both streams append to it, entry by entry, in the
// order they were read. Writes go through one queue so an entry is never interleaved with
// another, and ReopenContainerLog can swap the file between two entries (kubelet renames
// the file to rotate it, then asks for a reopen).
import * as fsp from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import * as path from 'node:path';
import { wallNow } from '../time/wall';
import { formatEntry, type LogStream } from './log_lines';
import { rfc3339Nano } from './time';

/** Entries queued beyond this many bytes make the readers wait (back-pressure). */
const HIGH_WATER = 1 << 20;

export class CriLogFile {
  private queue: Promise<void> = Promise.resolve();
  private queued = 0;
  private waiters: Array<() => void> = [];
  private closed = false;

  private constructor(
    readonly path: string,
    private fh: FileHandle,
    private readonly onError: (err: Error) => void,
  ) {}

  static async open(file: string, onError: (err: Error) => void): Promise<CriLogFile> {
    return new CriLogFile(file, await openLog(file), onError);
  }

  /** Queue one entry stamped now. Returns undefined while the queue has room, else a
   * promise that resolves once it has. */
  write(stream: LogStream, tag: 'F' | 'P', content: Buffer): Promise<void> | undefined {
    const entry = formatEntry(rfc3339Nano(wallNow()), stream, tag, content);
    this.queued += entry.length;
    this.queue = this.queue.then(async () => {
      try {
        if (!this.closed) await this.fh.write(entry);
      } catch (err) {
        // containerd logs the failure and goes on draining the container's output.
        this.onError(err as Error);
      } finally {
        this.queued -= entry.length;
        if (this.queued < HIGH_WATER) this.wake();
      }
    });
    if (this.queued < HIGH_WATER) return undefined;
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Close the current file and open the path again, between two entries. */
  reopen(): Promise<void> {
    const p = this.queue.then(async () => {
      const next = await openLog(this.path);
      const old = this.fh;
      this.fh = next;
      await old.close().catch(() => undefined);
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  /** Flush what is queued, then close. */
  async close(): Promise<void> {
    await this.queue;
    if (this.closed) return;
    this.closed = true;
    this.wake();
    await this.fh.close().catch(() => undefined);
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }
}

async function openLog(file: string): Promise<FileHandle> {
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
  return fsp.open(file, 'a', 0o640);
}
