// A connected unix socket descriptor, as the client's HTTP/2 session uses a socket: 'data',
// 'drain', 'error' and 'close' events, write() with backpressure, end(), destroy(),
// ref()/unref(). It is the part of net.Socket a client of one local socket needs, on one
// uv_poll watcher (the native addon's watchFd) with read(2) and write(2).
//
// Why not net.Socket: loading node's net and stream modules was the largest single cost on
// `berth run`'s way to its first call, ~3.4 ms of module initialisation out of ~21 ms of
// the CLI's own work before Tasks.Create (the bundle's per-module init times, issue 15),
// and nothing else a run without output loads needs them. net.connect stays the fallback
// (unix-socket.ts), and every test of the client runs over this class.
import { EventEmitter } from 'node:events';
import { closeSync } from 'node:fs';
import { native } from '../native/binding';
import { UV_READABLE, UV_WRITABLE, watchFd, type FdWatcher } from '../native/process';

/** Bytes asked of one read(2). */
const READ_SIZE = 64 * 1024;
/** Reads per readiness event before the loop gets a turn (the watch is level-triggered:
 * what is left is read on the next one). */
const READS_PER_EVENT = 16;
/** Queued, unwritten bytes from which write() answers false (and 'drain' follows). */
export const FD_SOCKET_HIGH_WATER = 64 * 1024;

/** What the HTTP/2 session needs of its socket: net.Socket and FdSocket both are one. */
export interface ClientSocket {
  write(data: Buffer): boolean;
  readonly writableNeedDrain: boolean;
  cork(): void;
  uncork(): void;
  end(): unknown;
  destroy(): unknown;
  ref(): unknown;
  unref(): unknown;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  on(event: 'drain' | 'close', listener: () => void): unknown;
  on(event: 'error', listener: (err: Error) => void): unknown;
}

export class FdSocket extends EventEmitter implements ClientSocket {
  private readonly watcher: FdWatcher;
  private watching = UV_READABLE;
  private readonly queue: Buffer[] = [];
  private queued = 0;
  private needDrain = false;
  private ending = false;
  private closed = false;

  /** Takes over fd: a connected, non-blocking stream socket this object now closes. */
  constructor(private readonly fd: number) {
    super();
    try {
      this.watcher = watchFd(fd, (err, events) => this.ready(err, events), UV_READABLE);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  get writableNeedDrain(): boolean {
    return this.needDrain;
  }

  /** Writes at once what the socket takes; the rest waits in order. False: wait for 'drain'. */
  write(data: Buffer): boolean {
    if (this.closed || this.ending) return false;
    let rest = data;
    if (this.queued === 0) {
      const n = this.writeSome(rest);
      if (n < 0) return false;
      if (n === rest.length) return true;
      rest = rest.subarray(n);
    }
    this.queue.push(rest);
    this.queued += rest.length;
    this.watch();
    if (this.queued >= FD_SOCKET_HIGH_WATER) this.needDrain = true;
    return !this.needDrain;
  }

  /** Writes go out as they are made; nothing to gather. */
  cork(): void {}

  uncork(): void {}

  /** Closes once what is queued is written. */
  end(): void {
    if (this.closed) return;
    this.ending = true;
    if (this.queued === 0) this.destroy();
  }

  /** Closes now ('error' first when err is given, then 'close', on the next tick). */
  destroy(err?: Error): void {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    this.queued = 0;
    // libuv's rule: the poll handle stops before its descriptor is closed.
    this.watcher.close();
    closeSync(this.fd);
    process.nextTick(() => {
      if (err) this.emit('error', err);
      this.emit('close');
    });
  }

  ref(): void {
    if (!this.closed) this.watcher.ref();
  }

  unref(): void {
    if (!this.closed) this.watcher.unref();
  }

  /** Bytes of data written now (0 when the socket is full), or -1 if the socket failed. */
  private writeSome(data: Buffer): number {
    let off = 0;
    while (off < data.length) {
      let n: number;
      try {
        n = native().writeNoWait(this.fd, off === 0 ? data : data.subarray(off));
      } catch (err) {
        this.destroy(err as Error);
        return -1;
      }
      if (n < 0) break;
      off += n;
    }
    return off;
  }

  private ready(err: Error | null, events: number): void {
    if (this.closed) return;
    if (err) return this.destroy(err);
    if (events & UV_WRITABLE) this.flush();
    if (events & UV_READABLE) this.readSome();
  }

  private flush(): void {
    while (this.queue.length > 0 && !this.closed) {
      const head = this.queue[0]!;
      const n = this.writeSome(head);
      if (n < 0) return;
      this.queued -= n;
      if (n < head.length) {
        this.queue[0] = head.subarray(n);
        return;
      }
      this.queue.shift();
    }
    if (this.closed) return;
    this.watch();
    if (this.ending) return this.destroy();
    if (this.needDrain) {
      this.needDrain = false;
      this.emit('drain');
    }
  }

  private readSome(): void {
    for (let i = 0; i < READS_PER_EVENT && !this.closed; i++) {
      const buf = Buffer.allocUnsafe(READ_SIZE);
      let n: number;
      try {
        n = native().readNoWait(this.fd, buf);
      } catch (err) {
        return this.destroy(err as Error);
      }
      if (n < 0) return;
      // The peer closed its end: so does this socket (net.Socket's allowHalfOpen: false).
      if (n === 0) return this.destroy();
      // A short read is kept at its size, not holding a 64 KiB buffer for a few bytes.
      this.emit('data', n === READ_SIZE ? buf : n < READ_SIZE / 2 ? Buffer.from(buf.subarray(0, n)) : buf.subarray(0, n));
      if (n < READ_SIZE) return;
    }
  }

  private watch(): void {
    const events = UV_READABLE | (this.queued > 0 ? UV_WRITABLE : 0);
    if (events === this.watching) return;
    this.watching = events;
    this.watcher.setEvents(events);
  }
}
