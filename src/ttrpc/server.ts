// ttrpc 1.1 server (github.com/containerd/ttrpc server.go semantics) on a unix socket.
//
// - services are registered by name; request/response types come from berth's proto
//   registry (root.lookupService), handlers are unary async functions;
// - requests on one connection run concurrently, responses go out as they finish;
// - errors thrown by a handler become Response.status with the errdefs code;
//   unknown service/method → Unimplemented "service X" / "method Y" (Go's wording);
//   bad Request → InvalidArgument "unmarshal request error: …"; even stream id →
//   InvalidArgument; undecodable payload → Internal; oversized message → ResourceExhausted;
// - peers must run as our euid/egid (like containerd's UnixSocketRequireSameUser);
// - shutdown() stops accepting and closes each connection once its in-flight calls have
//   answered; close() drops everything at once.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import {
  FrameDecoder,
  MESSAGE_LENGTH_MAX,
  MESSAGE_TYPE_REQUEST,
  MESSAGE_TYPE_RESPONSE,
  encodeFrame,
  oversizeMessage,
  type MessageHeader,
} from './frame';
import { Code, statusFromError } from './errors';
import { decodeWith, encodeWith, serviceMethods, type MethodTypes } from './methods';
import { checkSameUser } from './peercred';
import { NAMESPACE_METADATA_KEY, decodeRequest, encodeResponse, type WireRequest } from './wire';

export { NAMESPACE_METADATA_KEY };

export interface CallContext {
  readonly service: string;
  readonly method: string;
  /** Request metadata as sent (Go ttrpc's MD: key → values in order). */
  readonly metadata: Record<string, string[]>;
  /** First value of `containerd-namespace-ttrpc`, if any. */
  readonly namespace?: string;
  /** Absolute deadline (ms since the epoch, Date.now() scale) from timeout_nano. */
  readonly deadline?: number;
  /** Aborted when the deadline passes or the connection closes. */
  readonly signal: AbortSignal;
}

// Method-shorthand bivariance: a handler typed with its own request type (e.g.
// StateRequest__Output) is accepted where the server stores generic handlers.
type BivariantHandler<Req, Res> = {
  bivarianceHack(request: Req, ctx: CallContext): Promise<Res> | Res;
}['bivarianceHack'];

/** A unary handler. `request` is decoded with the registry's DECODE_OPTIONS (the
 * generated `__Output` types); the result is encoded with the method's response type
 * (an EncodedMessage is sent as is). */
export type UnaryHandler<Req extends object = object, Res extends object = object> = BivariantHandler<Req, Res>;

export type ServiceHandlers = Record<string, UnaryHandler>;

export type PeerCheck = 'same-user' | 'off' | ((socket: net.Socket) => Promise<Error | undefined>);

export interface TtrpcServerOptions {
  /** Who may connect. Default 'same-user': the peer's euid and egid must equal ours
   * (see peercred.ts for how this is established without SO_PEERCRED); connections
   * whose peer cannot be identified are refused. */
  peerCheck?: PeerCheck;
  /** Mode of the socket file (default 0o600), applied before anyone can connect. */
  socketMode?: number;
  /** Connection-level problems (refused peers, write failures, undecodable frames). */
  onError?: (err: Error) => void;
}

export interface ListenOptions {
  /** Remove a socket file left at the path by a dead server (nobody accepts on it). */
  removeStale?: boolean;
}

interface RegisteredMethod {
  types: MethodTypes;
  handler: UnaryHandler;
}

// Longest sun_path Linux accepts (108 with the NUL).
const SUN_PATH_MAX = 107;

export class TtrpcServer {
  private readonly services = new Map<string, Map<string, RegisteredMethod | undefined>>();
  private readonly connections = new Set<ServerConnection>();
  private readonly listeners: { server: net.Server; path?: string; ino?: number }[] = [];
  private readonly peerCheck: PeerCheck;
  private readonly socketMode: number;
  readonly onError: (err: Error) => void;
  private shuttingDown = false;

