// Registry authorization as containerd 1.6's docker authorizer does it: requests go out
// anonymously until a registry answers 401 with a challenge; then, per registry host,
//  - Basic: "Authorization: Basic base64(user:password)" from the credentials callback;
//  - Bearer: a token from the challenge's realm for the scopes the request needs
//    (`repository:<path>:pull` plus the challenge's own scope), cached per scope set until it
//    expires. With a secret (password or identity token) the token is asked for by POST
//    (OAuth2 form: grant_type password or refresh_token, client_id containerd-client); a
//    registry that refuses the POST (404, 401, 400, or 405 with a username) is asked by GET
//    with basic auth, as docker's token spec has it. Without credentials: GET, anonymous.
// A 401 for a request that carried authorization drops what the host's state holds and
// starts over once; a 401 for authorization obtained afresh is a denial.

import { InvalidArgumentError, UnknownError } from '../errdefs/errors';
import type { Challenge } from './challenge';
import type { Credentials, CredentialsCallback } from './credentials';
import { HttpClient, type HttpResponse } from './http-client';

/** containerd's client_id in the OAuth2 POST. */
const CLIENT_ID = 'containerd-client';
/** docker's token spec: a token without expires_in lives 60 s. */
const DEFAULT_TOKEN_SECONDS = 60;
/** Renew this long before a token would expire. */
const EXPIRY_MARGIN_MS = 5_000;
/** A token response larger than this is not a token response. */
const TOKEN_RESPONSE_LIMIT = 1 << 20;

interface BearerState {
  kind: 'bearer';
  realm: string;
  service?: string;
  /** The challenge's own scopes (space-separated in `scope`). */
  challengeScopes: string[];
  credentials?: Credentials;
  /** Tokens by the sorted, joined scope set. */
  tokens: Map<string, Promise<Token>>;
}

interface BasicState {
  kind: 'basic';
  header: string;
}

type HostAuth = BearerState | BasicState;

interface Token {
  token: string;
  expiresAt: number;
  /** Renewed this long before expiresAt. */
  margin: number;
}

export interface AuthorizerOptions {
  credentials?: CredentialsCallback;
  /** Clock for token expiry (tests). */
  now?: () => number;
}

/** The request scope containerd adds for a pull: `repository:<path>:pull`. */
export function repositoryScope(path: string, actions: string[] = ['pull']): string {
  return `repository:${path}:${actions.join(',')}`;
}

/** Scopes merged, deduplicated and sorted (containerd's GetTokenScopes). */
export function mergeScopes(...lists: string[][]): string[] {
  return [...new Set(lists.flat().filter((s) => s !== ''))].sort();
}

export class Authorizer {
  private readonly hosts = new Map<string, HostAuth>();
  private readonly credentials: CredentialsCallback | undefined;
  private readonly now: () => number;

  constructor(
    private readonly http: HttpClient,
    opts: AuthorizerOptions = {},
  ) {
    this.credentials = opts.credentials;
    this.now = opts.now ?? Date.now;
  }

  /** The Authorization header for a request to `host` needing `scopes`, or undefined (anonymous). */
  async authorize(host: string, scopes: string[], signal?: AbortSignal): Promise<string | undefined> {
    const state = this.hosts.get(host);
    if (!state) return undefined;
    if (state.kind === 'basic') return state.header;
    const all = mergeScopes(state.challengeScopes, scopes);
    const key = all.join(' ');
    let entry = state.tokens.get(key);
    if (entry) {
      const got = await entry.catch(() => undefined);
      if (!got || got.expiresAt - got.margin <= this.now()) entry = undefined;
    }
    if (!entry) {
      entry = this.fetchToken(state, all, signal);
      state.tokens.set(key, entry);
      entry.catch(() => {
        if (state.tokens.get(key) === entry) state.tokens.delete(key);
      });
    }
    return `Bearer ${(await entry).token}`;
  }

