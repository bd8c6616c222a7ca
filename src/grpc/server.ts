// berthd's gRPC server: services registered as with grpc-js (a ServiceDefinition and a
// handler map), served over berth's own HTTP/2 connection code on a unix socket.
// Status texts for transport-level failures are grpc-go's, since containerd is the
// reference clients compare against.
import { readFileSync } from 'node:fs';
import * as net from 'node:net';
import { Metadata, status as Status, type MethodDefinition, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { grpcMethodType, type GrpcCallObserver, type GrpcMethodStats } from './call-observer';
import { H2_ERROR, Http2ServerConnection, type H2Stream } from './http2-connection';
import { CallCore, DuplexCall, UnaryCall, WritableCall, type CallStatus, type Serialize } from './server-call';

export interface GrpcServerOptions {
  maxReceiveMessageLength?: number;
  maxSendMessageLength?: number;
  /** Closes connections that have not sent the HTTP/2 preface and SETTINGS by then
   * (default HANDSHAKE_TIMEOUT_MS, 10 s; see there why). */
  handshakeTimeoutMs?: number;
  /** Transport problems worth a log line (bad frames, socket errors). */
  onError?: (err: Error) => void;
  /** Told about every call whose handler runs (metrics); none by default. */
  observer?: GrpcCallObserver;
}

type AnyMethod = MethodDefinition<unknown, unknown>;
type Handler = (...args: unknown[]) => void;

interface Route {
  def: AnyMethod;
  handler: Handler;
  stats: GrpcMethodStats | undefined;
}

/** Headers that are transport, not call metadata. */
const RESERVED = new Set(['content-type', 'te', 'grpc-timeout', 'grpc-encoding', 'grpc-accept-encoding', 'content-length']);

const TIMEOUT_UNITS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1000, m: 1, u: 0.001, n: 0.000001 };
/** setTimeout's largest delay (a signed 32-bit count of ms); larger ones fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * grpc-timeout ("100m", "5S", ...) → absolute deadline in ms since the epoch (Infinity: no
 * header), or null when it is malformed. The largest, 99999999H, is ~11,400 years: still a
 * valid Date. The rules are
 * grpc-go 1.47's decodeTimeout (what containerd 1.6 serves with): 2–9 characters, a unit
 * of H/M/S/m/u/n, before it an integer as strconv.ParseInt reads it — so up to 8 digits
 * and, as there, an optional sign ("-1S" is a deadline already past).
 */
export function parseGrpcTimeout(v: string | undefined, now = Date.now()): number | null {
  if (v === undefined) return Infinity;
  if (v.length < 2 || v.length > 9) return null;
  const unit = TIMEOUT_UNITS[v[v.length - 1] as string];
  const digits = v.slice(0, -1);
  if (unit === undefined || !/^[+-]?[0-9]+$/.test(digits)) return null;
  return now + Number(digits) * unit;
}

/** listen(2) backlog asked for (the kernel caps it at /proc/sys/net/core/somaxconn). */
export const LISTEN_BACKLOG = 4096;
const MAX_CONNECTIONS = 16_384;

/** A somaxconn below LISTEN_BACKLOG shortens the backlog silently: worth a log line. */
function warnSomaxconn(onError: ((err: Error) => void) | undefined): void {
  try {
    const max = Number(readFileSync('/proc/sys/net/core/somaxconn', 'utf8').trim());
    if (max < LISTEN_BACKLOG) onError?.(new Error(`net.core.somaxconn is ${max}: connection bursts beyond that are refused (wanted ${LISTEN_BACKLOG})`));
  } catch {
    // not Linux, or no /proc: nothing to check
  }
}

/** decodeRequest's answer when the call has been ended instead. */
const FAILED: unique symbol = Symbol('request not decoded');
const OK_STATUS: CallStatus = Object.freeze({ code: Status.OK });
const IGNORE_DATA = (_d: Buffer): void => undefined;

/** A request message decoded, or FAILED with the call ended with grpc-go's status. */
function decodeRequest(core: CallCore, def: AnyMethod, bytes: Buffer, compressed: boolean): unknown {
  if (compressed) {
    core.finish({ code: Status.INTERNAL, details: 'grpc: compressed flag set with identity or empty encoding' });
    return FAILED;
  }
  try {
    return def.requestDeserialize(bytes);
  } catch (err) {
    core.finish({ code: Status.INTERNAL, details: `grpc: error unmarshalling request: ${(err as Error).message}` });
    return FAILED;
  }
}

class TooLarge extends Error {
  constructor(readonly size: number) {
    super('message too large');
  }
}