  constructor(opts: TtrpcServerOptions = {}) {
    this.peerCheck = opts.peerCheck ?? 'same-user';
    this.socketMode = opts.socketMode ?? 0o600;
    this.onError = opts.onError ?? (() => undefined);
  }

  /**
   * Registers a service of the proto registry, e.g. `containerd.task.v2.Task`. Methods
   * of the service without a handler answer Unimplemented "method X".
   */
  register(service: string, handlers: ServiceHandlers): void {
    if (this.services.has(service)) throw new Error(`duplicate service ${service} registered`);
    const methods = serviceMethods(service); // throws for a service unknown to the registry
    const table = new Map<string, RegisteredMethod | undefined>();
    for (const [name, handler] of Object.entries(handlers)) {
      const types = methods.get(name);
      if (!types) throw new Error(`ttrpc: service ${service} has no unary method ${name}`);
      table.set(name, { types, handler });
    }
    this.services.set(service, table);
  }

  /**
   * Listens on a unix socket: a path (created with socketMode before it becomes
   * connectable), an abstract name ("\0name"), or an inherited listening fd.
   */
  async listen(address: string | { fd: number }, opts: ListenOptions = {}): Promise<void> {
    if (this.shuttingDown) throw new Error('ttrpc: server closed');
    const server = net.createServer({ pauseOnConnect: true }, (socket) => this.accept(socket));
    server.once('listening', () => server.on('error', (err) => this.onError(err)));
    if (typeof address !== 'string') {
      await listenOn(server, { fd: address.fd });
      this.listeners.push({ server });
      return;
    }
    const p = address.startsWith('unix://') ? address.slice('unix://'.length) : address;
    if (p.startsWith('\0')) {
      await listenOn(server, { path: p });
      this.listeners.push({ server });
      return;
    }
    const dir = path.dirname(p);
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    if (opts.removeStale) await removeStaleSocket(p);
    const tmpDir = fs.mkdtempSync(path.join(dir, '.ttrpc-'));
    const tmpSock = path.join(tmpDir, 's');
    try {
      if (Buffer.byteLength(tmpSock) <= SUN_PATH_MAX) {
        // Bind inside a private 0700 directory, set the mode, then hard-link into place:
        // nobody can connect before the mode is right, and an existing file is never
        // replaced (link fails with EEXIST).
        await listenOn(server, { path: tmpSock });
        try {
          fs.chmodSync(tmpSock, this.socketMode);
          fs.linkSync(tmpSock, p);
        } catch (err) {
          await closeServer(server);
          throw err;
        }
      } else {
        // The temporary path would be too long: bind in place and chmod (Go's NewSocket).
        await listenOn(server, { path: p });
        fs.chmodSync(p, this.socketMode);
      }
    } finally {
      fs.rmSync(tmpDir, { recursive: true, force: true });
    }
    this.listeners.push({ server, path: p, ino: fs.statSync(p).ino });
  }

  /** Serves one already-connected socket (e.g. one end of a socketpair). No peer check. */
  serveSocket(socket: net.Socket): void {
    this.startConnection(socket);
  }

  /** Number of open connections. */
  get connectionCount(): number {
    return this.connections.size;
  }

