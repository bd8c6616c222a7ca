// ttrpc 1.1 client (github.com/containerd/ttrpc client.go semantics) over a unix socket.
//
// - calls are multiplexed on one connection: odd stream ids 1, 3, 5, …; responses may
//   arrive in any order;
// - a timeout is sent as timeout_nano (remaining time) and also enforced locally
//   (DeadlineExceeded, like Go's ctx.Err());
// - a non-OK Response.status becomes a berth error class (errdefs.FromGRPC, see errors.ts);
// - when the connection drops every pending call fails with TtrpcClosedError.
import * as net from 'node:net';
import {
  FrameDecoder,
  MESSAGE_LENGTH_MAX,
  MESSAGE_TYPE_REQUEST,
  MESSAGE_TYPE_RESPONSE,
  encodeFrame,
  oversizeMessage,
  type MessageHeader,
} from './frame';
import { Code, TtrpcClosedError, TtrpcStatusError, errorFromStatus } from './errors';
import { decodeWith, encodeWith, methodTypes } from './methods';
import { NAMESPACE_METADATA_KEY, decodeResponse, encodeRequest, type KeyValue } from './wire';

export interface CallOptions {
  /** Request metadata; keys are lower-cased (Go's MD.Set). */
  metadata?: Record<string, string | readonly string[]>;
  /** Shorthand for metadata `containerd-namespace-ttrpc`. */
  namespace?: string;
  /** Deadline for the call: sent to the server as timeout_nano and enforced here. */
  timeoutMs?: number;
  /** Cancels the call (it fails with Canceled; the server is not told, as in Go). */
  signal?: AbortSignal;
}

export interface ConnectOptions {
  /** Give up connecting after this long (default 5000, ttrpcutil's dial timeout). */
  timeoutMs?: number;
}

interface Pending {
  resolve(payload: Uint8Array): void;
  reject(err: Error): void;
}

/** Strips containerd's `unix://` prefix; a path without it is used as is. */
export function socketPath(address: string): string {
  return address.startsWith('unix://') ? address.slice('unix://'.length) : address;
}

export class TtrpcClient {
  private readonly pending = new Map<number, Pending>();
  private readonly decoder: FrameDecoder;
  private nextId = 1;
  private closedError: Error | undefined;
  private readonly closeWaiters = new Set<() => void>();

