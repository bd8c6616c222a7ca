// The server side of one HTTP/2 connection (RFC 9113), as much as gRPC over a unix
// socket uses: prior-knowledge preface, SETTINGS, PING, WINDOW_UPDATE flow control in
// both directions, HEADERS/CONTINUATION with HPACK, DATA, RST_STREAM, GOAWAY. No push,
// no priorities (PRIORITY is parsed and ignored), no upgrade.
//
// Why not node:http2: every request there goes through a JS Duplex stream per HTTP/2
// stream, nghttp2 callbacks and a deferred write. A Go client pays ~0.3–0.5 ms per call
// on a fresh connection (containerd answers in ~0.1 ms); ctr makes ~40 calls per
// `ctr run`. Parsing frames from the socket's buffers and answering with one write costs
// a fraction of that.
import type * as net from 'node:net';
import { DEFAULT_WINDOW, FLAG, FRAME, H2_ERROR, MAX_WINDOW, PREFACE, SETTING } from './h2-protocol';
import { HpackDecoder, HpackError, encodeHeaders } from './hpack';
import { StreamTable } from './stream-table';

export { FRAME, H2_ERROR } from './h2-protocol';
/** What this server lets a client send per stream before the application reads it. */
const STREAM_RECV_WINDOW = 4 * 1024 * 1024;
/** And on the whole connection (acknowledged as frames arrive; streams bound the rest). */
const CONN_RECV_WINDOW = 16 * 1024 * 1024;
/** Largest frame payload this server accepts. */
const MAX_RECV_FRAME = 1024 * 1024;
/** Compressed header blocks (HEADERS and its CONTINUATIONs) larger than this end the
 * connection: one frame of it is at most MAX_RECV_FRAME anyway, and a decoded list is
 * refused beyond MAX_HEADER_LIST_SIZE, so more is only a way to make us hold bytes. */
const MAX_HEADER_BLOCK = 1024 * 1024;
/** CONTINUATION frames per header block. A client splits a block at its frame size (at
 * least 16 KiB), so a block within MAX_HEADER_LIST_SIZE needs a handful; a stream of them
 * (empty ones cost nothing to send) is a flood. */
const MAX_CONTINUATIONS = 32;
/**
 * SETTINGS_MAX_HEADER_LIST_SIZE, advertised and applied to the decoded list while it is
 * decoded (hpack.ts). grpc-go allows 16 MiB; node:http2 (nghttp2) 64 KiB. A stream keeps
 * its headers for its life, so this times MAX_CONCURRENT_STREAMS is what one connection's
 * headers can hold: 64 KiB is far above what containerd's clients send (a few hundred
 * bytes of metadata).
 */
export const MAX_HEADER_LIST_SIZE = 64 * 1024;
/** Header fields per block (node:http2 allows 128 pairs; a gRPC request carries ~10). */
export const MAX_HEADER_FIELDS = 256;
/** SETTINGS_MAX_CONCURRENT_STREAMS: the 10 × 100 load fits, and it bounds what one
 * connection's open streams hold (headers, buffered DATA, handlers in flight). */
export const MAX_CONCURRENT_STREAMS = 100;
/**
 * Bytes written but not yet taken by the peer beyond which its socket is no longer read.
 * DATA stops at the first sign of a full socket (pump), so what piles up past this is
 * answers to what the client sends (acks, resets): a client that does not read them is
 * not read either (as grpc-go stops reading when its queue of such frames is long). Not
 * at the first sign: a client reading a large stream slowly must still get its
 * WINDOW_UPDATEs and RST_STREAMs through.
 */
const MAX_UNWRITTEN = 256 * 1024;
/** Frames handled per read callback before the socket is paused and the rest handled on a
 * later turn of the event loop, so that other connections get their turn. */
const FRAMES_PER_TURN = 1000;
/**
 * Abuse limits (RFC 9113 §10.5: "an endpoint MAY treat activity that is suspicious as a
 * connection error of type ENHANCE_YOUR_CALM"), as token buckets per connection: each
 * frame of a kind takes a token; the bucket refills at `perSecond`, and (pings, SETTINGS,
 * empty frames) in full whenever this server sends a response, as grpc-go resets its ping
 * strikes when it writes data. A working client is far from these; a flood from one
 * socket (~10^5-10^6 frames/s) empties a bucket within a few ms.
 */
const FLOOD_LIMITS = {
  ping: { burst: 1000, perSecond: 100, message: 'too_many_pings' },
  settings: { burst: 1000, perSecond: 100, message: 'too many SETTINGS' },
  empty: { burst: 1000, perSecond: 100, message: 'too many empty frames' },
  /** Client RST_STREAMs of streams still open ("rapid reset", CVE-2023-44487): not
   * refilled by responses, since a reset call's work is done for nothing. */
  reset: { burst: 1000, perSecond: 100, message: 'too many stream resets' },
} as const;
type FloodKind = keyof typeof FLOOD_LIMITS;
const EMPTY = Buffer.alloc(0);
/** Frames at least this large are gathered in pieces instead of joined on every read. */
const PARTIAL_MIN = 64 * 1024;
/** How long a PING ack may wait for a write to go out with (onPing). */
const PING_ACK_DELAY_MS = 5;
/** After a connection error: how long the GOAWAY may take to go out before the socket is destroyed. */
const CLOSE_GRACE_MS = 1000;
/**
 * How long a new connection may take to send the client preface and its SETTINGS. grpc-go's
 * server allows 120 s (its ConnectionTimeout default) for the whole handshake, TLS included;
 * over a local unix socket without TLS a client writes its preface at once, so 10 s is
 * generous for a loaded machine and keeps silent sockets from piling up 12 times sooner.
 * There is no idle timeout once the handshake is done: grpc-go's MaxConnectionIdle is
 * infinite by default, and dockerd keeps one idle connection open for its lifetime.
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

class ConnectionError extends Error {
  constructor(readonly code: number, message: string) {
    super(message);
  }
}

/** Pseudo-headers a request may carry (RFC 9113 §8.3.1), each a bit; :status is a response's. */
const REQUEST_PSEUDO = new Map([
  [':method', 1],
  [':scheme', 2],
  [':path', 4],
  [':authority', 8],
]);
/** :method, :scheme and :path: what every request must carry. */
const REQUIRED_PSEUDO = 7;
/** Connection-specific fields, malformed in HTTP/2 (RFC 9113 §8.2.2). */
const CONNECTION_SPECIFIC = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);
/** A field name: no controls, SP, uppercase or bytes above 0x7e (RFC 9113 §8.2.1). */
const VALID_NAME = /^[\x21-\x40\x5b-\x7e]+$/;
/** A field value: no NUL, CR or LF (RFC 9113 §8.2.1). */
const INVALID_VALUE = /[\0\r\n]/;

