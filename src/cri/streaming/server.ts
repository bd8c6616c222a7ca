// The CRI streaming server (containerd 1.6 serves kubelet's pkg/cri/streaming server on
// [plugins.cri] stream_server_address:stream_server_port, 127.0.0.1 and a free port by
// default): the CRI Exec/Attach/PortForward RPCs register their request under a single-use
// token and return http://<address>/<exec|attach|portforward>/<token>; the client then
// upgrades that URL to SPDY/3.1 (remote command or port-forward) or to a WebSocket (remote
// command) and the runtime does the work.
import * as http from 'node:http';
import type * as net from 'node:net';
import { WebSocketServer } from 'ws';
import { DEFAULT_STREAMING_LIMITS, type StreamingLimits } from './limits';
import { PORT_FORWARD_PROTOCOL, SpdyPortForward } from './port-forward-spdy';
import { REMOTE_COMMAND_PROTOCOLS, SpdyRemoteCommand } from './remote-command-spdy';
import { negotiateWsProtocol, serveWsRemoteCommand } from './remote-command-ws';
import { RequestCache } from './request-cache';
import {
  validateAttach,
  validateExec,
  validatePortForward,
  type AttachRequest,
  type ExecRequest,
  type PortForwardRequest,
} from './requests';
import type { CommandRequest } from './run-command';
import type { StreamingRuntime } from './runtime';
import { SpdySession, type NewStreamHandler } from './spdy-session';

export interface StreamingServerConfig {
  /** stream_server_address (default 127.0.0.1). */
  address?: string;
  /** stream_server_port (default 0: any free port). */
  port?: number;
  limits?: Partial<StreamingLimits>;
  /** Where protocol errors and refusals are reported (default: nowhere). */
  log?: (msg: string) => void;
}

type Pending =
  | { kind: 'exec'; req: ExecRequest }
  | { kind: 'attach'; req: AttachRequest }
  | { kind: 'portforward'; req: PortForwardRequest };

const ROUTE = /^\/(exec|attach|portforward)\/([^/]+)$/;

export class StreamingServer {
  readonly limits: StreamingLimits;
  private readonly cache: RequestCache<Pending>;
  private readonly http: http.Server;
  private readonly wss: WebSocketServer;
  private readonly log: (msg: string) => void;
  private readonly sockets = new Set<net.Socket>();
  private sessions = 0;
  private base = '';

