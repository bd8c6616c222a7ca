// One HTTP/2 connection to a containerd-compatible daemon's unix socket, carrying gRPC
// calls. Built on berth's own HTTP/2 client (h2-session.ts), not @grpc/grpc-js or
// node:http2: the CLI's start time is part of its speed goal (issue 15), and loading
// either costs more than the calls of a `berth run`. Calls are plain HTTP/2 streams: POST,
// application/grpc, TE: trailers, length-prefixed messages, grpc-status in the trailers.
import { Code } from '../errdefs/codes';
import { UnavailableError, type BerthError } from '../errdefs/errors';
import { StatusError, errorFromStatusCode } from '../errdefs/status';
import type { CallOptions, CallScope } from './call-options';
import { FrameError, MessageDeframer, bytesFieldHead, frameHeader } from './grpc-frames';
import { H2_ERROR } from '../grpc/h2-protocol';
import { H2ClientSession, type H2ClientStream, type H2StreamHandler, type HeaderFields } from './h2-session';
import { methodCodec, type MethodCodec } from './method-codec';

/** Responses a server stream may queue before the stream is paused (HTTP/2 flow control
 * then holds the server back). */
const QUEUE_HIGH_WATER = 64;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(raw: string | undefined): string {
  const s = raw ?? '';
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function field(fields: HeaderFields, name: string): string | undefined {
  for (const [n, v] of fields) if (n === name) return v;
  return undefined;
}

function transportError(err: unknown): BerthError {
  const msg = err instanceof Error ? err.message : String(err);
  return new UnavailableError(`connection error: desc = "transport: ${msg}"`);
}

/**
 * One gRPC call on an HTTP/2 stream. Requests are sent with send()/end(); responses are
 * read with next() or by iterating; `done` settles with the call's final status.
 */
export class GrpcCall<Req extends object, Res> implements AsyncIterable<Res>, H2StreamHandler {
  private readonly deframer = new MessageDeframer();
  private readonly queue: Res[] = [];
  private waiter: (() => void) | null = null;
  private drainWaiter: (() => void) | null = null;
  private failure: unknown = null;
  private finished = false;
  private sawHeaders = false;
  private statusCode: number | null = null;
  private statusMessage = '';
  private readonly cleanups: Array<() => void> = [];
  private readonly deadlineAt: number;
  private settle!: (err: unknown) => void;
  private stream!: H2ClientStream;
  /** Settles when the call ends: resolves on OK, rejects with the call's error. */
  readonly done: Promise<void>;

  constructor(
    private readonly codec: MethodCodec,
    opts: CallOptions,
  ) {
    this.deadlineAt = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    this.done = new Promise<void>((resolve, reject) => {
      this.settle = (err) => (err === null ? resolve() : reject(err));
    });
    // `done` is awaited by whoever reads; a caller that only iterates must not see an
    // unhandled rejection for the same error.
    this.done.catch(() => undefined);
    if (opts.signal) {
      const signal = opts.signal;
      if (signal.aborted) this.failure = abortReason(signal);
      else {
        const onAbort = (): void => this.fail(abortReason(signal));
        signal.addEventListener('abort', onAbort, { once: true });
        this.cleanups.push(() => signal.removeEventListener('abort', onAbort));
      }
    }
    if (opts.timeoutMs !== undefined) {
      const timer = setTimeout(() => this.fail(new StatusError(Code.DeadlineExceeded, 'context deadline exceeded')), opts.timeoutMs);
      this.cleanups.push(() => clearTimeout(timer));
    }
  }

  /** Binds the call to its stream (once opened); a call aborted before that is reset at once. */
  attach(stream: H2ClientStream): void {
    this.stream = stream;
    if (this.failure !== null) stream.reset(H2_ERROR.CANCEL);
  }

  onHeaders(fields: HeaderFields, _endStream: boolean): void {
    if (this.sawHeaders || field(fields, 'grpc-status') !== undefined) {
      // Trailers, or a trailers-only response.
      this.takeStatus(fields);
      this.sawHeaders = true;
      return;
    }
    this.sawHeaders = true;
    const status = Number(field(fields, ':status'));
    if (status !== 200) {
      this.statusCode = status === 503 || status === 502 || status === 504 ? Code.Unavailable : Code.Unknown;
      this.statusMessage = `unexpected HTTP status code received from server: ${String(status)}`;
    }
  }

  onData(chunk: Buffer): void {
    let messages: Buffer[];
    try {
      messages = this.deframer.push(chunk);
    } catch (err) {
      this.fail(new StatusError(Code.Internal, err instanceof FrameError ? err.message : String(err)));
      return;
    }
    for (const m of messages) {
      try {
        this.queue.push(this.codec.decode(m) as Res);
      } catch (err) {
        this.fail(new StatusError(Code.Internal, `grpc: failed to unmarshal the received message: ${err instanceof Error ? err.message : String(err)}`));
        return;
      }
    }
    if (this.queue.length >= QUEUE_HIGH_WATER) this.stream.pause();
    this.wake();
  }

  onDrain(): void {
    const w = this.drainWaiter;
    this.drainWaiter = null;
    w?.();
  }

  onClose(rstCode: number, error: Error | null): void {
    for (const c of this.cleanups) c();
    if (this.failure === null) {
      if (error) this.failure = transportError(error);
      else if (this.statusCode === null) {
        this.failure =
          rstCode === 0 ? new StatusError(Code.Internal, 'server closed the stream without sending trailers') : new StatusError(Code.Internal, `stream terminated by RST_STREAM with error code: ${rstCode}`);
      } else if (this.statusCode !== Code.OK) {
        // Past the deadline, the deadline is the answer whatever the server's own timer
        // made of it, as grpc-go reports the context's error.
        this.failure = Date.now() >= this.deadlineAt ? new StatusError(Code.DeadlineExceeded, 'context deadline exceeded') : errorFromStatusCode(this.statusCode, this.statusMessage);
      } else if (this.deframer.pending > 0) {
        this.failure = new StatusError(Code.Internal, 'server closed the stream in the middle of a message');
      }
    }
    this.finished = true;
    this.settle(this.failure);
    this.wake();
    this.onDrain();
  }

  private takeStatus(fields: HeaderFields): void {
    const code = Number(field(fields, 'grpc-status'));
    this.statusCode = Number.isInteger(code) ? code : Code.Unknown;
    this.statusMessage = decodeGrpcMessage(field(fields, 'grpc-message'));
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** Ends the call with err (cancellation, deadline, a bad frame): the stream is reset. */
  fail(err: unknown): void {
    if (this.finished) return;
    if (this.failure === null) this.failure = err;
    if (this.stream && !this.stream.closed) this.stream.reset(H2_ERROR.CANCEL);
  }

  /** Sends one request message; resolves when the stream can take more. */
  async send(req: Req): Promise<void> {
    await this.sendMessage([this.codec.encode(req)]);
  }

  /**
   * Sends `req` with one more bytes field, number `field`, whose value is `parts` joined,
   * without joining them: protobuf takes fields in any order, so the encoded request is
   * followed by the field's tag and length and then the parts as they are (a content
   * WRITE's 1 MiB of data is not copied into a message buffer). `req` must not set that
   * field itself.
   */
  async sendWithBytes(req: Req, field: number, parts: readonly Buffer[]): Promise<void> {
    let length = 0;
    for (const p of parts) length += p.length;
    await this.sendMessage([this.codec.encode(req), bytesFieldHead(field, length), ...parts]);
  }

  /** Writes one message made of `parts`, prefixed, without joining them (the session puts
   * them in one DATA frame); resolves when the stream can take more. */
  private async sendMessage(parts: readonly Buffer[]): Promise<void> {
    if (this.finished || this.stream.closed) {
      await this.done;
      throw new StatusError(Code.Internal, 'send on a finished call');
    }
    let length = 0;
    for (const p of parts) length += p.length;
    this.stream.write(frameHeader(length));
    let ok = true;
    for (const p of parts) ok = this.stream.write(p);
    if (!ok && !this.stream.closed) await new Promise<void>((resolve) => (this.drainWaiter = resolve));
  }

  /** Half-closes the request side (the server sees the end of requests). */
  end(): void {
    if (!this.stream.closed) this.stream.end();
  }

  /** The next response, or undefined once the call ended with OK; rejects with its error. */
  async next(): Promise<Res | undefined> {
    for (;;) {
      const m = this.queue.shift();
      if (m !== undefined) {
        if (this.queue.length < QUEUE_HIGH_WATER / 2 && this.stream.isPaused) this.stream.resume();
        return m;
      }
      if (this.finished) {
        await this.done;
        return undefined;
      }
      await new Promise<void>((resolve) => (this.waiter = resolve));
    }
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Res> {
    try {
      for (;;) {
        const m = await this.next();
        if (m === undefined) return;
        yield m;
      }
    } finally {
      // A reader that stops early (break, throw) cancels the call, as grpc-go's context does.
      this.fail(new StatusError(Code.Canceled, 'context canceled'));
    }
  }
}

/** A connection to one daemon; calls open streams on it, reconnecting when it was lost. */
export class Channel {
  private session: H2ClientSession | null = null;
  private closed = false;

  constructor(readonly address: string) {}

  private connect(): H2ClientSession {
    if (this.closed) throw new UnavailableError('grpc: the client connection is closing');
    if (this.session && !this.session.goingAway) return this.session;
    const session = new H2ClientSession(this.address);
    // Gone (GOAWAY, lost, out of stream ids): the next call makes a new connection.
    session.onGone = () => {
      if (this.session === session) this.session = null;
    };
    this.session = session;
    return session;
  }

  /** Opens a call of `path` (e.g. /containerd.services.tasks.v1.Tasks/Wait). */
  open<Req extends object, Res>(path: string, scope: CallScope, opts: CallOptions = {}): GrpcCall<Req, Res> {
    const codec = methodCodec(path);
    const session = this.connect();
    const headers: Array<readonly [string, string]> = [
      [':method', 'POST'],
      [':scheme', 'http'],
      [':path', path],
      [':authority', 'localhost'],
      ['content-type', 'application/grpc'],
      ['te', 'trailers'],
      ['user-agent', 'berth-client'],
    ];
    if (scope.namespace) headers.push(['containerd-namespace', scope.namespace]);
    if (scope.lease) headers.push(['containerd-lease', scope.lease]);
    if (opts.timeoutMs !== undefined) headers.push(['grpc-timeout', `${Math.max(1, Math.ceil(opts.timeoutMs))}m`]);
    const call = new GrpcCall<Req, Res>(codec, opts);
    call.attach(session.request(headers, call));
    return call;
  }

  /** A unary call: one request, one response. */
  async unary<Req extends object, Res>(path: string, req: Req, scope: CallScope, opts?: CallOptions): Promise<Res> {
    const call = this.open<Req, Res>(path, scope, opts);
    await call.send(req);
    call.end();
    const res = await call.next();
    await call.done;
    if (res === undefined) throw new StatusError(Code.Internal, 'grpc: no response message for a unary call');
    return res;
  }

  /** A server-streaming call's responses, as an async iterator; breaking out cancels it. */
  serverStream<Req extends object, Res>(path: string, req: Req, scope: CallScope, opts?: CallOptions): AsyncIterable<Res> {
    const call = this.open<Req, Res>(path, scope, opts);
    // Sending cannot block: the first request fits any window.
    void call.send(req).then(() => call.end(), () => undefined);
    return call;
  }

  close(): void {
    this.closed = true;
    this.session?.close();
    this.session = null;
  }
}