/** Why a request's header block is malformed (RFC 9113 §8.1.1, §8.2, §8.3), or undefined. */
function requestProblem(fields: ReadonlyArray<readonly [string, string]>): string | undefined {
  let pseudo = 0;
  let regular = false;
  for (const [n, v] of fields) {
    if (!VALID_NAME.test(n)) return `invalid field name ${JSON.stringify(n)}`;
    if (INVALID_VALUE.test(v)) return `invalid value of ${n}`;
    if (n.charCodeAt(0) === 0x3a) {
      if (regular) return `pseudo-header ${n} after a regular field`;
      const bit = REQUEST_PSEUDO.get(n);
      if (bit === undefined) return `pseudo-header ${n} in a request`;
      if (pseudo & bit) return `duplicate ${n}`;
      pseudo |= bit;
      if (n === ':path' && v === '') return 'empty :path';
      continue;
    }
    regular = true;
    if (CONNECTION_SPECIFIC.has(n)) return `connection-specific field ${n}`;
    if (n === 'te' && v !== 'trailers') return `te: ${v}`;
    if (n === 'content-length' && !/^[0-9]{1,15}$/.test(v)) return `content-length: ${v}`;
  }
  if ((pseudo & REQUIRED_PSEUDO) !== REQUIRED_PSEUDO) {
    for (const [n, bit] of REQUEST_PSEUDO) if (bit & REQUIRED_PSEUDO && !(pseudo & bit)) return `missing ${n}`;
  }
  return undefined;
}

/** Trailers carry no pseudo-headers, and only valid fields (RFC 9113 §8.1). */
function trailersProblem(fields: ReadonlyArray<readonly [string, string]>): string | undefined {
  for (const [n, v] of fields) {
    if (!VALID_NAME.test(n) || INVALID_VALUE.test(v)) return `invalid trailer ${JSON.stringify(n)}`;
    if (n.charCodeAt(0) === 0x3a) return `pseudo-header ${n} in trailers`;
  }
  return undefined;
}

/**
 * Frames waiting for the next write: each frame's header as numbers and its payload, laid
 * out into one buffer when the write happens. A unary answer is 3–5 frames; a 9-byte
 * Buffer per frame header, then a copy of them all into the write, was most of what
 * writing allocated.
 */
class OutQueue {
  /** type, flags, stream id per frame. */
  private readonly heads: number[] = [];
  private readonly payloads: Buffer[] = [];
  /** Frames queued: the arrays keep their capacity across writes (their slots beyond it
   * are stale or EMPTY). */
  private n = 0;
  private bytes = 0;

  get frames(): number {
    return this.n;
  }

  push(type: number, flags: number, streamId: number, payload: Buffer): void {
    const i = this.n++;
    this.heads[3 * i] = type;
    this.heads[3 * i + 1] = flags;
    this.heads[3 * i + 2] = streamId;
    this.payloads[i] = payload;
    this.bytes += 9 + payload.length;
  }

  /** The frames in wire form, and the queue emptied. */
  take(): Buffer {
    const buf = Buffer.allocUnsafe(this.bytes);
    let off = 0;
    const { heads, payloads } = this;
    for (let i = 0; i < this.n; i++) {
      const p = payloads[i] as Buffer;
      const len = p.length;
      buf[off] = len >>> 16;
      buf[off + 1] = (len >>> 8) & 0xff;
      buf[off + 2] = len & 0xff;
      buf[off + 3] = heads[3 * i] as number;
      buf[off + 4] = heads[3 * i + 1] as number;
      buf.writeUInt32BE(heads[3 * i + 2] as number, off + 5);
      off += 9;
      if (len > 0) {
        p.copy(buf, off);
        off += len;
      }
    }
    this.clear();
    return buf;
  }

  clear(): void {
    // The payloads are let go of (a write may have been a large DATA frame).
    this.payloads.fill(EMPTY, 0, this.n);
    this.n = 0;
    this.bytes = 0;
    // Capacity beyond what a burst needs is not kept for ever.
    if (this.payloads.length > 1024) {
      this.payloads.length = 0;
      this.heads.length = 0;
    }
  }
}

interface Pending {
  data: Buffer;
  cb: (() => void) | undefined;
}

// Shared defaults: a stream's callbacks are set by whoever handles it, so per-stream
// closures here would be allocated only to be replaced.
const IGNORE_DATA = (_chunk: Buffer): void => undefined;
const IGNORE_END = (): void => undefined;
const IGNORE_RESET = (_code: number): void => undefined;