  constructor(
    private readonly config: StreamingServerConfig,
    private readonly runtime: StreamingRuntime,
  ) {
    this.limits = { ...DEFAULT_STREAMING_LIMITS, ...config.limits };
    this.log = config.log ?? (() => undefined);
    this.cache = new RequestCache<Pending>(this.limits.tokenTtlMs, this.limits.maxPendingTokens);
    this.http = http.createServer({ headersTimeout: 10_000, requestTimeout: 30_000, maxHeaderSize: 16 * 1024 });
    this.http.maxConnections = this.limits.maxSessions + 64;
    this.http.on('request', (req, res) => this.onRequest(req, res));
    this.http.on('upgrade', (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => this.onUpgrade(req, socket, head));
    this.http.on('connection', (s: net.Socket) => {
      this.sockets.add(s);
      s.on('close', () => this.sockets.delete(s));
    });
    this.wss = new WebSocketServer({ noServer: true, maxPayload: this.limits.maxWebSocketMessage, perMessageDeflate: false, clientTracking: false });
  }

  async start(): Promise<void> {
    // containerd resolves an empty stream_server_address to the host's primary address; this
    // server keeps to loopback then (a daemon should not open a port off the machine by default).
    const host = this.config.address || '127.0.0.1';
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen({ host, port: this.config.port ?? 0 }, () => {
        this.http.off('error', reject);
        resolve();
      });
    });
    const addr = this.http.address() as net.AddressInfo;
    const hostPart = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
    this.base = `http://${hostPart}:${addr.port}`;
  }

  /** http://address:port of the running server. */
  get baseUrl(): string {
    return this.base;
  }

  async stop(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => this.http.close(() => r()));
  }

  getExec(req: ExecRequest): { url: string } {
    validateExec(req);
    return { url: `${this.base}/exec/${this.cache.insert({ kind: 'exec', req })}` };
  }

  getAttach(req: AttachRequest): { url: string } {
    validateAttach(req);
    return { url: `${this.base}/attach/${this.cache.insert({ kind: 'attach', req })}` };
  }

  getPortForward(req: PortForwardRequest): { url: string } {
    validatePortForward(req);
    return { url: `${this.base}/portforward/${this.cache.insert({ kind: 'portforward', req })}` };
  }

  /** Sessions (upgraded connections) open now. */
  get activeSessions(): number {
    return this.sessions;
  }

  // ------------------------------------------------------------------ HTTP

  /** The pending request a URL names (consumed), or the HTTP status to answer. */
  private route(req: http.IncomingMessage): Pending | { status: number; text: string } {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = ROUTE.exec(url.pathname);
    if (!m) return { status: 404, text: '404 page not found' };
    if (req.method !== 'GET' && req.method !== 'POST') return { status: 405, text: 'method not allowed' };
    const pending = this.cache.consume(m[2]!);
    if (!pending || pending.kind !== m[1]) return { status: 404, text: '404 page not found' };
    return pending;
  }

  private onRequest(req: http.IncomingMessage, res: http.ServerResponse): void {
    const r = this.route(req);
    if ('status' in r) {
      res.writeHead(r.status, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${r.text}\n`);
      return;
    }
    // A valid token without an upgrade: kubelet answers with the handshake's error.
    const text = req.headers['x-stream-protocol-version']
      ? `unable to upgrade: missing upgrade headers in request`
      : 'unable to upgrade: X-Stream-Protocol-Version is required';
    res.writeHead(400, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`${text}\n`);
  }

  private onUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer): void {
    socket.on('error', () => socket.destroy());
    if (this.sessions >= this.limits.maxSessions) {
      rejectUpgrade(socket, 503, `too many streaming sessions (limit ${this.limits.maxSessions})`);
      return;
    }
    const r = this.route(req);
    if ('status' in r) {
      rejectUpgrade(socket, r.status, r.text);
      return;
    }
    const upgrade = (req.headers.upgrade ?? '').toLowerCase();
    if (upgrade === 'websocket') {
      this.upgradeWebSocket(req, socket, head, r);
      return;
    }
    const offered = commaList(req.headers['x-stream-protocol-version']);
    if (offered.length === 0) {
      rejectUpgrade(socket, 400, 'unable to upgrade: X-Stream-Protocol-Version is required');
      return;
    }
    const supported = r.kind === 'portforward' ? [PORT_FORWARD_PROTOCOL] : REMOTE_COMMAND_PROTOCOLS;
    const protocol = offered.find((p) => supported.includes(p));
    if (!protocol) {
      rejectUpgrade(
        socket,
        403,
        `unable to upgrade: unable to negotiate protocol: client supports [${offered.join(' ')}], server accepts [${supported.join(' ')}]`,
        supported.map((p) => `X-Accepted-Stream-Protocol-Versions: ${p}`),
      );
      return;
    }
    if (!upgrade.includes('spdy/3.1')) {
      rejectUpgrade(socket, 400, 'unable to upgrade: missing upgrade headers in request');
      return;
    }
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\n' +
        `X-Stream-Protocol-Version: ${protocol}\r\n\r\n`,
    );
    let handler: NewStreamHandler;
    let attach: (s: SpdySession) => void;
    const where = `${r.kind} session from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    const log = (msg: string): void => this.log(`${where}: ${msg}`);
    if (r.kind === 'portforward') {
      const pf = new SpdyPortForward(r.req.podSandboxId, this.runtime, this.limits.streamCreationTimeoutMs, this.limits.maxStreamsPerSession, log);
      handler = pf.onStream;
      attach = (s) => pf.attach(s);
    } else {
      const cmd: CommandRequest = r.kind === 'exec' ? { kind: 'exec', ...r.req } : { kind: 'attach', ...r.req };
      const rc = new SpdyRemoteCommand(protocol, cmd, this.runtime, this.limits.streamCreationTimeoutMs, log);
      handler = rc.onStream;
      attach = (s) => rc.attach(s);
    }
    const session = new SpdySession(socket, this.limits, handler, (e) => log(e.message));
    this.sessions++;
    void session.whenClosed().then(() => this.sessions--);
    attach(session);
    session.start(head);
  }

  private upgradeWebSocket(req: http.IncomingMessage, socket: net.Socket, head: Buffer, r: Pending): void {
    if (r.kind === 'portforward') {
      rejectUpgrade(socket, 400, 'port-forward over WebSocket is not served (use SPDY)');
      return;
    }
    const protocol = negotiateWsProtocol(commaList(req.headers['sec-websocket-protocol']));
    if (protocol === undefined) {
      rejectUpgrade(socket, 403, `requested protocol(s) are not supported: ${req.headers['sec-websocket-protocol'] ?? ''}`);
      return;
    }
    this.sessions++;
    const cmd: CommandRequest = r.kind === 'exec' ? { kind: 'exec', ...r.req } : { kind: 'attach', ...r.req };
    const where = `${r.kind} websocket from ${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    let counted = true;
    const release = (): void => {
      if (counted) {
        counted = false;
        this.sessions--;
      }
    };
    socket.once('close', release);
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      // `ws` echoes the first offered protocol unless told: handleProtocols is not used, so
      // the negotiated one is checked here and the session speaks it.
      void serveWsRemoteCommand(ws, protocol, cmd, this.runtime, {
        idleTimeoutMs: this.limits.idleTimeoutMs,
        maxBufferedPerStream: this.limits.maxBufferedPerStream,
        log: (m) => this.log(`${where}: ${m}`),
      }).catch((e: Error) => this.log(`${where}: ${e.message}`));
    });
  }
}

function commaList(v: string | string[] | undefined): string[] {
  const all = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return all.flatMap((s) => s.split(',')).map((s) => s.trim()).filter((s) => s.length > 0);
}

function rejectUpgrade(socket: net.Socket, status: number, text: string, extra: string[] = []): void {
  const body = `${text}\n`;
  socket.end(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      extra.map((h) => `${h}\r\n`).join('') +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}