/** Splits DATA into length-prefixed gRPC messages. */
class MessageReader {
  private chunks: Buffer[] = [];
  private size = 0;

  constructor(private readonly max: number) {}

  /** Complete messages in `data` (and before it); each with its wire size. */
  push(data: Buffer): Array<{ bytes: Buffer; compressed: boolean; wire: number }> {
    this.chunks.push(data);
    this.size += data.length;
    const out: Array<{ bytes: Buffer; compressed: boolean; wire: number }> = [];
    while (this.size >= 5) {
      if ((this.chunks[0] as Buffer).length < 5) this.chunks = [Buffer.concat(this.chunks)];
      const head = this.chunks[0] as Buffer;
      const len = head.readUInt32BE(1);
      if (len > this.max) throw new TooLarge(len);
      if (this.size < 5 + len) break;
      const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks);
      out.push({ bytes: all.subarray(5, 5 + len), compressed: all[0] === 1, wire: 5 + len });
      const rest = all.subarray(5 + len);
      this.chunks = rest.length > 0 ? [rest] : [];
      this.size = rest.length;
    }
    return out;
  }
}

/** "application/grpc" or "application/grpc+<codec>"/"application/grpc;<params>", as grpc-go
 * accepts it (not "application/grpcfoo"). */
function isGrpcContentType(ct: string): boolean {
  const v = ct.toLowerCase();
  if (!v.startsWith('application/grpc')) return false;
  return v.length === 16 || v[16] === '+' || v[16] === ';';
}

export class GrpcServer {
  private readonly routes = new Map<string, Route>();
  private readonly serviceNames = new Set<string>();
  private readonly listeners: net.Server[] = [];
  private readonly connections = new Set<Http2ServerConnection>();
  private shuttingDown = false;
  private readonly maxRecv: number;
  private readonly maxSend: number;
  private onDrained: (() => void) | undefined;

  constructor(private readonly opts: GrpcServerOptions = {}) {
    this.maxRecv = opts.maxReceiveMessageLength ?? 4 * 1024 * 1024;
    this.maxSend = opts.maxSendMessageLength ?? 2 ** 31 - 1;
  }

  addService(def: ServiceDefinition, impl: UntypedServiceImplementation): void {
    for (const [name, m] of Object.entries(def) as Array<[string, AnyMethod]>) {
      const handler = (impl[name] ?? (m.originalName ? impl[m.originalName] : undefined)) as Handler | undefined;
      const [, service = '', method = ''] = m.path.split('/');
      this.serviceNames.add(service);
      // Every method of the service, as go-grpc-prometheus pre-registers them all.
      const stats = this.opts.observer?.method(service, method, grpcMethodType(m.requestStream, m.responseStream));
      if (!handler) continue;
      this.routes.set(m.path, { def: m, handler, stats });
    }
  }

  /** Listens on a unix socket path (which must not exist). */
  async listen(path: string): Promise<void> {
    warnSomaxconn(this.opts.onError);
    await this.serve(net.createServer((socket) => this.accept(socket)), { path });
  }

  /**
   * Listens on TCP (plaintext HTTP/2, as containerd's tcp_address). Port 0 picks one; the
   * bound address is returned. Nagle is off: a unary answer is a few small frames that
   * would otherwise wait for the peer's delayed ACK (Go's net package turns it off too).
   */
  async listenTcp(host: string, port: number): Promise<net.AddressInfo> {
    const server = await this.serve(net.createServer({ noDelay: true }, (socket) => this.accept(socket)), { host, port });
    return server.address() as net.AddressInfo;
  }