  /**
   * Graceful stop: stop accepting, let every connection finish its in-flight calls
   * (closing each once idle), then resolve. After graceMs the rest are dropped.
   */
  async shutdown(graceMs = 10_000): Promise<void> {
    this.shuttingDown = true;
    const closing = this.closeListeners();
    const waits = [...this.connections].map((c) => c.drain());
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, graceMs);
      timer.unref();
    });
    await Promise.race([Promise.all(waits), timedOut]);
    if (timer) clearTimeout(timer);
    for (const c of this.connections) c.destroy();
    await closing;
  }

  /** Immediate stop: listeners and all connections closed, in-flight calls abandoned. */
  async close(): Promise<void> {
    this.shuttingDown = true;
    for (const c of this.connections) c.destroy();
    await this.closeListeners();
  }

  private async closeListeners(): Promise<void> {
    const ls = this.listeners.splice(0);
    // net.Server.close() stops accepting at once but calls back only when every
    // connection is gone: remove the socket files now, not then.
    const closing = ls.map((l) => closeServer(l.server));
    for (const l of ls) {
      if (l.path === undefined) continue;
      try {
        if (fs.statSync(l.path).ino === l.ino) fs.unlinkSync(l.path); // only if still ours
      } catch {
        /* already gone */
      }
    }
    await Promise.all(closing);
  }

  private accept(socket: net.Socket): void {
    if (this.shuttingDown) {
      socket.destroy();
      return;
    }
    const check = this.peerCheck;
    if (check === 'off') {
      this.startConnection(socket);
      return;
    }
    const fn = check === 'same-user' ? checkSameUser : check;
    fn(socket).then(
      (err) => {
        if (err) {
          this.onError(err);
          socket.destroy();
        } else if (this.shuttingDown || socket.destroyed) {
          socket.destroy();
        } else {
          this.startConnection(socket);
        }
      },
      (err: unknown) => {
        this.onError(err instanceof Error ? err : new Error(String(err)));
        socket.destroy();
      },
    );
  }

  private startConnection(socket: net.Socket): void {
    const conn = new ServerConnection(this, socket);
    this.connections.add(conn);
    socket.once('close', () => this.connections.delete(conn));
    conn.start();
  }

  /** @internal */
  lookup(service: string, method: string): RegisteredMethod | { code: number; message: string } {
    const svc = this.services.get(service);
    if (!svc) return { code: Code.Unimplemented, message: `service ${service}` };
    const m = svc.get(method);
    if (!m) return { code: Code.Unimplemented, message: `method ${method}` };
    return m;
  }
}

class ServerConnection {
  private readonly decoder: FrameDecoder;
  private readonly inflight = new Set<AbortController>();
  private draining = false;
  private drained: (() => void) | undefined;
  private closed = false;

  constructor(private readonly server: TtrpcServer, private readonly socket: net.Socket) {
    this.decoder = new FrameDecoder({
      message: (h, p) => this.onMessage(h, p),
      oversized: (h) => this.send(h.streamId, { code: Code.ResourceExhausted, message: oversizeMessage(h.length) }),
    });
  }

  start(): void {
    const s = this.socket;
    s.on('data', (chunk: Buffer) => this.decoder.push(chunk));
    s.on('error', (err) => {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ECONNRESET' && code !== 'EPIPE') this.server.onError(err);
    });
    s.once('close', () => {
      this.closed = true;
      for (const ac of this.inflight) ac.abort(new Error('ttrpc: connection closed'));
      this.inflight.clear();
      this.drained?.();
    });
    s.resume();
  }

  /** Resolves once the connection is closed; closes it as soon as it is idle. */
  drain(): Promise<void> {
    this.draining = true;
    return new Promise((resolve) => {
      if (this.closed) return resolve();
      this.drained = resolve;
      this.closeIfIdle();
    });
  }

  destroy(): void {
    this.socket.destroy();
  }

  private closeIfIdle(): void {
    if (this.draining && this.inflight.size === 0 && this.decoder.idle) this.socket.end();
  }

  private onMessage(header: MessageHeader, payload: Buffer): void {
    if (header.type !== MESSAGE_TYPE_REQUEST) return; // as Go: ignore anything else
    let req: WireRequest;
    try {
      req = decodeRequest(payload);
    } catch (err) {
      this.send(header.streamId, { code: Code.InvalidArgument, message: `unmarshal request error: ${(err as Error).message}` });
      return;
    }
    if (header.streamId % 2 !== 1) {
      this.send(header.streamId, { code: Code.InvalidArgument, message: 'StreamID must be odd for client initiated streams' });
      return;
    }
    void this.dispatch(header.streamId, req);
  }

