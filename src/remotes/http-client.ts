// The HTTP client the registry client talks through: node:http/https with keep-alive
// agents per TLS setting, redirects followed (Authorization dropped when the host
// changes, as Go's http.Client does: blob storage behind a redirect must not see the
// registry token), AbortSignal, and an idle timeout so a stalled registry cannot hang a
// pull forever; outbound proxies from the environment as containerd (http-proxy.ts).
// Responses are streams; nothing is buffered here.

import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { rootCertificates } from 'node:tls';
import { UnavailableError } from '../errdefs/errors';
import { deferredExtraCaCerts } from './deferred-extra-ca';
import { proxyAuthorization, proxyConfigFromEnv, proxyFor, TunnelAgent, type ProxyConfig } from './http-proxy';
import type { RegistryHost } from './hosts';

export interface TlsSettings {
  skipVerify?: boolean;
  caFiles?: string[];
  clientPairs?: Array<[string, string]>;
}

export type HttpMethod = 'GET' | 'HEAD' | 'POST' | 'PUT';

export interface HttpRequest {
  method: HttpMethod;
  url: string;
  headers?: Record<string, string | string[]>;
  /** A stream body is sent once: a redirect or an auth retry cannot replay it. */
  body?: Buffer | Readable;
  /** Length of a stream body (sent as Content-Length). */
  bodyLength?: number;
  tls?: TlsSettings;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  /** Lower-cased names (node's IncomingMessage headers). */
  headers: http.IncomingHttpHeaders;
  /** The URL that answered (after redirects). */
  url: string;
  body: http.IncomingMessage;
}

/** How many redirects a request follows (Go's http.Client: 10). */
const MAX_REDIRECTS = 10;
/** A connection that sends nothing for this long is given up (no data, no headers). */
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;

export interface HttpClientOptions {
  idleTimeoutMs?: number;
  /** Sockets per host and agent (keep-alive pool). Default 16. */
  maxSockets?: number;
  /** Outbound proxies (default: HTTP_PROXY, HTTPS_PROXY and NO_PROXY of the environment, as containerd). */
  proxy?: ProxyConfig;
}

export class HttpClient {
  private readonly agents = new Map<string, http.Agent>();
  private readonly idleTimeoutMs: number;
  private readonly maxSockets: number;
  private readonly proxy: ProxyConfig;

  constructor(opts: HttpClientOptions = {}) {
    this.idleTimeoutMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.maxSockets = opts.maxSockets ?? 16;
    this.proxy = opts.proxy ?? proxyConfigFromEnv();
  }

  private agentFor(protocol: string, tls: TlsSettings | undefined, proxy: URL | undefined): http.Agent {
    const key = `${protocol}|${proxy?.href ?? ''}|${tls?.skipVerify ? 1 : 0}|${(tls?.caFiles ?? []).join(',')}|${(tls?.clientPairs ?? []).map((p) => p.join('+')).join(',')}`;
    let agent = this.agents.get(key);
    if (agent) return agent;
    if (protocol === 'https:') {
      const opts: https.AgentOptions = { keepAlive: true, maxSockets: this.maxSockets };
      if (tls?.skipVerify) opts.rejectUnauthorized = false;
      const caFiles = tls?.caFiles ?? [];
      const deferred = deferredExtraCaCerts();
      if (caFiles.length > 0 || deferred.length > 0) {
        // Extra CAs add to the system's, as Go's RootCAs built from the system pool do.
        opts.ca = [...rootCertificates, ...deferred, ...caFiles.map((f) => fs.readFileSync(f, 'utf8'))];
      }
      if (tls?.clientPairs && tls.clientPairs.length > 0) {
        const [cert, key] = tls.clientPairs[0]!;
        const certPem = fs.readFileSync(cert, 'utf8');
        opts.cert = certPem;
        opts.key = key ? fs.readFileSync(key, 'utf8') : certPem;
      }
      agent = proxy ? new TunnelAgent(proxy, opts) : new https.Agent(opts);
    } else {
      agent = new http.Agent({ keepAlive: true, maxSockets: this.maxSockets });
    }
    this.agents.set(key, agent);
    return agent;
  }

