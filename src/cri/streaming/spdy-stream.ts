// One SPDY stream as a Node Duplex: what the peer sends comes out of its readable side, what
// is written goes out as data frames, end() sends FIN (half-close), reset() sends RST_STREAM.
// The session (spdy-session.ts) owns framing, flow control and limits; this class only
// keeps the per-stream state and hands bytes across.
import { Duplex } from 'node:stream';
import type { SpdyHeaders } from './spdy-headers';

/** What a stream needs from its session. */
export interface SpdyStreamOwner {
  sendData(stream: SpdyStream, chunk: Buffer, cb: (err?: Error | null) => void): void;
  sendFin(stream: SpdyStream, cb: (err?: Error | null) => void): void;
  sendReset(stream: SpdyStream, status: number): void;
  /** The stream's reader wants more: held-back window credit and socket reads may resume. */
  readWanted(stream: SpdyStream): void;
  streamClosed(stream: SpdyStream): void;
}

export class SpdyStream extends Duplex {
  /** The peer sent FIN (or RST). */
  remoteClosed = false;
  /** We sent FIN (or RST). */
  localClosed = false;
  /** The peer reset the stream. */
  resetByPeer = false;
  /** Bytes received and not yet credited back to the peer in WINDOW_UPDATEs. */
  uncredited = 0;
  /** Flow-control window the peer allows us (used once the peer takes part in flow control). */
  sendWindow: number;
  /** Queued while the send window is closed. */
  readonly sendQueue: Array<{ chunk: Buffer; cb: (err?: Error | null) => void }> = [];
  private released = false;

  constructor(
    readonly id: number,
    readonly headers: SpdyHeaders,
    private readonly owner: SpdyStreamOwner,
    initialSendWindow: number,
    highWaterMark: number,
  ) {
    // The writable side holds little: its bytes go to the socket at once and the session's
    // unwritten-bytes bound applies there.
    super({ allowHalfOpen: true, readableHighWaterMark: highWaterMark, writableHighWaterMark: 64 * 1024 });
    this.sendWindow = initialSendWindow;
    // A write after the peer reset the stream fails that write (its callback gets the error)
    // and Node then emits 'error': the stream's end is seen through 'close' and resetByPeer,
    // and an unheard 'error' must never take the daemon down.
    this.on('error', () => undefined);
  }

  /** The first value of a header (names are lower case), or '' when absent. */
  header(name: string): string {
    return this.headers.get(name)?.[0] ?? '';
  }

  /** Called by the session with bytes from a data frame; false: the reader is behind. */
  receive(chunk: Buffer): boolean {
    if (this.remoteClosed || this.destroyed) return true;
    if (chunk.length === 0) return this.readableLength < this.readableHighWaterMark;
    return this.push(chunk);
  }

  /** The peer sent FIN. */
  receiveFin(): void {
    if (this.remoteClosed) return;
    this.remoteClosed = true;
    this.push(null);
    this.maybeRelease();
  }

  /** The peer sent RST_STREAM, or the session ended: no more bytes either way. */
  abort(byPeer: boolean): void {
    this.resetByPeer = byPeer;
    this.remoteClosed = true;
    this.localClosed = true;
    for (const q of this.sendQueue.splice(0)) q.cb(new Error(`stream ${this.id} was reset`));
    this.destroy();
    this.maybeRelease();
  }

  /** Ends the stream at once, telling the peer (RST_STREAM CANCEL as Go's spdystream does). */
  reset(status = 5): void {
    if (!this.localClosed || !this.remoteClosed) this.owner.sendReset(this, status);
    this.abort(false);
  }

  override _read(): void {
    this.owner.readWanted(this);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.owner.sendData(this, chunk, cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.owner.sendFin(this, (err) => {
      this.localClosed = true;
      this.maybeRelease();
      cb(err);
    });
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.localClosed || !this.remoteClosed) {
      this.owner.sendReset(this, 5);
      this.localClosed = true;
      this.remoteClosed = true;
    }
    for (const q of this.sendQueue.splice(0)) q.cb(new Error(`stream ${this.id} was destroyed`));
    this.maybeRelease();
    cb(err);
  }

  private maybeRelease(): void {
    if (this.released || !this.localClosed || !this.remoteClosed) return;
    this.released = true;
    this.owner.streamClosed(this);
  }
}