  private async dispatch(streamId: number, req: WireRequest): Promise<void> {
    const found = this.server.lookup(req.service, req.method);
    if (!('types' in found)) {
      this.send(streamId, found);
      return;
    }
    const ac = new AbortController();
    this.inflight.add(ac);
    const metadata: Record<string, string[]> = Object.create(null) as Record<string, string[]>;
    for (const kv of req.metadata) (metadata[kv.key] ??= []).push(kv.value);
    let deadline: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    if (req.timeoutNano !== 0) {
      const ms = req.timeoutNano / 1e6;
      deadline = Date.now() + ms;
      if (ms <= 0) ac.abort(new Error('context deadline exceeded'));
      else {
        timer = setTimeout(() => ac.abort(new Error('context deadline exceeded')), Math.ceil(ms));
        timer.unref();
      }
    }
    const ctx: CallContext = {
      service: req.service,
      method: req.method,
      metadata,
      namespace: metadata[NAMESPACE_METADATA_KEY]?.[0],
      deadline,
      signal: ac.signal,
    };
    let status: { code: number; message: string } | undefined;
    let payload: Uint8Array = new Uint8Array(0);
    try {
      let request: object;
      try {
        request = decodeWith<object>(found.types.requestType, req.payload);
      } catch (err) {
        throw Object.assign(new Error(`ttrpc: error unmarshalling payload: ${(err as Error).message}`), { [INTERNAL]: true });
      }
      const result = await found.handler(request, ctx);
      if (result === null || typeof result !== 'object') throw new Error('ttrpc: marshal called with nil');
      payload = encodeWith(found.types.responseType, result);
    } catch (err) {
      status = (err as { [INTERNAL]?: boolean })[INTERNAL]
        ? { code: Code.Internal, message: (err as Error).message }
        : statusFromError(err);
      payload = new Uint8Array(0);
    } finally {
      if (timer) clearTimeout(timer);
      this.inflight.delete(ac);
    }
    this.send(streamId, status, payload);
    this.closeIfIdle();
  }

  private send(streamId: number, status: { code: number; message: string } | undefined, payload: Uint8Array = new Uint8Array(0)): void {
    if (this.closed || this.socket.destroyed) return;
    let body = encodeResponse({ status: status && { ...status, details: [] }, payload });
    if (body.length > MESSAGE_LENGTH_MAX) {
      body = encodeResponse({ status: { code: Code.ResourceExhausted, message: `response ${oversizeMessage(body.length)}`, details: [] }, payload: new Uint8Array(0) });
    }
    this.socket.write(encodeFrame(streamId, MESSAGE_TYPE_RESPONSE, body));
  }
}

const INTERNAL = Symbol('ttrpc.internal');

function listenOn(server: net.Server, opts: net.ListenOptions | { fd: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    const done = (): void => {
      server.off('error', onError);
      resolve();
    };
    if ('fd' in opts) server.listen(opts, done); // listen(handle) overload: an inherited fd
    else server.listen(opts, done);
  });
}

function closeServer(server: net.Server): Promise<void> {
  return new Promise((resolve) => {
    if (!server.listening) return resolve();
    server.close(() => resolve());
  });
}

/** Unlinks a socket file at p if nothing accepts connections on it; EADDRINUSE if something does. */
async function removeStaleSocket(p: string): Promise<void> {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch {
    return;
  }
  if (!st.isSocket()) throw Object.assign(new Error(`listen ${p}: file exists and is not a socket`), { code: 'EEXIST' });
  const live = await new Promise<boolean>((resolve) => {
    const c = net.connect(p);
    c.once('connect', () => {
      c.destroy();
      resolve(true);
    });
    c.once('error', () => resolve(false));
  });
  if (live) throw Object.assign(new Error(`listen ${p}: address already in use`), { code: 'EADDRINUSE' });
  fs.unlinkSync(p);
}
