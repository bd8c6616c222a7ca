// Reading a committed blob through one open fd: positional reads and ranged streams.
// The fd pins the inode, so a reader keeps working if the blob is deleted meanwhile.

import type { FileHandle } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { OutOfRangeError, verbatim } from '../errdefs/errors';
import type { ContentReader } from './store';

/** Read size for streams (containerd's Read sends ≤ 1 MiB per message). */
export const STREAM_CHUNK = 1 << 20;

export class LocalContentReader implements ContentReader {
  private closed = false;

  constructor(
    private readonly fh: FileHandle,
    readonly size: number,
  ) {}

  get fd(): number {
    return this.fh.fd;
  }

  /** Up to `length` bytes at `offset`; empty at or past the end. */
  async readAt(offset: number, length: number): Promise<Buffer> {
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw verbatim(new OutOfRangeError(`invalid read offset ${offset}`));
    }
    const n = Math.min(Math.max(0, Math.floor(length)), Math.max(0, this.size - offset));
    if (n === 0) return Buffer.alloc(0);
    const buf = Buffer.allocUnsafe(n);
    let got = 0;
    while (got < n) {
      const { bytesRead } = await this.fh.read(buf, got, n - got, offset + got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    return got === n ? buf : buf.subarray(0, got);
  }

  /**
   * Stream [offset, offset+size), clamped to the blob (size ≤ 0: to the end). An offset
   * past the end throws OutOfRangeError with containerd's Read text.
   */
  stream(offset = 0, size = 0): Readable {
    const start = offset < 0 ? 0 : offset;
    if (start > this.size) throw verbatim(new OutOfRangeError(`read past object length ${this.size} bytes`));
    const len = size <= 0 || start + size > this.size ? this.size - start : size;
    if (len === 0) {
      return new Readable({
        read(): void {
          this.push(null);
        },
      });
    }
    return this.fh.createReadStream({
      start,
      end: start + len - 1,
      highWaterMark: STREAM_CHUNK,
      autoClose: false,
      emitClose: true,
    });
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.fh.close();
  }
}
