// A registry front for the remotes tests, on 127.0.0.1: it forwards /v2/ requests to the
// real docker-registry behind it and adds what that registry is not configured to do —
//  - bearer auth with its own token server (docker's token spec: a 401 with
//    `WWW-Authenticate: Bearer realm,service,scope`, GET /token with optional basic auth,
//    POST /token with an OAuth2 form), tokens scoped to `repository:<name>:pull`;
//  - basic auth;
//  - corruption of chosen blobs (one byte flipped, the length kept);
// and it records every request, so tests can see Range headers, token fetches and what
// was (not) downloaded. Loopback only.
import { randomBytes } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { AddressInfo } from 'node:net';

export type ProxyAuth =
  | {
      kind: 'bearer';
      /** username → password accepted by the token server. */
      users?: Record<string, string>;
      /** refresh (identity) token → username. */
      refreshTokens?: Record<string, string>;
      /** Anonymous token requests allowed (GET without credentials). */
      anonymous?: boolean;
      /** POST /token answered (else 404, so clients fall back to GET). Default true. */
      post?: boolean;
      service?: string;
      /** The registry accepts none of the tokens (a misconfigured token server). */
      rejectTokens?: boolean;
    }
  | { kind: 'basic'; users: Record<string, string> };

export interface ProxyOptions {
  /** "http://127.0.0.1:PORT" of the registry. */
  upstream: string;
  auth?: ProxyAuth;
  /** Digests whose blob responses get one byte flipped. */
  corrupt?: string[];
  /** Forward without the Range header: the registry answers 200 with the whole blob. */
  ignoreRange?: boolean;
  /** Drop Docker-Content-Digest from HEAD responses (clients must GET the manifest). */
  headWithoutDigest?: boolean;
  /**
   * Answer blob GETs with a 307 to `http://localhost:<port>/storage/…` (another host name
   * for the same server, like a registry sending clients to object storage); /storage/
   * is served without auth.
   */
  redirectBlobs?: boolean;
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { cert: string; key: string };
}

export interface ProxiedRequest {
  method: string;
  path: string;
  range?: string;
  authorization?: string;
  status: number;
  /** A mount the token did not allow, turned into an ordinary upload. */
  mountRefused?: boolean;
}

export interface TokenRequest {
  method: 'GET' | 'POST';
  grantType?: string;
  scopes: string[];
  service?: string;
  clientId?: string;
  /** Who the token was issued to ('' anonymous); undefined when refused. */
  user?: string;
}

export interface AuthProxy {
  readonly host: string;
  readonly url: string;
  readonly requests: ProxiedRequest[];
  readonly tokenRequests: TokenRequest[];
  /** Forget every token issued (as a registry does when they are revoked or it restarts). */
  revokeTokens(): void;
  close(): Promise<void>;
}

const REPO_PATH = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/?]+)/;

/** Whether token scopes ("repository:<name>:<action>[,<action>…]") grant these actions on a repository. */
function allows(scopes: string[], repo: string, actions: string[]): boolean {
  const granted = new Set<string>();
  for (const s of scopes) {
    const i = s.lastIndexOf(':');
    if (s.slice(0, i) !== `repository:${repo}`) continue;
    for (const a of s.slice(i + 1).split(',')) granted.add(a);
  }
  return actions.every((a) => granted.has(a));
}

function unauthorized(res: http.ServerResponse, challenge: string): void {
  res.writeHead(401, { 'www-authenticate': challenge, 'content-type': 'application/json' });
  res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'authentication required' }] }));
}