  /** Connects to a ttrpc server on a unix socket path (`unix://` prefix allowed; "\0name" = abstract). */
  static connect(address: string, opts: ConnectOptions = {}): Promise<TtrpcClient> {
    const timeoutMs = opts.timeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const socket = net.connect(socketPath(address));
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TtrpcStatusError(Code.DeadlineExceeded, `ttrpc: dial ${address}: timed out after ${timeoutMs}ms`));
      }, timeoutMs);
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(new TtrpcClient(socket));
      });
      socket.once('error', (err) => {
        clearTimeout(timer);
        reject(new TtrpcClosedError(`dial ${address}: ${err.message}`));
      });
    });
  }

  /** Wraps an already-connected socket. */
  constructor(private readonly socket: net.Socket) {
    this.decoder = new FrameDecoder({
      message: (h, p) => this.onMessage(h, p),
      oversized: (h) => this.settle(h.streamId, new TtrpcStatusError(Code.ResourceExhausted, oversizeMessage(h.length))),
    });
    socket.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    socket.on('error', (err) => {
      this.closedError ??= new TtrpcClosedError(err.message);
    });
    socket.once('close', () => this.onClose());
    if (socket.destroyed) queueMicrotask(() => this.onClose());
  }

  /** True once the connection is closed (by close(), the peer, or an error). */
  get closed(): boolean {
    return this.closedError !== undefined && this.socket.destroyed;
  }

  /** Resolves when the connection has closed. */
  waitClosed(): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.add(resolve));
  }

  /**
   * Calls fn once the connection has closed (at once if it has); returns a function that
   * unregisters it. For users of a long-lived connection that stop caring before it
   * closes: a waitClosed() promise per user would stay pending until then.
   */
  onClosed(fn: () => void): () => void {
    if (this.closed) {
      queueMicrotask(fn);
      return () => undefined;
    }
    const once = (): void => fn();
    this.closeWaiters.add(once);
    return () => void this.closeWaiters.delete(once);
  }

  /**
   * Calls a unary method of a service in berth's proto registry, e.g.
   * `call<StateResponse__Output>('containerd.task.v2.Task', 'State', { id })`. The
   * request is encoded with the method's request type; the response is decoded with the
   * registry's DECODE_OPTIONS (the generated `__Output` shape).
   */
  async call<Res extends object = Record<string, unknown>>(service: string, method: string, request: object, opts: CallOptions = {}): Promise<Res> {
    const types = methodTypes(service, method);
    const payload = encodeWith(types.requestType, request);
    const response = await this.callRaw(service, method, payload, opts);
    try {
      return decodeWith<Res>(types.responseType, response);
    } catch (err) {
      throw new TtrpcStatusError(Code.Internal, `ttrpc: decoding ${service}/${method} response: ${(err as Error).message}`);
    }
  }

  /** Calls a method with an already-encoded request payload; resolves to the response payload. */
  callRaw(service: string, method: string, payload: Uint8Array, opts: CallOptions = {}): Promise<Buffer> {
    if (this.closedError || this.socket.destroyed) return Promise.reject(this.closedError ?? new TtrpcClosedError());
    if (opts.signal?.aborted) return Promise.reject(new TtrpcStatusError(Code.Canceled, 'context canceled'));
    const metadata = metadataList(opts);
    const timeoutNano = opts.timeoutMs !== undefined ? Math.max(1, Math.round(opts.timeoutMs * 1e6)) : 0;
    const body = encodeRequest({ service, method, payload, timeoutNano, metadata });
    if (body.length > MESSAGE_LENGTH_MAX) {
      return Promise.reject(new TtrpcStatusError(Code.ResourceExhausted, `${service}/${method}: request ${oversizeMessage(body.length)}`));
    }
    const id = this.allocateId();
    return new Promise<Buffer>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const onAbort = (): void => finish(new TtrpcStatusError(Code.Canceled, 'context canceled'));
      const finish = (err: Error | undefined, result?: Uint8Array): void => {
        if (!this.pending.delete(id)) return;
        if (timer) clearTimeout(timer);
        opts.signal?.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve(Buffer.isBuffer(result) ? result : Buffer.from(result ?? new Uint8Array(0)));
      };
      this.pending.set(id, { resolve: (p) => finish(undefined, p), reject: (e) => finish(e) });
      if (opts.timeoutMs !== undefined) {
        timer = setTimeout(() => finish(new TtrpcStatusError(Code.DeadlineExceeded, 'context deadline exceeded')), Math.max(0, opts.timeoutMs));
      }
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      this.socket.write(encodeFrame(id, MESSAGE_TYPE_REQUEST, body));
    });
  }

  /** Closes the connection; pending calls fail with TtrpcClosedError. */
  close(): void {
    this.closedError ??= new TtrpcClosedError();
    this.socket.destroy();
  }

  /** Lets the process exit while the connection is open (and idle). */
  unref(): this {
    this.socket.unref();
    return this;
  }

  ref(): this {
    this.socket.ref();
    return this;
  }

  private allocateId(): number {
    for (;;) {
      const id = this.nextId;
      this.nextId = (this.nextId + 2) >>> 0; // stays odd across the uint32 wrap
      if (!this.pending.has(id)) return id;
    }
  }

  private settle(streamId: number, err: Error | undefined, payload?: Uint8Array): void {
    const p = this.pending.get(streamId);
    if (!p) return; // late answer to a call that timed out or was canceled (Go logs and drops it)
    if (err) p.reject(err);
    else p.resolve(payload ?? new Uint8Array(0));
  }

  private onMessage(header: MessageHeader, body: Buffer): void {
    if (header.type !== MESSAGE_TYPE_RESPONSE) {
      this.settle(header.streamId, new Error('unknown message type received'));
      return;
    }
    let res;
    try {
      res = decodeResponse(body);
    } catch (err) {
      this.settle(header.streamId, new TtrpcStatusError(Code.Internal, `ttrpc: bad response: ${(err as Error).message}`));
      return;
    }
    if (res.status && res.status.code !== Code.OK) {
      this.settle(header.streamId, errorFromStatus(res.status.code, res.status.message));
      return;
    }
    this.settle(header.streamId, undefined, res.payload);
  }

  private onClose(): void {
    const err = this.closedError ?? new TtrpcClosedError();
    this.closedError = err;
    for (const p of [...this.pending.values()]) p.reject(err);
    this.pending.clear();
    const waiters = [...this.closeWaiters];
    this.closeWaiters.clear();
    for (const w of waiters) w();
  }
}

function metadataList(opts: CallOptions): KeyValue[] {
  const out: KeyValue[] = [];
  if (opts.metadata) {
    for (const [k, v] of Object.entries(opts.metadata)) {
      const key = k.toLowerCase();
      if (typeof v === 'string') out.push({ key, value: v });
      else for (const value of v) out.push({ key, value });
    }
  }
  if (opts.namespace !== undefined && !out.some((kv) => kv.key === NAMESPACE_METADATA_KEY)) {
    out.push({ key: NAMESPACE_METADATA_KEY, value: opts.namespace });
  }
  return out;
}
