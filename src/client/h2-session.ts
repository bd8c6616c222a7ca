// The client side of one HTTP/2 connection (RFC 9113) over a unix socket: what the client
// library's gRPC calls (channel.ts) run on.
//
// Why not node:http2: loading it (with the http, tls and crypto modules it pulls in) costs
// 8–10 ms of every berth command on these machines (`node -e "require('net');
// const t=process.hrtime.bigint(); require('http2'); …"`: 8.3 ms), and issue 15 holds
// `berth run --rm` to ctr's time plus Node's bare start: that was a third of what berth was
// over. The frames and HPACK are berth's own already (src/grpc, for berthd's server, held
// to h2spec); this is the client half: it sends requests with literal headers and decodes
// any header block a server sends (dynamic table, Huffman).
//
// Held to what a client needs to protect itself from a server, as nghttp2 (node:http2)
// and grpc-go's client do: frames above the advertised 16 KiB are a FRAME_SIZE_ERROR;
// header blocks are bounded (size, CONTINUATION count, decoded list size); DATA beyond a
// window is a FLOW_CONTROL_ERROR; PUSH_PROMISE (push is disabled) and frames on streams the
// client never opened are PROTOCOL_ERRORs; any connection error sends GOAWAY and ends every
// call. Flow control both ways: a paused stream stops granting window, so a slow reader
// bounds what it buffers to its 4 MiB window. test/unit/client-h2.test.ts drives it against
// node:http2's server and a raw hostile server; the e2e client tests run it against berthd
// and containerd's grpc-go.
import { DEFAULT_WINDOW, FLAG, FRAME, H2_ERROR, MAX_WINDOW, PREFACE, SETTING } from '../grpc/h2-protocol';
import { HpackDecoder, HpackError, encodeHeaders } from '../grpc/hpack';
import { connectUnixSocket } from './unix-socket';
import type { ClientSocket } from './fd-socket';

/** Each stream's receive window, as the client advertised it with node:http2 (and as
 * large content reads want: containerd's Go client uses 4 MiB too). */
const STREAM_WINDOW = 4 << 20;
/** The connection's receive window (several streams' worth). */
const CONN_WINDOW = 16 << 20;
/** The largest frame accepted: the default, since no larger one is advertised. */
const MAX_RECV_FRAME = 16_384;
/** A header block's encoded bytes, and its CONTINUATION frames. */
const MAX_HEADER_BLOCK = 1 << 20;
const MAX_CONTINUATIONS = 64;
/** A header block's decoded size (RFC 9113 §6.5.2 counting): grpc-go's default is 16 MiB,
 * but a gRPC response's headers and trailers are a few hundred bytes. */
const MAX_HEADER_LIST = 1 << 20;
/** Bytes a stream may have queued (waiting for window or the socket) before write()
 * asks its caller to wait for drain. */
const STREAM_HIGH_WATER = 1 << 20;
const EMPTY = Buffer.alloc(0);

export type HeaderFields = ReadonlyArray<readonly [string, string]>;

/** What a stream reports; called synchronously as frames are read. */
export interface H2StreamHandler {
  /** A header block: the response headers first, then the trailers (endStream true). */
  onHeaders(fields: HeaderFields, endStream: boolean): void;
  onData(chunk: Buffer): void;
  /** The stream is over: rstCode is the RST_STREAM code (0 when it ended normally); error is
   * set when the connection failed under it. Called once. */
  onClose(rstCode: number, error: Error | null): void;
  /** write() said to wait, and the stream can take more now. */
  onDrain(): void;
}

class ConnectionError extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