  /**
   * A 401 came back from `host`; the challenge sets up how to authorize the retry.
   * `hadAuthorization`: the request carried an Authorization header, so what this host's
   * state holds is stale (a token revoked or expired early): it is dropped and set up
   * afresh. `denied`: the request carried authorization obtained afresh already: an error.
   */
  async addChallenge(host: string, challenges: Challenge[], opts: { hadAuthorization: boolean; denied: boolean; statusText: string }): Promise<void> {
    if (opts.hadAuthorization) this.hosts.delete(host);
    if (opts.denied) {
      const err = challenges.find((c) => c.params.error)?.params;
      throw new UnknownError(`failed to authorize with ${host}: ${opts.statusText}${err ? ` (${err.error}${err.error_description ? `: ${err.error_description}` : ''})` : ''}`);
    }
    const statusText = opts.statusText;
    for (const c of challenges) {
      if (c.scheme === 'bearer') {
        const realm = c.params.realm;
        if (!realm || !/^https?:\/\//i.test(realm)) throw new UnknownError(`${host}: bearer challenge without a usable realm: ${JSON.stringify(realm ?? '')}`);
        const prev = this.hosts.get(host);
        // One registry gives one realm and service; only scopes differ per request.
        if (prev && prev.kind === 'bearer' && prev.realm === realm && prev.service === c.params.service) {
          prev.challengeScopes = mergeScopes(prev.challengeScopes, (c.params.scope ?? '').split(' '));
          return;
        }
        const creds = await this.credentials?.(host);
        this.hosts.set(host, {
          kind: 'bearer',
          realm,
          ...(c.params.service !== undefined ? { service: c.params.service } : {}),
          challengeScopes: mergeScopes((c.params.scope ?? '').split(' ')),
          ...(creds ? { credentials: creds } : {}),
          tokens: new Map(),
        });
        return;
      }
      if (c.scheme === 'basic') {
        const creds = await this.credentials?.(host);
        if (creds && 'username' in creds && creds.username !== '' && creds.password !== '') {
          this.hosts.set(host, { kind: 'basic', header: `Basic ${Buffer.from(`${creds.username}:${creds.password}`).toString('base64')}` });
          return;
        }
      }
    }
    const schemes = challenges.map((c) => c.rawScheme).join(', ') || 'none';
    throw new UnknownError(`${host}: ${statusText}: no credentials for the registry's auth scheme (${schemes})`);
  }

  private async fetchToken(state: BearerState, scopes: string[], signal?: AbortSignal): Promise<Token> {
    const creds = state.credentials;
    const secret = creds ? ('identityToken' in creds ? creds.identityToken : creds.password) : '';
    const username = creds && 'username' in creds ? creds.username : '';
    if (secret !== '') {
      const res = await this.postToken(state, scopes, username, secret, signal);
      if (res.status === 200) return this.readToken(res, true);
      res.body.resume();
      if (!(res.status === 404 || res.status === 401 || res.status === 400 || (res.status === 405 && username !== ''))) {
        throw new UnknownError(`failed to fetch oauth token from ${state.realm}: ${res.status} ${res.body.statusMessage ?? ''}`.trim());
      }
    }
    const u = new URL(state.realm);
    if (state.service) u.searchParams.set('service', state.service);
    for (const s of scopes) u.searchParams.append('scope', s);
    const headers: Record<string, string> = { accept: 'application/json' };
    if (secret !== '') headers.authorization = `Basic ${Buffer.from(`${username}:${secret}`).toString('base64')}`;
    const res = await this.http.request({ method: 'GET', url: u.href, headers, ...(signal ? { signal } : {}) });
    if (res.status !== 200) {
      res.body.resume();
      throw new UnknownError(`failed to fetch anonymous token from ${state.realm}: ${res.status} ${res.body.statusMessage ?? ''}`.trim());
    }
    return this.readToken(res, false);
  }

  private postToken(state: BearerState, scopes: string[], username: string, secret: string, signal?: AbortSignal): Promise<HttpResponse> {
    const form = new URLSearchParams();
    form.set('scope', scopes.join(' '));
    if (state.service) form.set('service', state.service);
    form.set('client_id', CLIENT_ID);
    if (username === '') {
      form.set('grant_type', 'refresh_token');
      form.set('refresh_token', secret);
    } else {
      form.set('grant_type', 'password');
      form.set('username', username);
      form.set('password', secret);
    }
    return this.http.request({
      method: 'POST',
      url: state.realm,
      headers: { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8', accept: 'application/json' },
      body: Buffer.from(form.toString()),
      ...(signal ? { signal } : {}),
    });
  }

  private async readToken(res: HttpResponse, oauth: boolean): Promise<Token> {
    const body = await HttpClient.readBody(res, TOKEN_RESPONSE_LIMIT);
    let doc: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      doc = JSON.parse(body.toString('utf8')) as typeof doc;
    } catch {
      throw new InvalidArgumentError(`token response from ${res.url} is not JSON`);
    }
    const token = oauth ? (doc.access_token ?? doc.token) : (doc.token ?? doc.access_token);
    if (typeof token !== 'string' || token === '') throw new UnknownError(`token response from ${res.url} has no token`);
    const seconds = typeof doc.expires_in === 'number' && doc.expires_in > 0 ? doc.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renew a little early, but never so early that a short-lived token is fetched per request.
    return { token, expiresAt: this.now() + seconds * 1000, margin: Math.min(EXPIRY_MARGIN_MS, (seconds * 1000) / 4) };
  }
}