  /** One request, no redirects followed. */
  private once(req: HttpRequest, url: URL): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const mod = url.protocol === 'https:' ? https : http;
      const headers: http.OutgoingHttpHeaders = { 'user-agent': 'berth/0.1', ...(req.headers ?? {}) };
      if (Buffer.isBuffer(req.body)) headers['content-length'] = String(req.body.length);
      else if (req.body && req.bodyLength !== undefined) headers['content-length'] = String(req.bodyLength);
      const proxy = proxyFor(url, this.proxy);
      const agent = this.agentFor(url.protocol, req.tls, proxy);
      const common = { method: req.method, headers, agent, signal: req.signal, timeout: this.idleTimeoutMs };
      let r: http.ClientRequest;
      const onResponse = (res: http.IncomingMessage): void => {
        // From here the idle timeout applies to the body: the reader sees an error.
        res.setTimeout?.(this.idleTimeoutMs, () => res.destroy(new UnavailableError(`${req.method} ${url.href}: no data for ${this.idleTimeoutMs} ms`)));
        resolve({ status: res.statusCode ?? 0, headers: res.headers, url: url.href, body: res });
      };
      if (proxy && url.protocol === 'http:') {
        // Plain HTTP through a proxy: the absolute URL as the request target.
        headers.host = url.host;
        const auth = proxyAuthorization(proxy);
        if (auth) headers['proxy-authorization'] = auth;
        r = http.request({ ...common, host: proxy.hostname.replace(/^\[|\]$/g, ''), port: proxy.port || 80, path: url.href }, onResponse);
      } else {
        // Direct, or https through the agent's CONNECT tunnel.
        r = mod.request(url, common, onResponse);
      }
      r.on('timeout', () => r.destroy(new UnavailableError(`${req.method} ${url.href}: no response for ${this.idleTimeoutMs} ms`)));
      r.on('error', (err) => {
        if ((err as Error).name === 'AbortError') reject(err);
        else if (err instanceof UnavailableError) reject(err);
        else reject(new UnavailableError(`${req.method} ${url.href}: ${(err as Error).message}`));
      });
      if (req.body && !Buffer.isBuffer(req.body)) {
        const src = req.body;
        src.on('error', (err) => r.destroy(err));
        src.pipe(r);
      } else {
        r.end(req.body);
      }
    });
  }

  /** A request, following redirects. The caller must consume or destroy the body. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    let url = new URL(req.url);
    let headers = { ...(req.headers ?? {}) };
    let method = req.method;
    let body = req.body;
    for (let hop = 0; ; hop++) {
      const res = await this.once({ ...req, method, headers, body }, url);
      const location = res.headers.location;
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      if (body && !Buffer.isBuffer(body)) return res;
      res.body.resume();
      if (hop >= MAX_REDIRECTS) throw new UnavailableError(`${req.method} ${req.url}: stopped after ${MAX_REDIRECTS} redirects`);
      const next = new URL(location, url);
      if (next.host !== url.host) {
        // Credentials for the registry stay with the registry.
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'));
      }
      if (res.status === 303 || ((res.status === 301 || res.status === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
      }
      url = next;
    }
  }

  /** The whole body as a buffer, refusing more than `limit` bytes. */
  static async readBody(res: HttpResponse, limit: number): Promise<Buffer> {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of res.body) {
      const b = chunk as Buffer;
      n += b.length;
      if (n > limit) {
        res.body.destroy();
        throw new UnavailableError(`${res.url}: response larger than ${limit} bytes`);
      }
      chunks.push(b);
    }
    return Buffer.concat(chunks);
  }

  close(): void {
    for (const a of this.agents.values()) a.destroy();
    this.agents.clear();
  }
}

/** TLS settings of a registry host. */
export function tlsOf(h: RegistryHost): TlsSettings {
  const t: TlsSettings = {};
  if (h.skipVerify) t.skipVerify = true;
  if (h.caFiles) t.caFiles = h.caFiles;
  if (h.clientPairs) t.clientPairs = h.clientPairs;
  return t;
}