function frameHead(length: number, type: number, flags: number, stream: number): Buffer {
  const h = Buffer.allocUnsafe(9);
  h.writeUIntBE(length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return h;
}

function u32(v: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(v, 0);
  return b;
}

/** One request/response exchange on the connection. */
export class H2ClientStream {
  id = 0;
  /** The RST_STREAM code it ended with (sent or received); 0 otherwise. */
  rstCode = 0;
  closed = false;
  /** Window the server has granted for our DATA (set when the stream opens). */
  sendWindow = 0;
  /** DATA the server may still send before we grant more. */
  private recvWindow = STREAM_WINDOW;
  /** DATA received and not yet granted back. */
  private unacked = 0;
  private paused = false;
  /** DATA waiting for window or for the stream to be opened. */
  readonly queue: Buffer[] = [];
  queuedBytes = 0;
  endQueued = false;
  endSent = false;
  remoteEnded = false;
  needDrain = false;

  constructor(
    private readonly session: H2ClientSession,
    readonly headers: HeaderFields,
    readonly handler: H2StreamHandler,
  ) {}

  /** Queues DATA; false when the caller should wait for onDrain before writing more. */
  write(chunk: Buffer): boolean {
    if (this.closed || this.endQueued) return false;
    if (chunk.length > 0) {
      this.queue.push(chunk);
      this.queuedBytes += chunk.length;
      this.session.flushStream(this);
    }
    const ok = this.queuedBytes < STREAM_HIGH_WATER && !this.session.socketFull();
    if (!ok) this.needDrain = true;
    return ok;
  }

  /** Ends the request side (END_STREAM after what is queued). */
  end(): void {
    if (this.closed || this.endQueued) return;
    this.endQueued = true;
    this.session.flushStream(this);
  }

  /** Resets the stream (RST_STREAM with code) and closes it. */
  reset(code: number = H2_ERROR.CANCEL): void {
    this.session.resetStream(this, code);
  }

  /** Stops granting receive window: the server stops once the window is used. */
  pause(): void {
    this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.grant();
  }

  get isPaused(): boolean {
    return this.paused;
  }

  /** Accounts received DATA; false if it overran the window. */
  received(length: number): boolean {
    if (length > this.recvWindow) return false;
    this.recvWindow -= length;
    this.unacked += length;
    this.grant();
    return true;
  }

  /** Grants back what was consumed once half the window is used (fewer WINDOW_UPDATEs). */
  private grant(): void {
    if (this.paused || this.closed || this.remoteEnded || this.unacked < STREAM_WINDOW / 2) return;
    this.session.sendWindowUpdate(this.id, this.unacked);
    this.recvWindow += this.unacked;
    this.unacked = 0;
  }
}

/** One connection, made by its constructor; calls open streams with request(). */
export class H2ClientSession {
  private readonly socket: ClientSocket;
  private readonly decoder = new HpackDecoder();
  private readonly streams = new Map<number, H2ClientStream>();
  /** Streams waiting for MAX_CONCURRENT_STREAMS to allow them. */
  private readonly waiting: H2ClientStream[] = [];
  /** Streams with DATA held back by a window. */
  private readonly blocked = new Set<H2ClientStream>();
  private nextId = 1;
  private highestOpened = 0;
  private maxConcurrent = Infinity;
  private peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  private connSendWindow = DEFAULT_WINDOW;
  private connUnacked = 0;
  private readonly out: Buffer[] = [];
  private flushQueued = false;
  private inbuf: Buffer = EMPTY;
  /** A header block being continued: its stream, flags and fragments. */
  private continuing: { stream: number; endStream: boolean; parts: Buffer[]; bytes: number; count: number } | null = null;
  /** No new streams: GOAWAY received, closing, or failed. */
  goingAway = false;
  /** The connection is over. */
  destroyed = false;
  private closing = false;
  /** Called once when the connection can take no new streams. */
  onGone: (() => void) | null = null;

  constructor(path: string) {
    this.socket = connectUnixSocket(path);
    const settings = Buffer.alloc(12);
    settings.writeUInt16BE(SETTING.ENABLE_PUSH, 0);
    settings.writeUInt32BE(0, 2);
    settings.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 6);
    settings.writeUInt32BE(STREAM_WINDOW, 8);
    this.emit(PREFACE);
    this.emitFrame(FRAME.SETTINGS, 0, 0, settings);
    this.emitFrame(FRAME.WINDOW_UPDATE, 0, 0, u32(CONN_WINDOW - DEFAULT_WINDOW));
    this.socket.on('data', (chunk: Buffer) => this.read(chunk));
    this.socket.on('drain', () => this.drained());
    this.socket.on('error', (err) => this.destroy(err));
    this.socket.on('close', () => this.destroy(new Error('connection closed')));
    // Held open only while a call is in flight (request() refs it).
    this.socket.unref();
  }

  /** Opens a stream with the request headers; its DATA follows with write()/end(). */
  request(headers: HeaderFields, handler: H2StreamHandler): H2ClientStream {
    const s = new H2ClientStream(this, headers, handler);
    if (this.goingAway || this.destroyed) {
      s.closed = true;
      const err = new Error(this.destroyed ? 'connection closed' : 'the connection is going away');
      process.nextTick(() => handler.onClose(0, err));
      return s;
    }
    if (this.streams.size + this.waiting.length === 0) this.socket.ref();
    if (this.streams.size >= this.maxConcurrent) this.waiting.push(s);
    else this.open(s);
    return s;
  }

  /** Closes once the open streams are done; no new ones. */
  close(): void {
    this.closing = true;
    this.stopNew();
    if (this.streams.size + this.waiting.length === 0) this.end();
  }

  socketFull(): boolean {
    return this.socket.writableNeedDrain;
  }

  private open(s: H2ClientStream): void {
    s.id = this.nextId;
    this.nextId += 2;
    // Stream ids run out at 2^31: the connection is then replaced for new calls.
    if (this.nextId > MAX_WINDOW) this.stopNew();
    this.highestOpened = s.id;
    s.sendWindow = this.peerInitialWindow;
    this.streams.set(s.id, s);
    const block = encodeHeaders(s.headers);
    // END_STREAM with the headers when nothing is to follow (not the case for gRPC).
    let off = 0;
    let first = true;
    do {
      const n = Math.min(this.peerMaxFrame, block.length - off);
      const last = off + n >= block.length;
      this.emitFrame(first ? FRAME.HEADERS : FRAME.CONTINUATION, last ? FLAG.END_HEADERS : 0, s.id, block.subarray(off, off + n));
      off += n;
      first = false;
    } while (off < block.length);
    this.flushStream(s);
  }

  /** Sends what the windows allow of a stream's queued DATA, and END_STREAM after it. */
  flushStream(s: H2ClientStream): void {
    if (s.id === 0 || s.closed) return;
    while (s.queue.length > 0) {
      const allowed = Math.min(s.sendWindow, this.connSendWindow, this.peerMaxFrame);
      if (allowed <= 0) {
        this.blocked.add(s);
        return;
      }
      // One DATA frame takes as much of the queue as the windows allow, across writes: a
      // gRPC message's 5-byte prefix and its body go in one frame, so a server reading a
      // 1 MiB message gets it whole instead of joining a 5-byte frame to it (a second
      // 1 MiB copy per message in berthd's content ingest).
      const parts: Buffer[] = [];
      let n = 0;
      while (n < allowed && s.queue.length > 0) {
        const chunk = s.queue[0]!;
        const take = Math.min(allowed - n, chunk.length);
        if (take === chunk.length) {
          parts.push(chunk);
          s.queue.shift();
        } else {
          parts.push(chunk.subarray(0, take));
          s.queue[0] = chunk.subarray(take);
        }
        n += take;
      }
      s.queuedBytes -= n;
      s.sendWindow -= n;
      this.connSendWindow -= n;
      const last = s.queue.length === 0 && s.endQueued;
      this.emit(frameHead(n, FRAME.DATA, last ? FLAG.END_STREAM : 0, s.id));
      for (const p of parts) if (p.length > 0) this.emit(p);
      if (last) s.endSent = true;
    }
    this.blocked.delete(s);
    if (s.endQueued && !s.endSent) {
      s.endSent = true;
      this.emitFrame(FRAME.DATA, FLAG.END_STREAM, s.id, EMPTY);
    }
    if (s.endSent && s.remoteEnded) this.finish(s, 0, null);
    else if (s.needDrain && s.queuedBytes < STREAM_HIGH_WATER && !this.socketFull()) {
      s.needDrain = false;
      s.handler.onDrain();
    }
  }

  resetStream(s: H2ClientStream, code: number): void {
    if (s.closed) return;
    if (s.id !== 0) this.emitFrame(FRAME.RST_STREAM, 0, s.id, u32(code));
    else {
      const i = this.waiting.indexOf(s);
      if (i >= 0) this.waiting.splice(i, 1);
    }
    s.rstCode = code;
    this.finish(s, code, null);
  }

  sendWindowUpdate(stream: number, increment: number): void {
    if (increment > 0) this.emitFrame(FRAME.WINDOW_UPDATE, 0, stream, u32(increment));
  }

  private finish(s: H2ClientStream, rstCode: number, error: Error | null): void {
    if (s.closed) return;
    s.closed = true;
    if (s.id !== 0) this.streams.delete(s.id);
    this.blocked.delete(s);
    s.queue.length = 0;
    s.queuedBytes = 0;
    // A freed slot lets a waiting stream open.
    while (this.waiting.length > 0 && this.streams.size < this.maxConcurrent && !this.goingAway) this.open(this.waiting.shift()!);
    if (this.streams.size + this.waiting.length === 0) {
      if (this.closing || (this.goingAway && !this.destroyed)) this.end();
      else if (!this.destroyed) this.socket.unref();
    }
    s.handler.onClose(rstCode, error);
  }

  private emitFrame(type: number, flags: number, stream: number, payload: Buffer): void {
    this.emit(frameHead(payload.length, type, flags, stream));
    if (payload.length > 0) this.emit(payload);
  }

  /** Frames go out together at the end of the tick: a call's HEADERS and DATA in one write. */
  private emit(b: Buffer): void {
    if (this.destroyed) return;
    this.out.push(b);
    if (!this.flushQueued) {
      this.flushQueued = true;
      process.nextTick(() => this.flushOut());
    }
  }

  private flushOut(): void {
    this.flushQueued = false;
    if (this.destroyed || this.out.length === 0) return;
    const bufs = this.out.splice(0);
    let small = 0;
    for (const b of bufs) small += b.length;
    // Small frames in one buffer; large DATA written as it is, without a copy.
    if (small <= 64 * 1024) this.socket.write(bufs.length === 1 ? bufs[0]! : Buffer.concat(bufs, small));
    else {
      this.socket.cork();
      for (const b of bufs) this.socket.write(b);
      this.socket.uncork();
    }
  }

  private drained(): void {
    for (const s of [...this.streams.values()]) {
      if (s.needDrain && s.queuedBytes < STREAM_HIGH_WATER) {
        s.needDrain = false;
        s.handler.onDrain();
      }
    }
  }

  private stopNew(): void {
    if (this.goingAway) return;
    this.goingAway = true;
    const gone = this.onGone;
    this.onGone = null;
    gone?.();
  }

  private end(): void {
    if (this.destroyed) return;
    this.flushOut();
    this.socket.end();
    this.destroy(null);
  }

  /** The connection is over: every stream still open ends with err. */
  private destroy(err: Error | null): void {
    if (this.destroyed) return;
    this.stopNew();
    this.destroyed = true;
    if (err) this.socket.destroy();
    const failure = err ?? new Error('connection closed');
    for (const s of this.waiting.splice(0)) {
      s.closed = true;
      s.handler.onClose(0, failure);
    }
    for (const s of [...this.streams.values()]) this.finish(s, 0, failure);
  }

  private connectionError(code: number, message: string): void {
    if (this.destroyed) return;
    const payload = Buffer.alloc(8 + Buffer.byteLength(message));
    payload.writeUInt32BE(0, 0); // the server never opens streams here
    payload.writeUInt32BE(code, 4);
    payload.write(message, 8);
    this.emitFrame(FRAME.GOAWAY, 0, 0, payload);
    this.flushOut();
    this.socket.end();
    this.destroy(new Error(`http2: connection error ${code}: ${message}`));
  }

  private read(chunk: Buffer): void {
    let buf = this.inbuf.length === 0 ? chunk : Buffer.concat([this.inbuf, chunk]);
    try {
      while (buf.length >= 9 && !this.destroyed) {
        const length = buf.readUIntBE(0, 3);
        if (length > MAX_RECV_FRAME) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, `frame of ${length} bytes, above ${MAX_RECV_FRAME}`);
        if (buf.length < 9 + length) break;
        const type = buf[3]!;
        const flags = buf[4]!;
        const stream = buf.readUInt32BE(5) & 0x7fffffff;
        const payload = buf.subarray(9, 9 + length);
        buf = buf.subarray(9 + length);
        this.frame(type, flags, stream, payload);
      }
    } catch (err) {
      if (err instanceof ConnectionError) this.connectionError(err.code, err.message);
      else if (err instanceof HpackError) this.connectionError(H2_ERROR.COMPRESSION_ERROR, err.message);
      else throw err;
      return;
    }
    // What is left is a partial frame (at most 16 KiB + 9): copied so the chunk can go.
    this.inbuf = buf.length === 0 ? EMPTY : Buffer.from(buf);
  }

  private frame(type: number, flags: number, stream: number, payload: Buffer): void {
    if (this.continuing && type !== FRAME.CONTINUATION) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'expected CONTINUATION');
    switch (type) {
      case FRAME.DATA:
        return this.onData(flags, stream, payload);
      case FRAME.HEADERS:
        return this.onHeaders(flags, stream, payload);
      case FRAME.CONTINUATION:
        return this.onContinuation(flags, stream, payload);
      case FRAME.RST_STREAM: {
        if (stream === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (payload.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'RST_STREAM of the wrong size');
        this.checkKnown(stream);
        const s = this.streams.get(stream);
        if (s) {
          s.rstCode = payload.readUInt32BE(0);
          this.finish(s, s.rstCode, null);
        }
        return;
      }
      case FRAME.SETTINGS:
        return this.onSettings(flags, stream, payload);
      case FRAME.PING:
        if (stream !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PING on a stream');
        if (payload.length !== 8) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'PING of the wrong size');
        if (!(flags & FLAG.ACK)) this.emitFrame(FRAME.PING, FLAG.ACK, 0, Buffer.from(payload));
        return;
      case FRAME.GOAWAY: {
        if (stream !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream');
        if (payload.length < 8) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'GOAWAY too short');
        const last = payload.readUInt32BE(0) & 0x7fffffff;
        const code = payload.readUInt32BE(4);
        this.stopNew();
        // Streams above the last one the server took were never seen: they may be retried.
        const err = new Error(`the server sent GOAWAY (code ${code}): ${payload.subarray(8).toString('utf8') || 'going away'}`);
        for (const s of [...this.streams.values()]) if (s.id > last) this.finish(s, 0, err);
        for (const s of this.waiting.splice(0)) {
          s.closed = true;
          s.handler.onClose(0, err);
        }
        if (this.streams.size === 0) this.end();
        return;
      }
      case FRAME.WINDOW_UPDATE:
        return this.onWindowUpdate(stream, payload);
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE with push disabled');
      case FRAME.PRIORITY:
        if (stream === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        if (payload.length !== 5) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'PRIORITY of the wrong size');
        return;
      default:
        return; // unknown frame types are ignored (RFC 9113 §4.1)
    }
  }

  /** A frame on a stream this client never opened (or a server-initiated one). */
  private checkKnown(stream: number): void {
    if (stream % 2 === 0 || stream > this.highestOpened) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, `frame on stream ${stream}, never opened`);
  }

  private unpad(flags: number, payload: Buffer): Buffer {
    if (!(flags & FLAG.PADDED)) return payload;
    if (payload.length < 1) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'padded frame without a pad length');
    const pad = payload[0]!;
    if (pad >= payload.length) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'padding longer than the frame');
    return payload.subarray(1, payload.length - pad);
  }

  private onData(flags: number, stream: number, payload: Buffer): void {
    if (stream === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on stream 0');
    this.checkKnown(stream);
    // The connection window counts the whole frame, padding too, whatever became of the stream.
    this.connUnacked += payload.length;
    if (this.connUnacked > CONN_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    if (this.connUnacked >= CONN_WINDOW / 2) {
      this.sendWindowUpdate(0, this.connUnacked);
      this.connUnacked = 0;
    }
    const data = this.unpad(flags, payload);
    const s = this.streams.get(stream);
    if (!s) return; // closed here (reset): the server had not seen it yet
    if (s.remoteEnded) return this.streamError(s, H2_ERROR.STREAM_CLOSED);
    if (!s.received(payload.length)) return this.streamError(s, H2_ERROR.FLOW_CONTROL_ERROR);
    if (data.length > 0) s.handler.onData(data);
    if (flags & FLAG.END_STREAM) this.remoteEnd(s);
  }

  private onHeaders(flags: number, stream: number, payload: Buffer): void {
    if (stream === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'HEADERS on stream 0');
    this.checkKnown(stream);
    let fragment = this.unpad(flags, payload);
    if (flags & FLAG.PRIORITY) {
      if (fragment.length < 5) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'HEADERS too short for its priority');
      fragment = fragment.subarray(5);
    }
    const endStream = (flags & FLAG.END_STREAM) !== 0;
    if (flags & FLAG.END_HEADERS) return this.headerBlock(stream, endStream, fragment);
    this.continuing = { stream, endStream, parts: [Buffer.from(fragment)], bytes: fragment.length, count: 0 };
  }

  private onContinuation(flags: number, stream: number, payload: Buffer): void {
    const c = this.continuing;
    if (!c || c.stream !== stream) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'CONTINUATION without its HEADERS');
    c.bytes += payload.length;
    if (++c.count > MAX_CONTINUATIONS || c.bytes > MAX_HEADER_BLOCK) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'header block too large');
    c.parts.push(Buffer.from(payload));
    if (!(flags & FLAG.END_HEADERS)) return;
    this.continuing = null;
    this.headerBlock(stream, c.endStream, Buffer.concat(c.parts, c.bytes));
  }

  private headerBlock(stream: number, endStream: boolean, block: Buffer): void {
    // Decoded whatever became of the stream: the dynamic table must stay in step.
    const fields = this.decoder.decode(block, MAX_HEADER_LIST);
    const s = this.streams.get(stream);
    if (!s) return;
    if (s.remoteEnded) return this.streamError(s, H2_ERROR.STREAM_CLOSED);
    if (fields.truncated) return this.streamError(s, H2_ERROR.PROTOCOL_ERROR);
    s.handler.onHeaders(fields, endStream);
    if (endStream && !s.closed) this.remoteEnd(s);
  }

  private remoteEnd(s: H2ClientStream): void {
    s.remoteEnded = true;
    if (s.endSent) return this.finish(s, 0, null);
    // The server answered before the request was over (an error mid-upload): as grpc-go's
    // client, the rest of the request is dropped with RST_STREAM(NO_ERROR).
    this.emitFrame(FRAME.RST_STREAM, 0, s.id, u32(H2_ERROR.NO_ERROR));
    this.finish(s, 0, null);
  }

  private streamError(s: H2ClientStream, code: number): void {
    this.emitFrame(FRAME.RST_STREAM, 0, s.id, u32(code));
    s.rstCode = code;
    this.finish(s, code, null);
  }

  private onSettings(flags: number, stream: number, payload: Buffer): void {
    if (stream !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FLAG.ACK) {
      if (payload.length !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (payload.length % 6 !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS of the wrong size');
    for (let i = 0; i < payload.length; i += 6) {
      const id = payload.readUInt16BE(i);
      const v = payload.readUInt32BE(i + 2);
      switch (id) {
        case SETTING.INITIAL_WINDOW_SIZE: {
          if (v > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'initial window size too large');
          const delta = v - this.peerInitialWindow;
          this.peerInitialWindow = v;
          for (const s of this.streams.values()) {
            s.sendWindow += delta;
            if (s.sendWindow > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'stream window overflow');
          }
          break;
        }
        case SETTING.MAX_FRAME_SIZE:
          if (v < 16_384 || v > 16_777_215) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'invalid max frame size');
          this.peerMaxFrame = v;
          break;
        case SETTING.MAX_CONCURRENT_STREAMS:
          this.maxConcurrent = v;
          break;
        case SETTING.ENABLE_PUSH:
          if (v > 1) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'invalid enable push');
          break;
        default:
          break; // header table size: the encoder never indexes; unknown settings are ignored
      }
    }
    this.emitFrame(FRAME.SETTINGS, FLAG.ACK, 0, EMPTY);
    for (const s of [...this.streams.values()]) if (s.queue.length > 0) this.flushStream(s);
    while (this.waiting.length > 0 && this.streams.size < this.maxConcurrent && !this.goingAway) this.open(this.waiting.shift()!);
  }

  private onWindowUpdate(stream: number, payload: Buffer): void {
    if (payload.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'WINDOW_UPDATE of the wrong size');
    const inc = payload.readUInt32BE(0) & 0x7fffffff;
    if (stream === 0) {
      if (inc === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
      this.connSendWindow += inc;
      if (this.connSendWindow > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'connection window overflow');
      for (const s of [...this.blocked]) this.flushStream(s);
      return;
    }
    this.checkKnown(stream);
    const s = this.streams.get(stream);
    if (!s) return;
    if (inc === 0) return this.streamError(s, H2_ERROR.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) return this.streamError(s, H2_ERROR.FLOW_CONTROL_ERROR);
    this.flushStream(s);
  }
}
