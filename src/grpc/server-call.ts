// The call objects handed to service handlers: the parts of grpc-js's ServerUnaryCall,
// ServerWritableStream and ServerDuplexStream that berth's handlers use (request,
// metadata, getDeadline, cancelled, 'cancelled'/'close'/'drain', write/end, emit('error')
// to fail the call, sendMetadata, async iteration of requests), over one H2Stream.
import { EventEmitter } from 'node:events';
import { Duplex, Writable } from 'node:stream';
import { Metadata, status as Status } from '@grpc/grpc-js';
import type { GrpcMethodStats } from './call-observer';
import type { H2Stream } from './http2-connection';

/** Encodes a response message. */
export type Serialize = (value: unknown) => Buffer;

/** A status for the client: what handlers pass to callbacks or emit as 'error'. */
export interface CallStatus {
  code?: number;
  details?: string;
  message?: string;
  metadata?: Metadata;
}

// Frozen: the HPACK encoder encodes frozen lists once (hpack.ts).
const RESPONSE_HEADERS: ReadonlyArray<readonly [string, string]> = Object.freeze([
  Object.freeze([':status', '200'] as const),
  Object.freeze(['content-type', 'application/grpc'] as const),
]);
const OK_TRAILERS: ReadonlyArray<readonly [string, string]> = Object.freeze([Object.freeze(['grpc-status', '0'] as const)]);
const OK_TRAILERS_ONLY: ReadonlyArray<readonly [string, string]> = Object.freeze([...RESPONSE_HEADERS, ...OK_TRAILERS]);

