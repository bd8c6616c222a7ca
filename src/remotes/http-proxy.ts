// Outbound HTTP proxies as Go's http.ProxyFromEnvironment chooses them (containerd's
// registry client uses it): HTTPS_PROXY for https URLs, HTTP_PROXY for http ones (upper or
// lower case), NO_PROXY exceptions ("*", host names that match themselves and their
// subdomains, ".domain", IPs, CIDRs, each with an optional port), and never a proxy for
// localhost or a loopback address. http targets are asked through the proxy in absolute
// form; https targets through a CONNECT tunnel, TLS end to end.

import * as http from 'node:http';
import * as https from 'node:https';
import * as net from 'node:net';
import type { Duplex } from 'node:stream';
import * as tls from 'node:tls';

export interface ProxyConfig {
  /** Proxy for http:// URLs ("http://host:port", a bare "host:port" is http). */
  httpProxy?: string;
  /** Proxy for https:// URLs. */
  httpsProxy?: string;
  /** Comma-separated exceptions, NO_PROXY's syntax. */
  noProxy?: string;
}

/** The proxy settings of an environment (Go's httpproxy.FromEnvironment). */
export function proxyConfigFromEnv(env: NodeJS.ProcessEnv = process.env): ProxyConfig {
  const pick = (upper: string): string | undefined => env[upper] || env[upper.toLowerCase()] || undefined;
  const c: ProxyConfig = {};
  const h = pick('HTTP_PROXY');
  const s = pick('HTTPS_PROXY');
  const n = pick('NO_PROXY');
  if (h) c.httpProxy = h;
  if (s) c.httpsProxy = s;
  if (n) c.noProxy = n;
  return c;
}

function parseProxyUrl(v: string): URL | undefined {
  try {
    const u = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(v) ? v : `http://${v}`);
    return u.protocol === 'http:' ? u : undefined;
  } catch {
    return undefined;
  }
}

/** "[::1]" → "::1". */
function bareHost(hostname: string): string {
  return hostname.startsWith('[') && hostname.endsWith(']') ? hostname.slice(1, -1) : hostname;
}

function inCidr(ip: string, cidr: string): boolean {
  const [base, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  if (!base || !Number.isInteger(bits)) return false;
  const family = net.isIPv4(base) ? 'ipv4' : net.isIPv6(base) ? 'ipv6' : undefined;
  if (!family || (family === 'ipv4') !== net.isIPv4(ip)) return false;
  const list = new net.BlockList();
  list.addSubnet(base, bits, family);
  return list.check(ip, family);
}

/** Whether NO_PROXY exempts host:port (Go's httpproxy useProxy, negated). */
export function noProxyMatches(noProxy: string, hostname: string, port: string): boolean {
  const host = bareHost(hostname).toLowerCase();
  for (const raw of noProxy.split(',')) {
    let entry = raw.trim().toLowerCase();
    if (entry === '') continue;
    if (entry === '*') return true;
    if (entry.includes('/')) {
      if (net.isIP(host) && inCidr(host, entry)) return true;
      continue;
    }
    let entryPort = '';
    const m = /^(.*):(\d+)$/.exec(entry);
    if (m && !net.isIPv6(entry)) {
      entry = m[1]!;
      entryPort = m[2]!;
    }
    entry = bareHost(entry);
    if (entryPort !== '' && entryPort !== port) continue;
    if (net.isIP(entry)) {
      if (entry === host) return true;
      continue;
    }
    // ".y.com" and "*.y.com": subdomains only; "y.com": itself and its subdomains.
    if (entry.startsWith('*.')) entry = entry.slice(1);
    if (entry.startsWith('.')) {
      if (host.endsWith(entry)) return true;
      continue;
    }
    if (host === entry || host.endsWith(`.${entry}`)) return true;
  }
  return false;
}

/** The proxy for a URL under a config, or undefined to go direct. */
export function proxyFor(url: URL, config: ProxyConfig): URL | undefined {
  const host = bareHost(url.hostname).toLowerCase();
  if (host === 'localhost' || host.endsWith('.localhost')) return undefined;
  if (net.isIP(host) && (host.startsWith('127.') || host === '::1')) return undefined;
  const setting = url.protocol === 'https:' ? config.httpsProxy : config.httpProxy;
  if (!setting) return undefined;
  const port = url.port || (url.protocol === 'https:' ? '443' : '80');
  if (config.noProxy && noProxyMatches(config.noProxy, url.hostname, port)) return undefined;
  return parseProxyUrl(setting);
}

/** Proxy-Authorization for a proxy URL with user:password, if any. */
export function proxyAuthorization(proxy: URL): string | undefined {
  if (!proxy.username) return undefined;
  return `Basic ${Buffer.from(`${decodeURIComponent(proxy.username)}:${decodeURIComponent(proxy.password)}`).toString('base64')}`;
}

/** An https agent whose connections are CONNECT tunnels through an http proxy. */
export class TunnelAgent extends https.Agent {
  constructor(
    private readonly proxy: URL,
    opts: https.AgentOptions,
  ) {
    super(opts);
  }

  override createConnection(options: http.ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    const target = `${options.host ?? options.hostname ?? 'localhost'}:${options.port ?? 443}`;
    const headers: Record<string, string> = { host: target };
    const auth = proxyAuthorization(this.proxy);
    if (auth) headers['proxy-authorization'] = auth;
    const req = http.request({ host: bareHost(this.proxy.hostname), port: this.proxy.port || 80, method: 'CONNECT', path: target, headers });
    const done = callback ?? (() => undefined);
    req.once('connect', (res, socket) => {
      if (res.statusCode !== 200) {
        socket.destroy();
        done(new Error(`proxy ${this.proxy.host} refused CONNECT ${target}: ${res.statusCode} ${res.statusMessage ?? ''}`.trim()), socket);
        return;
      }
      const tlsOptions = { ...(options as tls.ConnectionOptions), socket };
      delete tlsOptions.host;
      delete tlsOptions.port;
      delete tlsOptions.path;
      done(null, tls.connect(tlsOptions));
    });
    req.once('error', (err) => done(err, req.socket as Duplex));
    req.end();
    return undefined;
  }
}