function readAll(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function basicUser(header: string | undefined, users: Record<string, string>): string | undefined {
  if (!header?.startsWith('Basic ')) return undefined;
  const decoded = Buffer.from(header.slice(6), 'base64').toString('utf8');
  const i = decoded.indexOf(':');
  if (i === -1) return undefined;
  const [u, p] = [decoded.slice(0, i), decoded.slice(i + 1)];
  return users[u] !== undefined && users[u] === p ? u : undefined;
}

export async function startAuthProxy(opts: ProxyOptions): Promise<AuthProxy> {
  const requests: ProxiedRequest[] = [];
  const tokenRequests: TokenRequest[] = [];
  const tokens = new Map<string, { scopes: string[]; user: string }>();
  const upstream = new URL(opts.upstream);
  const agent = new http.Agent({ keepAlive: true });
  let selfUrl = '';
  let port = 0;

  async function tokenEndpoint(req: http.IncomingMessage, res: http.ServerResponse, auth: Extract<ProxyAuth, { kind: 'bearer' }>): Promise<void> {
    const u = new URL(req.url ?? '/', selfUrl);
    const issue = (record: TokenRequest, field: 'token' | 'access_token'): void => {
      const t = randomBytes(16).toString('hex');
      tokens.set(t, { scopes: record.scopes, user: record.user ?? '' });
      tokenRequests.push(record);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ [field]: t, expires_in: 300 }));
    };
    const refuse = (record: TokenRequest, status = 401): void => {
      tokenRequests.push(record);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ errors: [{ code: 'DENIED' }] }));
    };
    if (req.method === 'POST') {
      const form = new URLSearchParams((await readAll(req)).toString('utf8'));
      const record: TokenRequest = {
        method: 'POST',
        grantType: form.get('grant_type') ?? '',
        scopes: (form.get('scope') ?? '').split(' ').filter(Boolean),
        service: form.get('service') ?? '',
        clientId: form.get('client_id') ?? '',
      };
      if (auth.post === false) return refuse(record, 404);
      if (record.grantType === 'password') {
        const user = form.get('username') ?? '';
        if (auth.users?.[user] !== undefined && auth.users[user] === form.get('password')) return issue({ ...record, user }, 'access_token');
      } else if (record.grantType === 'refresh_token') {
        const user = auth.refreshTokens?.[form.get('refresh_token') ?? ''];
        if (user !== undefined) return issue({ ...record, user }, 'access_token');
      }
      return refuse(record);
    }
    const record: TokenRequest = { method: 'GET', scopes: u.searchParams.getAll('scope'), service: u.searchParams.get('service') ?? '' };
    const authz = req.headers.authorization;
    if (authz) {
      const user = basicUser(authz, auth.users ?? {});
      if (user === undefined) return refuse(record);
      return issue({ ...record, user }, 'token');
    }
    if (!auth.anonymous) return refuse(record);
    return issue({ ...record, user: '' }, 'token');
  }

  function forward(req: http.IncomingMessage, res: http.ServerResponse, entry: ProxiedRequest, upstreamPath = req.url ?? '/'): void {
    // The Host header is kept: the registry builds upload Locations from it, and those must
    // come back through here.
    const headers = { ...req.headers };
    delete headers.authorization;
    if (opts.ignoreRange) delete headers.range;
    const up = http.request({ host: upstream.hostname, port: upstream.port, method: req.method, path: upstreamPath, headers, agent }, (ur) => {
      entry.status = ur.statusCode ?? 0;
      if (opts.headWithoutDigest && req.method === 'HEAD') delete ur.headers['docker-content-digest'];
      const m = REPO_PATH.exec(req.url ?? '');
      const digest = m && m[2] === 'blobs' ? decodeURIComponent(m[3]!) : undefined;
      if (digest && opts.corrupt?.includes(digest) && ur.statusCode === 200 && req.method === 'GET') {
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const body = Buffer.concat(chunks);
          if (body.length > 0) body[body.length >> 1] ^= 0xff;
          res.writeHead(200, ur.headers);
          res.end(body);
        });
        return;
      }
      res.writeHead(ur.statusCode ?? 502, ur.headers);
      ur.pipe(res);
    });
    up.on('error', (err) => {
      res.writeHead(502);
      res.end(String(err));
    });
    req.pipe(up);
  }

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    void (async () => {
      const path = req.url ?? '/';
      const auth = opts.auth;
      if (path.startsWith('/token') && auth?.kind === 'bearer') return tokenEndpoint(req, res, auth);
      const entry: ProxiedRequest = { method: req.method ?? '', path, status: 0 };
      if (typeof req.headers.range === 'string') entry.range = req.headers.range;
      if (typeof req.headers.authorization === 'string') entry.authorization = req.headers.authorization;
      requests.push(entry);
      if (opts.redirectBlobs && path.startsWith('/storage/')) return forward(req, res, entry, path.slice('/storage'.length));
      const m = REPO_PATH.exec(path);
      if (auth?.kind === 'basic') {
        if (basicUser(req.headers.authorization, auth.users) === undefined) {
          entry.status = 401;
          return unauthorized(res, 'Basic realm="berth-test-registry"');
        }
      } else if (auth?.kind === 'bearer') {
        const service = auth.service ?? 'berth-test-registry';
        const uploads = /^\/v2\/(.+)\/blobs\/uploads\//.exec(path);
        const repo = m?.[1] ?? uploads?.[1];
        const writes = req.method !== 'GET' && req.method !== 'HEAD';
        const scope = repo !== undefined ? `repository:${repo}:${writes ? 'pull,push' : 'pull'}` : undefined;
        const authz = req.headers.authorization;
        const granted = authz?.startsWith('Bearer ') && !auth.rejectTokens ? tokens.get(authz.slice(7)) : undefined;
        if (!granted || (repo !== undefined && !allows(granted.scopes, repo, writes ? ['pull', 'push'] : ['pull']))) {
          entry.status = 401;
          return unauthorized(res, `Bearer realm="${selfUrl}/token",service="${service}"${scope ? `,scope="${scope}"` : ''}`);
        }
        // A cross-repository mount needs pull on the source; without it the registry
        // starts an ordinary upload, as distribution does.
        const u = new URL(path, selfUrl);
        const from = u.searchParams.get('from');
        if (from !== null && !allows(granted.scopes, from, ['pull'])) {
          u.searchParams.delete('mount');
          u.searchParams.delete('from');
          entry.mountRefused = true;
          return forward(req, res, entry, u.pathname + u.search);
        }
      }
      if (opts.redirectBlobs && m?.[2] === 'blobs' && req.method === 'GET') {
        entry.status = 307;
        res.writeHead(307, { location: `${opts.tls ? 'https' : 'http'}://localhost:${port}/storage${path}` });
        res.end();
        return;
      }
      forward(req, res, entry);
    })().catch((err: unknown) => {
      res.writeHead(500);
      res.end(String(err));
    });
  };
  const server = opts.tls ? https.createServer({ cert: opts.tls.cert, key: opts.tls.key }, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
  selfUrl = `${opts.tls ? 'https' : 'http'}://127.0.0.1:${port}`;
  return {
    host: `127.0.0.1:${port}`,
    url: selfUrl,
    requests,
    tokenRequests,
    revokeTokens: () => tokens.clear(),
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
