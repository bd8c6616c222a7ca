// FIFOs between berthd and a shim for the CRI streaming runtime (containerd's pkg/cri/io
// ExecIO/ContainerIO): an output FIFO read into a client's writable with back-pressure, and
// a stdin FIFO written from a client's readable.
import * as fs from 'node:fs';
import * as net from 'node:net';
import type { Readable, Writable } from 'node:stream';
import { isNativeError, mknod, S_IFIFO } from '../native';

const { O_RDONLY, O_WRONLY, O_RDWR, O_NONBLOCK } = fs.constants;

export function makeFifo(p: string): void {
  try {
    mknod(p, S_IFIFO | 0o700);
  } catch (err) {
    if (!(isNativeError(err) && err.code === 'EEXIST')) throw err;
  }
}

function closeQuiet(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** An output FIFO copied into `sink` (or read and dropped without one) until EOF. */
export class FifoReader {
  /** Resolves at EOF, once every byte read was handed to the sink. */
  readonly done: Promise<void>;
  private hold: number;
  private readonly sock: net.Socket;

  constructor(p: string, sink: Writable | undefined) {
    const fd = fs.openSync(p, O_RDONLY | O_NONBLOCK);
    // Our write end keeps EOF away until the shim has opened its own (release()).
    try {
      this.hold = fs.openSync(p, O_WRONLY | O_NONBLOCK);
    } catch (err) {
      closeQuiet(fd);
      throw err;
    }
    this.sock = new net.Socket({ fd, readable: true, writable: false });
    const sock = this.sock;
    this.done = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        if (sink) sock.unpipe(sink);
        resolve();
      };
      // A sink that fails (its client went away) stops mattering: keep draining the FIFO
      // so the process never blocks on a full pipe.
      if (sink) {
        sink.once('error', () => {
          sock.unpipe(sink);
          sock.resume();
        });
        sock.pipe(sink, { end: false });
      } else {
        sock.resume();
      }
      sock.once('end', finish);
      sock.once('close', finish);
      sock.on('error', finish);
    });
  }

  /** The shim holds the FIFO now: EOF from here on means the output ended. */
  release(): void {
    if (this.hold >= 0) closeQuiet(this.hold);
    this.hold = -1;
  }

  destroy(): void {
    this.release();
    this.sock.destroy();
  }
}

/**
 * The write side of a stdin FIFO. Opened read+write, which never blocks on Linux whether
 * or not the shim has opened its read end yet; the shim sees EOF once this is closed and
 * CloseIO dropped the shim's own hold.
 */
export class FifoWriter {
  private readonly sock: net.Socket;
  private closed = false;
  readonly whenClosed: Promise<void>;

  constructor(p: string) {
    const fd = fs.openSync(p, O_RDWR | O_NONBLOCK);
    this.sock = new net.Socket({ fd, readable: false, writable: true });
    this.whenClosed = new Promise<void>((resolve) => this.sock.once('close', () => resolve()));
    // The process exiting leaves nobody to read: writes fail or fill, neither matters.
    this.sock.on('error', () => this.sock.destroy());
  }

  get isClosed(): boolean {
    return this.closed || this.sock.destroyed;
  }

  /**
   * Copies `from` into the FIFO with back-pressure until `from` ends (resolves true) or is
   * stopped by `stop()` (resolves false). The FIFO stays open.
   */
  copyFrom(from: Readable): { done: Promise<boolean>; stop: () => void } {
    let stop: () => void = () => undefined;
    const done = new Promise<boolean>((resolve) => {
      let over = false;
      const onData = (b: Buffer): void => {
        if (this.isClosed) return;
        if (!this.sock.write(b)) {
          from.pause();
          this.sock.once('drain', () => from.resume());
        }
      };
      const finish = (ended: boolean): void => {
        if (over) return;
        over = true;
        from.off('data', onData);
        from.off('end', onEnd);
        from.off('close', onEnd);
        from.off('error', onEnd);
        this.sock.off('close', onEnd);
        resolve(ended);
      };
      const onEnd = (): void => finish(true);
      from.on('data', onData);
      from.once('end', onEnd);
      from.once('close', onEnd);
      from.once('error', onEnd);
      this.sock.once('close', onEnd);
      stop = () => finish(false);
    });
    return { done, stop };
  }

  /** Closes at once, dropping what is unwritten (the reader is gone). */
  destroy(): void {
    this.closed = true;
    this.sock.destroy();
  }

  /** Closes the FIFO once what was written has reached it. */
  async close(): Promise<void> {
    if (this.closed) return this.whenClosed;
    this.closed = true;
    if (!this.sock.destroyed) this.sock.write('', () => this.sock.destroy());
    await Promise.race([this.whenClosed, new Promise<void>((r) => setTimeout(r, 5000).unref())]);
    this.sock.destroy();
  }
}