/** One HTTP/2 stream (a call), seen from the server. */
export class H2Stream {
  /** Request header fields in order (pseudo-headers included), as decoded: a request has
   * about ten, so a scan (header()) costs less than building a map per call. */
  fields: ReadonlyArray<readonly [string, string]> = [];
  /** DATA payloads (padding removed), in order. */
  onData: (chunk: Buffer) => void = IGNORE_DATA;
  /** The client ended its side. */
  onEnd: () => void = IGNORE_END;
  /** The stream is gone: reset by the client (code), or the connection died. Not called after a normal close. */
  onReset: (code: number) => void = IGNORE_RESET;

  remoteEnded = false;
  localEnded = false;
  closed = false;
  headersSent = false;
  sendWindow: number;
  recvUnacked = 0;
  /** What the client may still send before a WINDOW_UPDATE from us. */
  recvWindow = STREAM_RECV_WINDOW;
  /** The request's content-length, if it sent one, and the DATA bytes counted against it. */
  contentLength: number | undefined;
  dataLength = 0;
  /** Bytes delivered but held back from the peer's window while the reader is paused. */
  readonly queue: Pending[] = [];
  /** Request bytes the application holds, counted against the connection's budget (hold). */
  held = 0;
  trailers: Buffer | undefined;
  /** In the connection's pump queue. */
  pumpQueued = false;

  constructor(readonly id: number, private readonly conn: Http2ServerConnection) {
    this.sendWindow = conn.peerInitialWindow;
  }

  /** The first value of a header field. */
  header(name: string): string | undefined {
    const f = this.fields;
    for (let i = 0; i < f.length; i++) {
      const e = f[i] as readonly [string, string];
      if (e[0] === name) return e[1];
    }
    return undefined;
  }

  /** Response HEADERS (without END_STREAM). */
  respond(headers: ReadonlyArray<readonly [string, string]>): void {
    if (this.headersSent || this.closed) return;
    this.headersSent = true;
    this.conn.sendHeaders(this.id, encodeHeaders(headers), false);
  }

  /** Queues DATA; cb once it has been handed to the socket (flow control permitting). */
  write(data: Buffer, cb?: () => void): void {
    if (this.closed || this.localEnded) {
      cb?.();
      return;
    }
    this.queue.push({ data, cb });
    this.conn.schedulePump(this);
  }

  /** Trailers with END_STREAM, after the queued DATA. */
  end(trailers: ReadonlyArray<readonly [string, string]>): void {
    if (this.closed || this.localEnded) return;
    this.localEnded = true;
    this.trailers = encodeHeaders(trailers);
    this.conn.schedulePump(this);
  }

  /** The application consumed n bytes of DATA: let the client send more. */
  consumed(n: number): void {
    if (this.closed || this.remoteEnded) return;
    this.recvUnacked += n;
    if (this.recvUnacked >= STREAM_RECV_WINDOW / 4) {
      this.conn.sendWindowUpdate(this.id, this.recvUnacked);
      this.recvUnacked = 0;
    }
  }

  /**
   * The application keeps n more bytes of this stream's DATA (e.g. a request message not
   * yet complete). False, and nothing counted, when the connection's budget for held bytes
   * (ConnectionOptions.maxHeldBytes) would be exceeded. Released when the stream closes,
   * or with unhold.
   */
  hold(n: number): boolean {
    if (!this.conn.hold(n)) return false;
    this.held += n;
    return true;
  }

  unhold(n: number): void {
    const m = Math.min(n, this.held);
    this.held -= m;
    this.conn.hold(-m);
  }

  /** RST_STREAM to the client. */
  reset(code: number = H2_ERROR.CANCEL): void {
    if (this.closed) return;
    this.conn.sendReset(this.id, code);
    this.conn.closeStream(this);
  }
}

export interface ConnectionOptions {
  onStream: (s: H2Stream) => void;
  /** The connection is closed unless the client's preface and first SETTINGS arrive within
   * this many ms (default HANDSHAKE_TIMEOUT_MS). */
  handshakeTimeoutMs?: number;
  onClose: () => void;
  onError?: (err: Error) => void;
  /** What all streams of the connection may hold (H2Stream.hold); default 32 MiB. */
  maxHeldBytes?: number;
}

/** A token bucket (see FLOOD_LIMITS). */
class Bucket {
  private tokens: number;
  private at = Date.now();
  constructor(private readonly burst: number, private readonly perSecond: number) {
    this.tokens = burst;
  }
  /** False once the bucket is empty. */
  take(now: number): boolean {
    if (now > this.at) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.at) * this.perSecond) / 1000);
      this.at = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
  refill(): void {
    this.tokens = this.burst;
  }
}

