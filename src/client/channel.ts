// One HTTP/2 connection to a containerd-compatible daemon's unix socket, carrying gRPC
// calls. Built on node:http2 rather than @grpc/grpc-js: the CLI's start time is part of
// its speed goal (issue 15), and node:http2 plus berth's own codec load in a fraction of
// grpc-js's time. Calls are plain HTTP/2 streams: POST, application/grpc, TE: trailers,
// length-prefixed messages, grpc-status in the trailers.
import * as http2 from 'node:http2';
import * as net from 'node:net';
import { Code } from '../errdefs/codes';
import { UnavailableError, type BerthError } from '../errdefs/errors';
import { StatusError, errorFromStatusCode } from '../errdefs/status';
import type { CallOptions, CallScope } from './call-options';
import { FrameError, MessageDeframer, frameHeader, frameMessage } from './grpc-frames';
import { methodCodec, type MethodCodec } from './method-codec';

const { NGHTTP2_CANCEL } = http2.constants;

/** Responses a server stream may queue before the stream is paused (HTTP/2 flow control
 * then holds the server back). */
const QUEUE_HIGH_WATER = 64;

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/** grpc-message is percent-encoded (gRPC over HTTP/2 spec). */
function decodeGrpcMessage(raw: string | string[] | undefined): string {
  const s = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

function transportError(err: unknown): BerthError {
  const msg = err instanceof Error ? err.message : String(err);
  return new UnavailableError(`connection error: desc = "transport: ${msg}"`);
}

/**
 * One gRPC call on an HTTP/2 stream. Requests are sent with send()/end(); responses are
 * read with next() or by iterating; `done` settles with the call's final status.
 */
export class GrpcCall<Req extends object, Res> implements AsyncIterable<Res> {
  private readonly deframer = new MessageDeframer();
  private readonly queue: Res[] = [];
  private waiter: (() => void) | null = null;
  private failure: unknown = null;
  private finished = false;
  private statusCode: number | null = null;
  private statusMessage = '';
  private readonly cleanups: Array<() => void> = [];
  private readonly deadlineAt: number;
  /** Settles when the call ends: resolves on OK, rejects with the call's error. */
  readonly done: Promise<void>;

  constructor(
    private readonly stream: http2.ClientHttp2Stream,
    private readonly codec: MethodCodec,
    opts: CallOptions,
  ) {
    this.deadlineAt = opts.timeoutMs !== undefined ? Date.now() + opts.timeoutMs : Infinity;
    let settle!: (err: unknown) => void;
    this.done = new Promise<void>((resolve, reject) => {
      settle = (err) => (err === null ? resolve() : reject(err));
    });
    // `done` is awaited by whoever reads; a caller that only iterates must not see an
    // unhandled rejection for the same error.
    this.done.catch(() => undefined);
    stream.on('response', (headers) => {
      const status = headers[':status'];
      if (headers['grpc-status'] !== undefined) this.takeStatus(headers);
      else if (status !== 200) {
        this.statusCode = status === 503 || status === 502 || status === 504 ? Code.Unavailable : Code.Unknown;
        this.statusMessage = `unexpected HTTP status code received from server: ${String(status)}`;
      }
    });
    stream.on('trailers', (trailers) => this.takeStatus(trailers));
    stream.on('data', (chunk: Buffer) => {
      let messages: Buffer[];
      try {
        messages = this.deframer.push(chunk);
      } catch (err) {
        this.fail(new StatusError(Code.Internal, err instanceof FrameError ? err.message : String(err)));
        return;
      }
      for (const m of messages) {
        try {
          this.queue.push(codec.decode(m) as Res);
        } catch (err) {
          this.fail(new StatusError(Code.Internal, `grpc: failed to unmarshal the received message: ${err instanceof Error ? err.message : String(err)}`));
          return;
        }
      }
      if (this.queue.length >= QUEUE_HIGH_WATER) stream.pause();
      this.wake();
    });
    stream.on('error', (err: Error) => {
      if (this.failure === null) this.failure = transportError(err);
    });
    stream.on('close', () => {
      for (const c of this.cleanups) c();
      if (this.failure === null) {
        if (this.statusCode === null) {
          const rst = stream.rstCode ?? 0;
          this.failure =
            rst === 0 ? new StatusError(Code.Internal, 'server closed the stream without sending trailers') : new StatusError(Code.Internal, `stream terminated by RST_STREAM with error code: ${rst}`);
        } else if (this.statusCode !== Code.OK) {
          // Past the deadline, the deadline is the answer whatever the server's own timer
          // made of it, as grpc-go reports the context's error.
          this.failure =
            Date.now() >= this.deadlineAt ? new StatusError(Code.DeadlineExceeded, 'context deadline exceeded') : errorFromStatusCode(this.statusCode, this.statusMessage);
        } else if (this.deframer.pending > 0) {
          this.failure = new StatusError(Code.Internal, 'server closed the stream in the middle of a message');
        }
      }
      this.finished = true;
      settle(this.failure);
      this.wake();
    });
    if (opts.signal) {
      const signal = opts.signal;
      if (signal.aborted) this.fail(abortReason(signal));
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

  private takeStatus(h: http2.IncomingHttpHeaders): void {
    const code = Number(h['grpc-status']);
    this.statusCode = Number.isInteger(code) ? code : Code.Unknown;
    this.statusMessage = decodeGrpcMessage(h['grpc-message']);
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
    if (!this.stream.closed) this.stream.close(NGHTTP2_CANCEL);
  }

  /** Sends one request message; resolves when the stream can take more. */
  async send(req: Req): Promise<void> {
    if (this.finished || this.stream.closed) {
      await this.done;
      throw new StatusError(Code.Internal, 'send on a finished call');
    }
    const message = this.codec.encode(req);
    // Small messages in one write; large ones (content) without copying them to frame them.
    const fits = message.length < 16 * 1024;
    if (!fits) this.stream.write(frameHeader(message.length));
    if (!this.stream.write(fits ? frameMessage(message) : message)) {
      await new Promise<void>((resolve) => {
        const go = (): void => {
          this.stream.off('drain', go);
          this.stream.off('close', go);
          resolve();
        };
        this.stream.on('drain', go);
        this.stream.on('close', go);
      });
    }
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
        if (this.queue.length < QUEUE_HIGH_WATER / 2 && this.stream.isPaused()) this.stream.resume();
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
  private session: http2.ClientHttp2Session | null = null;
  private active = 0;
  private closed = false;

  constructor(readonly address: string) {}

  private connect(): http2.ClientHttp2Session {
    if (this.closed) throw new UnavailableError('grpc: the client connection is closing');
    if (this.session && !this.session.closed && !this.session.destroyed) return this.session;
    const session = http2.connect('http://localhost', {
      createConnection: () => net.connect(this.address),
      // Go's client advertises 4 MiB windows; large reads (content) benefit the same way.
      settings: { initialWindowSize: 4 << 20 },
    });
    session.on('error', () => {
      // Every stream on the session gets its own error event; nothing to do here but
      // keep the error from being thrown as an unhandled 'error' event.
    });
    const drop = (): void => {
      if (this.session === session) this.session = null;
    };
    session.on('close', drop);
    session.on('goaway', drop);
    this.session = session;
    if (this.active === 0) session.unref();
    return session;
  }

  /** Opens a call of `path` (e.g. /containerd.services.tasks.v1.Tasks/Wait). */
  open<Req extends object, Res>(path: string, scope: CallScope, opts: CallOptions = {}): GrpcCall<Req, Res> {
    const codec = methodCodec(path);
    const session = this.connect();
    const headers: http2.OutgoingHttpHeaders = {
      ':method': 'POST',
      ':path': path,
      'content-type': 'application/grpc',
      te: 'trailers',
      'user-agent': 'berth-client',
    };
    if (scope.namespace) headers['containerd-namespace'] = scope.namespace;
    if (scope.lease) headers['containerd-lease'] = scope.lease;
    if (opts.timeoutMs !== undefined) headers['grpc-timeout'] = `${Math.max(1, Math.ceil(opts.timeoutMs))}m`;
    const stream = session.request(headers, { endStream: false });
    // The process may exit while no call is in flight: the connection holds it only then.
    if (this.active++ === 0) session.ref();
    stream.once('close', () => {
      if (--this.active === 0 && !session.destroyed) session.unref();
    });
    return new GrpcCall<Req, Res>(stream, codec, opts);
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