  /** Starts `server` listening with the bounds every listener gets; resolves once it listens. */
  private serve(server: net.Server, where: net.ListenOptions): Promise<net.Server> {
    // Beyond this many connections new ones are closed at once (each costs buffers and
    // a parser); far above what dockerd, kubelet and ctr processes open.
    server.maxConnections = MAX_CONNECTIONS;
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      // Node's default backlog is 511: a burst of 1000 connects then fails with EAGAIN on
      // a unix socket. The kernel caps it at net.core.somaxconn.
      server.listen({ ...where, backlog: LISTEN_BACKLOG }, () => {
        server.off('error', reject);
        server.on('error', (err) => this.opts.onError?.(err));
        this.listeners.push(server);
        resolve(server);
      });
    });
  }

  /** Stop accepting; let calls in flight finish (GOAWAY), then call back. */
  tryShutdown(cb: () => void): void {
    this.shuttingDown = true;
    for (const l of this.listeners.splice(0)) l.close();
    if (this.connections.size === 0) {
      cb();
      return;
    }
    this.onDrained = cb;
    for (const c of this.connections) c.shutdown();
  }

  forceShutdown(): void {
    this.shuttingDown = true;
    for (const l of this.listeners.splice(0)) l.close();
    for (const c of this.connections) c.destroy();
  }

  private accept(socket: net.Socket): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    const conn: Http2ServerConnection = new Http2ServerConnection(socket, {
      onStream: (s) => this.dispatch(s),
      // Room for two requests of the largest size at once, at least 32 MiB.
      maxHeldBytes: Math.max(32 * 1024 * 1024, 2 * (this.maxRecv + 5)),
      handshakeTimeoutMs: this.opts.handshakeTimeoutMs,
      onClose: () => {
        this.connections.delete(conn);
        if (this.connections.size === 0 && this.onDrained) {
          const cb = this.onDrained;
          this.onDrained = undefined;
          cb();
        }
      },
      onError: (err) => {
        // A client that goes away mid-call is routine.
        if ((err as NodeJS.ErrnoException).code !== 'ECONNRESET' && (err as NodeJS.ErrnoException).code !== 'EPIPE') this.opts.onError?.(err);
      },
    });
    this.connections.add(conn);
  }

  private fail(stream: H2Stream, st: CallStatus): void {
    const core = new CallCore(stream, new Metadata(), Infinity, this.maxSend, () => undefined);
    core.finish(st);
  }

  private dispatch(stream: H2Stream): void {
    const ct = stream.header('content-type') ?? '';
    if (!isGrpcContentType(ct)) {
      // Not a gRPC request at all (a browser, curl, h2spec's GETs): grpc-go 1.47 (containerd
      // 1.6) resets the stream with PROTOCOL_ERROR and answers nothing, and so does berthd.
      stream.reset(H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    const deadline = parseGrpcTimeout(stream.header('grpc-timeout'));
    if (deadline === null) {
      // grpc-go 1.47 (containerd 1.6) resets the stream with PROTOCOL_ERROR and no status,
      // before it looks at the method.
      stream.reset(H2_ERROR.PROTOCOL_ERROR);
      return;
    }
    if (deadline <= Date.now()) {
      // Already past ("-1S", "0S"): the handler is not run, as grpc-go's context is done.
      this.fail(stream, { code: Status.DEADLINE_EXCEEDED, details: 'context deadline exceeded' });
      return;
    }
    const path = stream.header(':path') ?? '';
    if (stream.header(':method') !== 'POST') {
      this.fail(stream, { code: Status.INTERNAL, details: `grpc: invalid gRPC request (method ${stream.header(':method') ?? ''}, content-type ${JSON.stringify(ct)})` });
      return;
    }
    const route = this.routes.get(path);
    if (!route) {
      const [, service = '', method = ''] = path.split('/');
      this.fail(stream, {
        code: Status.UNIMPLEMENTED,
        details: this.serviceNames.has(service) ? `unknown method ${method} for service ${service}` : `unknown service ${service}`,
      });
      return;
    }
    const encoding = stream.header('grpc-encoding');
    if (encoding !== undefined && encoding !== 'identity') {
      this.fail(stream, { code: Status.UNIMPLEMENTED, details: `grpc: Decompressor is not installed for grpc-encoding "${encoding}"` });
      return;
    }
    const md = new Metadata();
    for (const [k, v] of stream.fields) {
      if (k.charCodeAt(0) === 0x3a || RESERVED.has(k)) continue;
      try {
        if (k.endsWith('-bin')) md.add(k, Buffer.from(v, 'base64'));
        else md.add(k, v);
      } catch {
        // a key grpc-js would refuse: not metadata a handler can use
      }
    }
    let onCancel: () => void = () => undefined;
    const core = new CallCore(stream, md, deadline, this.maxSend, () => onCancel());
    let timer: NodeJS.Timeout | undefined;
    if (Number.isFinite(deadline)) {
      const expire = (): void => {
        core.finish({ code: Status.DEADLINE_EXCEEDED, details: 'context deadline exceeded' });
        core.cancel();
      };
      // Deadlines beyond setTimeout's range (e.g. "1000H") are waited out in steps.
      const arm = (): void => {
        const left = Math.max(0, deadline - Date.now());
        timer = left > MAX_TIMER_MS ? setTimeout(arm, MAX_TIMER_MS) : setTimeout(expire, left);
        timer.unref();
      };
      arm();
    }
    const clear = (): void => {
      if (timer) clearTimeout(timer);
      timer = undefined;
    };
    stream.onReset = () => {
      clear();
      core.cancel();
    };
    const { def, handler, stats } = route;
    const serialize: Serialize = def.responseSerialize;

    if (def.requestStream && def.responseStream) {
      const reader = new MessageReader(this.maxRecv);
      const call = new DuplexCall(core, serialize);
      onCancel = () => {
        clear();
        call.emit('cancelled');
        call.destroy();
      };
      stream.onData = (d) => {
        for (const m of this.readMessages(core, reader, d) ?? []) {
          const value = decodeRequest(core, def, m.bytes, m.compressed);
          if (value === FAILED) {
            stream.onData = IGNORE_DATA;
            return;
          }
          call.deliver(value);
        }
        call.received(d.length);
      };
      stream.onEnd = () => {
        call.push(null);
      };
      call.once('close', clear);
      if (stats) core.observe(stats, false);
      this.invoke(core, () => handler(call));
      return;
    }
    if (def.requestStream) {
      this.fail(stream, { code: Status.UNIMPLEMENTED, details: `client streaming is not supported: ${path}` });
      return;
    }

    // Unary and server streaming: one request, then the handler — as grpc-go, once the
    // first complete message is in, whether or not the client has ended its side. What
    // comes after it is dropped and its window not returned, so a client that keeps
    // sending is stopped by flow control, and nothing past one message is buffered.
    let request: Buffer | undefined;
    let compressed = false;
    /** Only for a request that arrives in pieces (most come whole in one DATA frame). */
    let reader: MessageReader | undefined;
    let started = false;
    const start = (): void => {
      if (started || core.done) return;
      started = true;
      if (request === undefined) {
        core.finish({ code: Status.INTERNAL, details: 'grpc: server received no request message' });
        return;
      }
      const value = decodeRequest(core, def, request, compressed);
      if (value === FAILED) return;
      if (def.responseStream) {
        const call = new WritableCall(core, value, serialize);
        onCancel = () => {
          clear();
          call.emit('cancelled');
          call.destroy();
        };
        call.once('close', clear);
        if (stats) core.observe(stats, true);
        this.invoke(core, () => handler(call));
        return;
      }
      const call = new UnaryCall(core, value);
      onCancel = () => {
        clear();
        call.emit('cancelled');
      };
      if (stats) core.observe(stats, true);
      try {
        handler(call, (err: CallStatus | null, res?: unknown) => {
          clear();
          if (core.done) return;
          if (err) {
            core.finish(err);
            return;
          }
          if (core.sendResponse(res, serialize)) core.finish(OK_STATUS);
        });
      } catch (err) {
        core.finish({ code: Status.UNKNOWN, details: (err as Error).message });
      }
    };
    stream.onData = (d) => {
      if (request !== undefined || core.done) return;
      // The message so far stays with us until the stream closes: counted against the
      // connection's budget, so many streams of large messages cannot add up unbounded.
      if (!stream.hold(d.length)) {
        core.finish({ code: Status.RESOURCE_EXHAUSTED, details: 'grpc: too much request data held on this connection' });
        return;
      }
      if (reader === undefined && d.length >= 5) {
        // The whole message in this one frame: taken as it is, no reader.
        const len = d.readUInt32BE(1);
        if (len <= this.maxRecv && d.length >= 5 + len) {
          request = d.subarray(5, 5 + len);
          compressed = d[0] === 1;
          queueMicrotask(start);
          return;
        }
      }
      reader ??= new MessageReader(this.maxRecv);
      const ms = this.readMessages(core, reader, d);
      if (ms === undefined) return;
      const m = ms[0];
      if (m === undefined) {
        // Incomplete: the client needs window for the rest (a request may be larger than
        // the stream's initial window; the size limit bounds it).
        stream.consumed(d.length);
        return;
      }
      request = m.bytes;
      compressed = m.compressed;
      // Started once this read's frames are handled: if this DATA frame also ended the
      // stream, the answer then needs no RST_STREAM after it.
      queueMicrotask(start);
    };
    stream.onEnd = start;
  }

  /** Complete messages in `d` (and before it), or undefined when one is too large (the
   * call is then ended with ResourceExhausted and the rest of its DATA ignored). */
  private readMessages(core: CallCore, reader: MessageReader, d: Buffer): Array<{ bytes: Buffer; compressed: boolean; wire: number }> | undefined {
    try {
      return reader.push(d);
    } catch (err) {
      if (!(err instanceof TooLarge)) throw err;
      core.finish({ code: Status.RESOURCE_EXHAUSTED, details: `grpc: received message larger than max (${err.size} vs. ${this.maxRecv})` });
      core.stream.onData = IGNORE_DATA;
      return undefined;
    }
  }

  /** Runs a handler; a synchronous throw is the call's Unknown status, not the server's. */
  private invoke(core: CallCore, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      core.finish({ code: Status.UNKNOWN, details: (err as Error).message });
    }
  }
}