export class Http2ServerConnection {
  peerInitialWindow = DEFAULT_WINDOW;
  private peerMaxFrame = 16_384;
  private connSendWindow = DEFAULT_WINDOW;
  private connRecvUnacked = 0;
  /** What the client may still send on the connection (the WINDOW_UPDATE in the
   * constructor raises it to CONN_RECV_WINDOW). */
  private connRecvWindow = DEFAULT_WINDOW;
  private readonly decoder = new HpackDecoder(4096);
  private readonly streams = new StreamTable<H2Stream>();
  private lastStreamId = 0;
  private input: Buffer = EMPTY;
  /** A large frame arriving in pieces (receive): the pieces so far, their size, and the
   * size of the whole frame. */
  private partial: Buffer[] = [];
  private partialSize = 0;
  private partialNeeded = 0;
  private prefaceSeen = false;
  /** The client's first frame (which must be SETTINGS) has arrived. */
  private settingsSeen = false;
  private handshakeTimer: NodeJS.Timeout | undefined;
  private continuation: { streamId: number; flags: number; chunks: Buffer[]; size: number; selfDependent: boolean } | undefined;
  /** Frames waiting for the next write (see OutQueue). */
  private out = new OutQueue();
  /** PING ack payloads waiting to go out with the next write (see onPing). */
  private pingAcks: Buffer[] = [];
  private pingAckTimer: NodeJS.Timeout | undefined;
  private flushScheduled = false;
  private socketBlocked = false;
  /** Streams with DATA or trailers to send (H2Stream.pumpQueued marks them). An array
   * rather than a Set for the reason StreamTable gives. */
  private readonly pumpQueue: H2Stream[] = [];
  private pumping = false;
  private goingAway = false;
  private dead = false;
  private readonly floods = {
    ping: new Bucket(FLOOD_LIMITS.ping.burst, FLOOD_LIMITS.ping.perSecond),
    settings: new Bucket(FLOOD_LIMITS.settings.burst, FLOOD_LIMITS.settings.perSecond),
    empty: new Bucket(FLOOD_LIMITS.empty.burst, FLOOD_LIMITS.empty.perSecond),
    reset: new Bucket(FLOOD_LIMITS.reset.burst, FLOOD_LIMITS.reset.perSecond),
  };
  /** Bytes held by streams (H2Stream.hold) and the bound on them. */
  private heldBytes = 0;
  private readonly maxHeld: number;
  /** Why reading is paused: the socket's output is blocked, and/or this connection used up
   * its turn (FRAMES_PER_TURN). Reading resumes when neither holds. */
  private outputBlocked = false;
  private yielding = false;

  constructor(private readonly socket: net.Socket, private readonly opts: ConnectionOptions) {
    this.maxHeld = opts.maxHeldBytes ?? 32 * 1024 * 1024;
    // Our SETTINGS (the bounds a client can see), and a connection window larger than the
    // default 64 KiB.
    const s = Buffer.allocUnsafe(30);
    s.writeUInt16BE(SETTING.INITIAL_WINDOW_SIZE, 0);
    s.writeUInt32BE(STREAM_RECV_WINDOW, 2);
    s.writeUInt16BE(SETTING.MAX_FRAME_SIZE, 6);
    s.writeUInt32BE(MAX_RECV_FRAME, 8);
    s.writeUInt16BE(SETTING.ENABLE_PUSH, 12);
    s.writeUInt32BE(0, 14);
    s.writeUInt16BE(SETTING.MAX_CONCURRENT_STREAMS, 18);
    s.writeUInt32BE(MAX_CONCURRENT_STREAMS, 20);
    s.writeUInt16BE(SETTING.MAX_HEADER_LIST_SIZE, 24);
    s.writeUInt32BE(MAX_HEADER_LIST_SIZE, 26);
    this.queueFrame(FRAME.SETTINGS, 0, 0, s);
    this.sendWindowUpdate(0, CONN_RECV_WINDOW - DEFAULT_WINDOW);
    this.handshakeTimer = setTimeout(() => {
      this.opts.onError?.(new Error('http2: no client preface and SETTINGS within the handshake timeout'));
      socket.destroy();
    }, opts.handshakeTimeoutMs ?? HANDSHAKE_TIMEOUT_MS);
    this.handshakeTimer.unref();
    socket.on('data', (d: Buffer) => this.receive(d));
    socket.on('drain', () => {
      this.socketBlocked = false;
      this.outputBlocked = false;
      this.updateReading();
      for (const st of this.streams.values()) if (st.queue.length > 0 || st.trailers) this.enqueuePump(st);
      this.pump();
    });
    socket.on('error', (err) => this.opts.onError?.(err));
    socket.on('close', () => this.teardown());
  }

  get streamCount(): number {
    return this.streams.size;
  }

  /** Counts n (negative: releases) against the held-bytes budget; false if over it. */
  hold(n: number): boolean {
    if (n > 0 && this.heldBytes + n > this.maxHeld) return false;
    this.heldBytes += n;
    return true;
  }

  /** A client that does not read its answers is not read either (RFC 9113 leaves this to
   * the server; grpc-go stops reading while its control frames are queued): what it
   * sends stays in its socket, and what it makes us write is bounded by what one read
   * can ask for. */
  private updateReading(): void {
    if (this.dead) return;
    if (this.outputBlocked || this.yielding) this.socket.pause();
    else this.socket.resume();
  }