/** gRPC's grpc-message encoding: percent-encode bytes outside printable ASCII, and '%'. */
export function encodeGrpcMessage(msg: string): string {
  let out = '';
  for (const b of Buffer.from(msg, 'utf8')) {
    if (b >= 0x20 && b <= 0x7e && b !== 0x25) out += String.fromCharCode(b);
    else out += `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The five-byte gRPC message prefix (uncompressed) and the message. */
export function frameMessage(msg: Buffer): Buffer {
  const out = Buffer.allocUnsafe(5 + msg.length);
  out[0] = 0;
  out.writeUInt32BE(msg.length, 1);
  msg.copy(out, 5);
  return out;
}

function statusTrailers(st: CallStatus, withHeaders: boolean): ReadonlyArray<readonly [string, string]> {
  if (st.code === Status.OK && !st.details && !st.message && !st.metadata) return withHeaders ? OK_TRAILERS_ONLY : OK_TRAILERS;
  const t: Array<[string, string]> = withHeaders ? RESPONSE_HEADERS.map(([k, v]) => [k, v]) : [];
  const code = typeof st.code === 'number' ? st.code : Status.UNKNOWN;
  t.push(['grpc-status', String(code)]);
  const msg = st.details ?? st.message ?? '';
  if (msg !== '') t.push(['grpc-message', encodeGrpcMessage(msg)]);
  if (st.metadata) {
    for (const [k, vs] of Object.entries(st.metadata.toHttp2Headers())) {
      if (vs === undefined) continue;
      for (const v of Array.isArray(vs) ? vs : [vs]) t.push([k, String(v)]);
    }
  }
  return t;
}

/** What every call shares: the stream, its metadata, deadline, status and cancellation. */
export class CallCore {
  cancelled = false;
  private finished = false;
  /** Set once the handler runs, when the server has an observer (metrics). */
  private stats: GrpcMethodStats | undefined;
  private startMark = 0;

  constructor(
    readonly stream: H2Stream,
    readonly metadata: Metadata,
    readonly deadline: number,
    readonly maxSend: number,
    private readonly onCancel: () => void,
  ) {}

  get done(): boolean {
    return this.finished || this.stream.closed;
  }

  /** The handler is about to run: from here the call is counted (as go-grpc-prometheus
   * counts from its interceptor); `withRequest` for unary and server-streaming calls,
   * whose one request has been read. */
  observe(stats: GrpcMethodStats, withRequest: boolean): void {
    this.stats = stats;
    this.startMark = stats.started();
    if (withRequest) stats.received();
  }

  /** A streamed request reached the handler. */
  received(): void {
    this.stats?.received();
  }

  sendHeaders(): void {
    if (!this.stream.headersSent) this.stream.respond(RESPONSE_HEADERS);
  }

  /**
   * Serializes and writes one response message. False, with the call ended (Internal if
   * it cannot be serialized, ResourceExhausted if too large), when it was not sent.
   */
  sendResponse(value: unknown, serialize: Serialize, cb?: () => void): boolean {
    if (this.done) {
      cb?.();
      return false;
    }
    let bytes: Buffer;
    try {
      bytes = serialize(value);
    } catch (err) {
      this.finish({ code: Status.INTERNAL, details: `grpc: error while marshaling: ${(err as Error).message}` });
      cb?.();
      return false;
    }
    if (bytes.length > this.maxSend) {
      this.finish({ code: Status.RESOURCE_EXHAUSTED, details: `grpc: trying to send message larger than max (${bytes.length} vs. ${this.maxSend})` });
      cb?.();
      return false;
    }
    this.sendHeaders();
    this.stream.write(frameMessage(bytes), cb);
    this.stats?.sent();
    return true;
  }

  /** Ends the call with a status (trailers-only when nothing was sent yet). */
  finish(st: CallStatus): void {
    if (this.done) return;
    this.finished = true;
    this.stats?.handled(typeof st.code === 'number' ? st.code : Status.UNKNOWN, this.startMark);
    this.stream.end(statusTrailers(st, !this.stream.headersSent));
  }

  /** The client reset the stream or went away. */
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    // A client resets the stream itself once its deadline passes (grpc-go's handler then
    // sees its context's DeadlineExceeded, not Canceled).
    if (!this.finished && this.stats) this.stats.handled(this.deadline <= Date.now() ? Status.DEADLINE_EXCEEDED : Status.CANCELLED, this.startMark);
    this.finished = true;
    this.onCancel();
  }

  getDeadline(): Date | number {
    return Number.isFinite(this.deadline) ? new Date(this.deadline) : Infinity;
  }
}

// The mixin pattern requires exactly this constructor type.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Constructor = new (...args: any[]) => object;

/** What handlers read on every kind of call, whatever its base class (EventEmitter,
 * Writable, Duplex): grpc-js's names, answered by the call's CallCore. */
function withCallSurface<B extends Constructor>(Base: B) {
  abstract class CallSurface extends Base {
    abstract readonly core: CallCore;
    get metadata(): Metadata {
      return this.core.metadata;
    }
    get cancelled(): boolean {
      return this.core.cancelled;
    }
    getDeadline(): Date | number {
      return this.core.getDeadline();
    }
    getPeer(): string {
      return 'unix';
    }
    sendMetadata(_md: Metadata): void {
      this.core.sendHeaders();
    }
  }
  return CallSurface;
}

export class UnaryCall<Req> extends withCallSurface(EventEmitter) {
  constructor(readonly core: CallCore, readonly request: Req) {
    super();
  }
}

/** Server streaming: an object-mode Writable of responses. */
export class WritableCall<Req> extends withCallSurface(Writable) {
  constructor(readonly core: CallCore, readonly request: Req, private readonly serialize: Serialize) {
    super({ objectMode: true, highWaterMark: 16 });
    // Handlers fail a call with emit('error', status), as with grpc-js.
    this.on('error', (err: CallStatus) => this.core.finish(err));
  }
  override _write(msg: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.core.sendResponse(msg, this.serialize, () => cb());
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.core.finish({ code: Status.OK });
    cb();
  }
}

/** Bidirectional streaming: requests are read (object mode), responses written. */
export class DuplexCall extends withCallSurface(Duplex) {
  /** Bytes received but not yet returned to the client's window. */
  private unacked = 0;
  private wantMore = true;

  constructor(readonly core: CallCore, private readonly serialize: Serialize) {
    super({ objectMode: true, readableHighWaterMark: 4, writableHighWaterMark: 16, allowHalfOpen: true });
    this.on('error', (err: CallStatus) => this.core.finish(err));
  }
  /** Reading the requests to their end leaves the call open for the last responses
   * (a plain for-await would destroy the stream once the client closed its side). */
  override [Symbol.asyncIterator](): NodeJS.AsyncIterator<unknown> {
    return this.iterator({ destroyOnReturn: false });
  }
  /** `n` bytes of DATA arrived: returned to the client's window now, or once the
   * handler reads again (a paused reader is back-pressure). */
  received(n: number): void {
    this.unacked += n;
    if (this.wantMore) this.ack();
  }
  /** A decoded request. */
  deliver(msg: unknown): void {
    this.core.received();
    this.wantMore = this.push(msg);
  }
  private ack(): void {
    if (this.unacked > 0) this.core.stream.consumed(this.unacked);
    this.unacked = 0;
  }
  override _read(): void {
    this.wantMore = true;
    this.ack();
  }
  override _write(msg: unknown, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.core.sendResponse(msg, this.serialize, () => cb());
  }
  override _final(cb: (err?: Error | null) => void): void {
    this.core.finish({ code: Status.OK });
    cb();
  }
}

