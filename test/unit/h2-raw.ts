// A hand-driven HTTP/2 client for transport tests: writes whatever frames a test builds
// (valid or not) to a unix socket and collects what the server answers, frame by frame.
import * as net from 'node:net';
import { HpackDecoder, encodeHeaders } from '../../src/grpc/hpack';

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
export const T = { DATA: 0, HEADERS: 1, RST_STREAM: 3, SETTINGS: 4, PING: 6, GOAWAY: 7, WINDOW_UPDATE: 8, CONTINUATION: 9 } as const;
export const E = { NO_ERROR: 0, PROTOCOL_ERROR: 1, FLOW_CONTROL_ERROR: 3, STREAM_CLOSED: 5, FRAME_SIZE_ERROR: 6, REFUSED_STREAM: 7, COMPRESSION_ERROR: 9, ENHANCE_YOUR_CALM: 11 } as const;

export function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v, 0);
  return b;
}

/** A gRPC message: the 5-byte prefix and the bytes. */
export function grpcMessage(msg: Buffer): Buffer {
  const p = Buffer.alloc(5);
  p.writeUInt32BE(msg.length, 1);
  return Buffer.concat([p, msg]);
}

export type Fields = ReadonlyArray<readonly [string, string]>;

/** The request headers of a gRPC call to `path`, plus `extra`. */
export function callHeaders(path: string, extra: Fields = []): Fields {
  return [
    [':method', 'POST'], [':scheme', 'http'], [':path', path], [':authority', 'x'],
    ['content-type', 'application/grpc'], ['te', 'trailers'], ['containerd-namespace', 'default'], ...extra,
  ];
}

/** HPACK without indexing or Huffman: any names (uppercase too), in the order given. */
export function block(fields: Fields): Buffer {
  return encodeHeaders(fields);
}

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
  /** Decoded HEADERS/CONTINUATION blocks (END_HEADERS only). */
  headers?: Array<[string, string]>;
}

export class RawConn {
  readonly frames: Frame[] = [];
  closed = false;
  private pending = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder(4096);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (b: Buffer) => {
      this.pending = Buffer.concat([this.pending, b]);
      while (this.pending.length >= 9 && this.pending.length >= 9 + this.pending.readUIntBE(0, 3)) {
        const len = this.pending.readUIntBE(0, 3);
        const f: Frame = { type: this.pending[3]!, flags: this.pending[4]!, stream: this.pending.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(this.pending.subarray(9, 9 + len)) };
        if (f.type === T.HEADERS && (f.flags & 4) !== 0) f.headers = this.decoder.decode(f.payload);
        this.frames.push(f);
        this.pending = this.pending.subarray(9 + len);
      }
    });
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  /** Connects and sends the preface and an empty SETTINGS (unless `preface` is false).
   * halfOpen: the socket stays open for writing when the server ends its side, so that
   * 'close' means the server closed the connection both ways. */
  static async open(sock: string, preface = true, halfOpen = false): Promise<RawConn> {
    const s = net.connect({ path: sock, allowHalfOpen: halfOpen });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    const c = new RawConn(s);
    if (preface) c.send(PREFACE, frame(T.SETTINGS, 0, 0, Buffer.alloc(0)));
    return c;
  }

  send(...bufs: Buffer[]): void {
    if (!this.socket.destroyed) this.socket.write(Buffer.concat(bufs));
  }

  /** Waits (at most `ms`) for a condition on what arrived; false on timeout. */
  async until(fn: () => boolean, ms = 2000): Promise<boolean> {
    const end = Date.now() + ms;
    while (!fn()) {
      if (Date.now() > end) return false;
      await new Promise((r) => setTimeout(r, 5));
    }
    return true;
  }

  /** The first RST_STREAM on `stream` (its error code), waiting up to `ms`. */
  async rst(stream: number, ms = 2000): Promise<number | undefined> {
    await this.until(() => this.frames.some((f) => f.type === T.RST_STREAM && f.stream === stream) || this.closed, ms);
    return this.frames.find((f) => f.type === T.RST_STREAM && f.stream === stream)?.payload.readUInt32BE(0);
  }

  /** The GOAWAY error code once the server has closed the socket (undefined: no GOAWAY). */
  async goawayAndClose(ms = 2000): Promise<{ code: number | undefined; closed: boolean }> {
    // Once the GOAWAY is here, keep writing (PINGs): a server that only half-closed keeps
    // reading them, one that closed fully makes the writes fail and the socket close.
    await this.until(() => this.frames.some((f) => f.type === T.GOAWAY) || this.closed, ms);
    const closed = await this.until(() => {
      this.send(frame(T.PING, 0, 0, Buffer.alloc(8)));
      return this.closed;
    }, ms);
    const g = this.frames.find((f) => f.type === T.GOAWAY);
    return { code: g?.payload.readUInt32BE(4), closed };
  }

  /** The response trailers' grpc-status and grpc-message on `stream`. */
  async status(stream: number, ms = 3000): Promise<{ code?: string; message?: string; rst?: number }> {
    const done = (): boolean => this.frames.some((f) => f.stream === stream && ((f.type === T.HEADERS && (f.flags & 1) !== 0) || f.type === T.RST_STREAM)) || this.closed;
    await this.until(done, ms);
    const t = this.frames.find((f) => f.stream === stream && f.type === T.HEADERS && (f.flags & 1) !== 0);
    const rst = this.frames.find((f) => f.stream === stream && f.type === T.RST_STREAM);
    const get = (n: string): string | undefined => t?.headers?.find(([k]) => k === n)?.[1];
    return { code: get('grpc-status'), message: get('grpc-message'), rst: t ? undefined : rst?.payload.readUInt32BE(0) };
  }

  close(): void {
    this.socket.destroy();
  }
}