  /** Takes a token of `kind`; an empty bucket ends the connection with ENHANCE_YOUR_CALM. */
  private flood(kind: FloodKind): void {
    if (!this.floods[kind].take(Date.now())) throw new ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, FLOOD_LIMITS[kind].message);
  }

  // ---------------------------------------------------------------- output

  private queueFrame(type: number, flags: number, streamId: number, payload: Buffer): void {
    this.out.push(type, flags, streamId, payload);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      // After this round of I/O callbacks and the promise jobs they start: a handler that
      // answers without waiting on I/O gets its response into the same write as the
      // control frames its request brought (grpc-go pings with every request; an ack on
      // its own would be a second write and a second wake-up of the client).
      setImmediate(() => this.flush());
    }
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.pingAcks.length > 0) {
      // Acks after the frames of this write, which arrive in the same read anyway: grpc-go
      // then reads a response while its ping is still unanswered and sends no new one for
      // it, which halves its pings (and the WINDOW_UPDATE sent with each).
      for (const p of this.pingAcks) this.out.push(FRAME.PING, FLAG.ACK, 0, p);
      this.pingAcks = [];
      clearTimeout(this.pingAckTimer);
      this.pingAckTimer = undefined;
    }
    if (this.out.frames === 0 || this.dead) {
      this.out.clear();
      return;
    }
    const data = this.out.take();
    if (!this.socket.write(data)) {
      this.socketBlocked = true;
      if (this.socket.writableLength > MAX_UNWRITTEN) {
        this.outputBlocked = true;
        this.updateReading();
      }
    }
  }

  /**
   * grpc-go sends a PING (its bandwidth estimator) after most responses it reads, a moment
   * before its next request. Answered at once, each ack is a write of its own, and a
   * wake-up of the client in the middle of preparing that request (~11 of each per `ctr
   * run`). The ack waits for the next write instead, at most PING_ACK_DELAY_MS. Nothing
   * waits on these acks but the estimator (which then measures a longer round trip and
   * pings less) and keepalives, whose timeouts are seconds.
   */
  private onPing(payload: Buffer): void {
    this.pingAcks.push(Buffer.from(payload));
    if (this.flushScheduled || this.pingAckTimer) return;
    this.pingAckTimer = setTimeout(() => {
      this.pingAckTimer = undefined;
      this.flush();
    }, PING_ACK_DELAY_MS);
    this.pingAckTimer.unref();
  }

  sendHeaders(streamId: number, block: Buffer, endStream: boolean): void {
    this.served();
    const flags = endStream ? FLAG.END_STREAM : 0;
    if (block.length <= this.peerMaxFrame) {
      this.queueFrame(FRAME.HEADERS, flags | FLAG.END_HEADERS, streamId, block);
      return;
    }
    let off = 0;
    let first = true;
    while (off < block.length) {
      const n = Math.min(this.peerMaxFrame, block.length - off);
      const last = off + n >= block.length;
      this.queueFrame(first ? FRAME.HEADERS : FRAME.CONTINUATION, (first ? flags : 0) | (last ? FLAG.END_HEADERS : 0), streamId, block.subarray(off, off + n));
      off += n;
      first = false;
    }
  }

  sendWindowUpdate(streamId: number, increment: number): void {
    if (increment <= 0) return;
    if (streamId === 0) this.connRecvWindow += increment;
    else {
      const s = this.streams.get(streamId);
      if (s) s.recvWindow += increment;
    }
    const p = Buffer.allocUnsafe(4);
    p.writeUInt32BE(increment, 0);
    this.queueFrame(FRAME.WINDOW_UPDATE, 0, streamId, p);
  }

  sendReset(streamId: number, code: number): void {
    const p = Buffer.allocUnsafe(4);
    p.writeUInt32BE(code, 0);
    this.queueFrame(FRAME.RST_STREAM, 0, streamId, p);
  }

  private sendGoaway(code: number, message = ''): void {
    const m = Buffer.from(message, 'utf8');
    const p = Buffer.allocUnsafe(8 + m.length);
    p.writeUInt32BE(this.lastStreamId, 0);
    p.writeUInt32BE(code, 4);
    m.copy(p, 8);
    this.queueFrame(FRAME.GOAWAY, 0, 0, p);
  }

  /** A response went out: the client is being served, its pings and SETTINGS are its own
   * business again (grpc-go resets its ping strikes when it writes headers or data). */
  private served(): void {
    this.floods.ping.refill();
    this.floods.settings.refill();
    this.floods.empty.refill();
  }

  schedulePump(s: H2Stream): void {
    this.enqueuePump(s);
    this.pump();
  }

  private enqueuePump(s: H2Stream): void {
    if (s.pumpQueued) return;
    s.pumpQueued = true;
    this.pumpQueue.push(s);
  }

  /** Sends queued DATA as the windows allow, then trailers. Not re-entered: a stream that
   * a callback queues meanwhile is appended and reached by the running loop. */
  private pump(): void {
    if (this.dead || this.pumping) return;
    this.pumping = true;
    const q = this.pumpQueue;
    let kept = 0;
    let i = 0;
    try {
      for (; i < q.length && !this.socketBlocked && !this.dead; i++) {
        const s = q[i] as H2Stream;
        if (this.pumpStream(s)) q[kept++] = s;
        else s.pumpQueued = false;
      }
    } finally {
      // Streams not reached (the socket blocked) keep their place.
      for (; i < q.length; i++) q[kept++] = q[i] as H2Stream;
      q.length = kept;
      this.pumping = false;
    }
  }

  /** Sends what one stream can; true if it still has something waiting for window. */
  private pumpStream(s: H2Stream): boolean {
    if (s.closed) return false;
    while (s.queue.length > 0) {
      const p = s.queue[0] as Pending;
      if (p.data.length > 0) {
        const n = Math.min(p.data.length, s.sendWindow, this.connSendWindow, this.peerMaxFrame);
        if (n <= 0) break;
        this.queueFrame(FRAME.DATA, 0, s.id, p.data.subarray(0, n));
        this.served();
        s.sendWindow -= n;
        this.connSendWindow -= n;
        p.data = p.data.subarray(n);
        if (p.data.length > 0) continue;
      }
      s.queue.shift();
      p.cb?.();
      if (this.socketBlocked) break;
    }
    if (s.queue.length === 0) {
      if (s.trailers) {
        const t = s.trailers;
        s.trailers = undefined;
        this.sendHeaders(s.id, t, true);
        if (s.remoteEnded) this.closeStream(s);
        else {
          // The response is complete: the client need not send the rest (gRPC servers
          // reset with NO_ERROR here).
          this.sendReset(s.id, H2_ERROR.NO_ERROR);
          this.closeStream(s);
        }
      }
      return false;
    }
    return !s.closed;
  }

  closeStream(s: H2Stream): void {
    if (s.closed) return;
    s.closed = true;
    this.streams.delete(s.id);
    if (s.pumpQueued && !this.pumping) {
      // Not kept alive by the queue until the next pump (a running pump drops it itself).
      const i = this.pumpQueue.indexOf(s);
      if (i >= 0) this.pumpQueue.splice(i, 1);
      s.pumpQueued = false;
    }
    for (const p of s.queue.splice(0)) p.cb?.();
    s.unhold(s.held);
    if (this.goingAway && this.streams.size === 0) this.endSocket();
  }

  // ---------------------------------------------------------------- lifecycle

  /** Graceful: GOAWAY, finish the calls in flight, then close. */
  shutdown(): void {
    if (this.goingAway) return;
    this.goingAway = true;
    this.sendGoaway(H2_ERROR.NO_ERROR);
    if (this.streams.size === 0) this.endSocket();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private endSocket(): void {
    this.flush();
    this.socket.end();
  }

  /** A connection error: GOAWAY and our side ended; nothing more is read; the socket is
   * destroyed once the peer closes or after CLOSE_GRACE_MS. The wait is Go's (its http2
   * server closes 1 s after an error GOAWAY): a peer still writing when the socket is
   * destroyed gets EPIPE, and a client library (Node's among them) then drops the bytes it
   * had not read yet, the GOAWAY and its code with them. */
  private fail(code: number, message: string): void {
    this.opts.onError?.(new Error(`http2: ${message}`));
    this.sendGoaway(code, message);
    this.flush();
    const socket = this.socket;
    socket.pause();
    socket.end();
    setTimeout(() => socket.destroy(), CLOSE_GRACE_MS).unref();
    this.teardown();
  }

  /** A stream error (RFC 9113 §5.4.2): RST_STREAM, and the call, if any, cancelled. */
  private streamError(sid: number, code: number, why: string): void {
    this.opts.onError?.(new Error(`http2: stream ${sid}: ${why}`));
    const s = this.streams.get(sid);
    if (!s) {
      this.sendReset(sid, code);
      return;
    }
    s.reset(code);
    s.onReset(code);
  }

  private teardown(): void {
    if (this.dead) return;
    this.dead = true;
    clearTimeout(this.pingAckTimer);
    clearTimeout(this.handshakeTimer);
    for (const s of [...this.streams.values()]) {
      this.closeStream(s);
      s.onReset(H2_ERROR.CANCEL);
    }
    this.opts.onClose();
  }

  // ---------------------------------------------------------------- input

  private receive(d: Buffer): void {
    if (this.dead) return;
    if (this.partialSize > 0) {
      // The rest of a frame that came in pieces: joined once it is whole. (Joining on every
      // read copied a 1 MiB DATA frame arriving in 64 KiB reads ~8 times over.)
      this.partial.push(d);
      this.partialSize += d.length;
      if (this.partialSize < this.partialNeeded) return;
      this.input = Buffer.concat(this.partial, this.partialSize);
      this.partial = [];
      this.partialSize = 0;
    } else {
      this.input = this.input.length === 0 ? d : d.length === 0 ? this.input : Buffer.concat([this.input, d]);
    }
    try {
      if (!this.prefaceSeen) {
        if (this.input.length < PREFACE.length) {
          if (!PREFACE.subarray(0, this.input.length).equals(this.input)) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'bad connection preface');
          return;
        }
        if (!this.input.subarray(0, PREFACE.length).equals(PREFACE)) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'bad connection preface');
        this.input = this.input.subarray(PREFACE.length);
        this.prefaceSeen = true;
      }
      let frames = 0;
      // Frames are read at an offset into the input, and the rest of it kept once the loop
      // ends: a slice per frame for what remains was a Buffer object per frame.
      const buf = this.input;
      let pos = 0;
      while (buf.length - pos >= 9 && !this.dead) {
        if (++frames > FRAMES_PER_TURN) {
          // The rest on a later turn, after other connections' callbacks; meanwhile this
          // socket is not read (its bytes wait in the kernel).
          this.yielding = true;
          this.updateReading();
          setImmediate(() => {
            this.yielding = false;
            this.updateReading();
            this.receive(EMPTY);
          });
          break;
        }
        const len = buf.readUIntBE(pos, 3);
        if (len > MAX_RECV_FRAME) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, `frame of ${len} bytes`);
        if (buf.length - pos < 9 + len) {
          if (len >= PARTIAL_MIN) {
            this.partial = [buf.subarray(pos)];
            this.partialSize = buf.length - pos;
            this.partialNeeded = 9 + len;
            pos = buf.length;
          }
          break;
        }
        const type = buf[pos + 3] as number;
        const flags = buf[pos + 4] as number;
        const sid = buf.readUInt32BE(pos + 5) & 0x7fffffff;
        const payload = buf.subarray(pos + 9, pos + 9 + len);
        pos += 9 + len;
        this.frame(type, flags, sid, payload);
      }
      // Nothing left keeps no reference to the read it came in.
      this.input = pos === 0 ? buf : pos >= buf.length ? EMPTY : buf.subarray(pos);
      // Returned in large steps: a WINDOW_UPDATE per request would be a write (and a
      // wake-up of the client) of its own, ahead of the response.
      if (this.connRecvUnacked >= CONN_RECV_WINDOW / 4) {
        this.sendWindowUpdate(0, this.connRecvUnacked);
        this.connRecvUnacked = 0;
      }
    } catch (err) {
      if (err instanceof ConnectionError) this.fail(err.code, err.message);
      else if (err instanceof HpackError) this.fail(H2_ERROR.COMPRESSION_ERROR, err.message);
      else throw err;
    }
  }

  private frame(type: number, flags: number, sid: number, p: Buffer): void {
    if (!this.settingsSeen) {
      // RFC 9113 §3.4: the preface ends with the client's SETTINGS.
      if (type !== FRAME.SETTINGS || (flags & FLAG.ACK) !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'the client preface must end with SETTINGS');
      this.settingsSeen = true;
      clearTimeout(this.handshakeTimer);
      this.handshakeTimer = undefined;
    }
    if (this.continuation && type !== FRAME.CONTINUATION) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'expected CONTINUATION');
    switch (type) {
      case FRAME.DATA:
        return this.onDataFrame(flags, sid, p);
      case FRAME.HEADERS:
        return this.onHeadersFrame(flags, sid, p);
      case FRAME.CONTINUATION: {
        const c = this.continuation;
        if (!c || c.streamId !== sid) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'unexpected CONTINUATION');
        if (c.chunks.length > MAX_CONTINUATIONS) throw new ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'too many CONTINUATION frames');
        c.size += p.length;
        if (c.size > MAX_HEADER_BLOCK) throw new ConnectionError(H2_ERROR.ENHANCE_YOUR_CALM, 'header block too large');
        // Copied: a slice would keep the whole socket read it came in alive.
        c.chunks.push(Buffer.from(p));
        if (flags & FLAG.END_HEADERS) {
          this.continuation = undefined;
          this.onHeaderBlock(c.streamId, c.flags, Buffer.concat(c.chunks), c.selfDependent);
        }
        return;
      }
      case FRAME.PRIORITY:
        if (sid === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PRIORITY on stream 0');
        this.flood('empty'); // ignored here: costs the client nothing, us a frame each
        if (p.length !== 5) return this.streamError(sid, H2_ERROR.FRAME_SIZE_ERROR, 'PRIORITY size');
        // Priorities are otherwise ignored, but a stream cannot depend on itself (RFC 9113 §5.3.1).
        if ((p.readUInt32BE(0) & 0x7fffffff) === sid) this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, 'stream depends on itself');
        return;
      case FRAME.RST_STREAM: {
        if (sid === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'RST_STREAM on stream 0');
        if (p.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'RST_STREAM size');
        if (sid > this.lastStreamId) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, `RST_STREAM on idle stream ${sid}`);
        const s = this.streams.get(sid);
        if (s) {
          this.flood('reset');
          this.closeStream(s);
          s.onReset(p.readUInt32BE(0));
        }
        return;
      }
      case FRAME.SETTINGS:
        return this.onSettings(flags, sid, p);
      case FRAME.PING:
        if (sid !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PING on a stream');
        if (p.length !== 8) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'PING size');
        if (!(flags & FLAG.ACK)) {
          this.flood('ping');
          this.onPing(p);
        }
        return;
      case FRAME.GOAWAY:
        if (sid !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'GOAWAY on a stream');
        // The client will open no more streams; the ones in flight finish.
        this.goingAway = true;
        if (this.streams.size === 0) this.endSocket();
        return;
      case FRAME.WINDOW_UPDATE: {
        if (p.length !== 4) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'WINDOW_UPDATE size');
        const inc = p.readUInt32BE(0) & 0x7fffffff;
        if (sid > this.lastStreamId) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, `WINDOW_UPDATE on idle stream ${sid}`);
        // An increment of 0 is a PROTOCOL_ERROR (RFC 9113 §6.9), not a flow-control error; on
        // a stream it is a stream error even when berthd has already finished the stream.
        if (inc === 0) {
          if (sid === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
          return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, 'WINDOW_UPDATE of 0');
        }
        if (sid === 0) {
          if (this.connSendWindow + inc > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'connection window');
          this.connSendWindow += inc;
          for (const s of this.streams.values()) if (s.queue.length > 0) this.enqueuePump(s);
        } else {
          const s = this.streams.get(sid);
          if (!s) return;
          if (s.sendWindow + inc > MAX_WINDOW) {
            s.reset(H2_ERROR.FLOW_CONTROL_ERROR);
            s.onReset(H2_ERROR.FLOW_CONTROL_ERROR);
            return;
          }
          s.sendWindow += inc;
          this.enqueuePump(s);
        }
        this.pump();
        return;
      }
      case FRAME.PUSH_PROMISE:
        throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'PUSH_PROMISE from a client');
      default:
        this.flood('empty'); // unknown frame types are ignored (RFC 9113 §4.1), up to a point
        return;
    }
  }

  private onSettings(flags: number, sid: number, p: Buffer): void {
    if (sid !== 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'SETTINGS on a stream');
    if (flags & FLAG.ACK) {
      if (p.length !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS ack with a payload');
      return;
    }
    if (p.length % 6 !== 0) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'SETTINGS size');
    this.flood('settings');
    for (let i = 0; i < p.length; i += 6) {
      const id = p.readUInt16BE(i);
      const v = p.readUInt32BE(i + 2);
      if (id === SETTING.INITIAL_WINDOW_SIZE) {
        if (v > MAX_WINDOW) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'initial window size');
        const delta = v - this.peerInitialWindow;
        this.peerInitialWindow = v;
        for (const s of this.streams.values()) {
          s.sendWindow += delta;
          if (delta > 0 && s.queue.length > 0) this.enqueuePump(s);
        }
      } else if (id === SETTING.ENABLE_PUSH) {
        if (v > 1) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'enable push');
      } else if (id === SETTING.MAX_FRAME_SIZE) {
        if (v < 16_384 || v > 16_777_215) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'max frame size');
        this.peerMaxFrame = v;
      }
      // HEADER_TABLE_SIZE: this encoder never indexes, so any size suits it.
    }
    this.queueFrame(FRAME.SETTINGS, FLAG.ACK, 0, Buffer.alloc(0));
    this.pump();
  }

  private unpad(flags: number, p: Buffer): Buffer {
    if (!(flags & FLAG.PADDED)) return p;
    if (p.length < 1) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'padding');
    const pad = p[0] as number;
    if (pad >= p.length) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'padding');
    return p.subarray(1, p.length - pad);
  }

  private onHeadersFrame(flags: number, sid: number, p: Buffer): void {
    if (sid === 0 || sid % 2 === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, `HEADERS on stream ${sid}`);
    let block = this.unpad(flags, p);
    let selfDependent = false;
    if (flags & FLAG.PRIORITY) {
      if (block.length < 5) throw new ConnectionError(H2_ERROR.FRAME_SIZE_ERROR, 'HEADERS priority');
      selfDependent = (block.readUInt32BE(0) & 0x7fffffff) === sid;
      block = block.subarray(5);
    }
    if (flags & FLAG.END_HEADERS) this.onHeaderBlock(sid, flags, block, selfDependent);
    else this.continuation = { streamId: sid, flags, chunks: [Buffer.from(block)], size: block.length, selfDependent };
  }

  private onHeaderBlock(sid: number, flags: number, block: Buffer, selfDependent = false): void {
    // Always decoded (it updates the dynamic table), within the bounds: past them the block
    // is only walked, and the stream refused.
    const fields = this.decoder.decode(block, MAX_HEADER_LIST_SIZE, MAX_HEADER_FIELDS);
    if (fields.truncated) {
      // grpc-go resets such a stream with FRAME_SIZE_ERROR (its framer marks the block
      // truncated at SETTINGS_MAX_HEADER_LIST_SIZE); RFC 9113 §10.5.1 leaves the code open.
      if (sid > this.lastStreamId) this.lastStreamId = sid;
      return this.streamError(sid, H2_ERROR.FRAME_SIZE_ERROR, 'header list too large');
    }
    if (selfDependent) {
      // A stream error (RFC 9113 §5.3.1): the request is refused, never dispatched.
      if (!this.streams.has(sid)) this.lastStreamId = Math.max(this.lastStreamId, sid);
      return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, 'stream depends on itself');
    }
    const existing = this.streams.get(sid);
    if (existing) {
      // Trailers from the client: they end the stream, and carry no pseudo-headers.
      if (existing.remoteEnded) return this.streamError(sid, H2_ERROR.STREAM_CLOSED, 'HEADERS after END_STREAM');
      if (!(flags & FLAG.END_STREAM)) return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, 'second HEADERS without END_STREAM');
      const problem = trailersProblem(fields);
      if (problem !== undefined) return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, problem);
      if (existing.contentLength !== undefined && existing.dataLength !== existing.contentLength) {
        return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, `content-length ${existing.contentLength}, DATA ${existing.dataLength}`);
      }
      this.remoteEnd(existing);
      return;
    }
    if (sid <= this.lastStreamId) return; // a stream already closed
    this.lastStreamId = sid;
    if (this.goingAway || this.streams.size >= MAX_CONCURRENT_STREAMS) {
      // Beyond SETTINGS_MAX_CONCURRENT_STREAMS: refused, so the client may retry it
      // (RFC 9113 §5.1.2, §8.7).
      this.sendReset(sid, H2_ERROR.REFUSED_STREAM);
      return;
    }
    const problem = requestProblem(fields);
    if (problem !== undefined) return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, problem);
    const s = new H2Stream(sid, this);
    s.fields = fields;
    const cl = s.header('content-length');
    if (cl !== undefined) s.contentLength = Number(cl);
    this.streams.set(s);
    if (flags & FLAG.END_STREAM) {
      if (s.contentLength !== undefined && s.contentLength !== 0) return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, 'content-length without DATA');
      s.remoteEnded = true;
    }
    this.opts.onStream(s);
    if (s.remoteEnded && !s.closed) s.onEnd();
  }

  private onDataFrame(flags: number, sid: number, p: Buffer): void {
    if (sid === 0) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on stream 0');
    this.connRecvUnacked += p.length;
    this.connRecvWindow -= p.length;
    if (this.connRecvWindow < 0) throw new ConnectionError(H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the connection window');
    // A bad pad length is a connection error (RFC 9113 §6.1) whatever the stream's state,
    // so it is checked before a DATA frame for a finished stream is dropped.
    const data = this.unpad(flags, p);
    const s = this.streams.get(sid);
    if (!s) {
      // Late data for a stream we already finished: only the connection window counts it.
      if (sid > this.lastStreamId) throw new ConnectionError(H2_ERROR.PROTOCOL_ERROR, 'DATA on an idle stream');
      return;
    }
    if (s.remoteEnded) return this.streamError(sid, H2_ERROR.STREAM_CLOSED, 'DATA after END_STREAM');
    if (p.length === 0 && !(flags & FLAG.END_STREAM)) this.flood('empty');
    s.recvWindow -= p.length;
    if (s.recvWindow < 0) return this.streamError(sid, H2_ERROR.FLOW_CONTROL_ERROR, 'DATA beyond the stream window');
    if (s.contentLength !== undefined) {
      s.dataLength += data.length;
      const short = (flags & FLAG.END_STREAM) !== 0 && s.dataLength < s.contentLength;
      if (s.dataLength > s.contentLength || short) return this.streamError(sid, H2_ERROR.PROTOCOL_ERROR, `content-length ${s.contentLength}, DATA ${s.dataLength}`);
    }
    const padding = p.length - data.length;
    if (padding > 0) s.consumed(padding);
    if (data.length > 0) s.onData(data);
    if (flags & FLAG.END_STREAM) this.remoteEnd(s);
  }

  private remoteEnd(s: H2Stream): void {
    if (s.remoteEnded) return;
    s.remoteEnded = true;
    s.onEnd();
    if (s.localEnded && !s.trailers && s.queue.length === 0) this.closeStream(s);
  }
}
