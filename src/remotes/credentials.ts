// Registry credentials: a callback the authorizer asks per registry host, and a reader for
// docker's config.json `auths` (what `docker login` writes), as containerd's CRI and
// ctr's --user accept them.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { InvalidArgumentError } from '../errdefs/errors';

export type Credentials =
  | { username: string; password: string }
  /** An OAuth2 refresh token (docker's `identitytoken`): exchanged at the token endpoint. */
  | { identityToken: string };

/**
 * Asked with the host being contacted (a mirror's host for a mirror, registry-1.docker.io
 * for docker.io). undefined: anonymous.
 */
export type CredentialsCallback = (host: string) => Credentials | undefined | Promise<Credentials | undefined>;

/** One `auths` entry of a docker config.json. */
export interface DockerAuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

/** docker's key for Docker Hub in config.json. */
const DOCKER_HUB_KEYS = ['https://index.docker.io/v1/', 'index.docker.io', 'docker.io', 'registry-1.docker.io'];

/** "https://host:5000/v1/" → "host:5000"; "host" → "host". */
function keyHost(key: string): string {
  let k = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '');
  const slash = k.indexOf('/');
  if (slash !== -1) k = k.slice(0, slash);
  return k.toLowerCase();
}

/** Credentials of one entry, or undefined when it holds none. Throws on a bad `auth`. */
export function credentialsOfEntry(entry: DockerAuthEntry, key: string): Credentials | undefined {
  if (entry.identitytoken) return { identityToken: entry.identitytoken };
  if (entry.auth) {
    const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon === -1) throw new InvalidArgumentError(`docker config auths[${JSON.stringify(key)}]: auth is not base64 "user:password"`);
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (entry.username !== undefined && entry.password !== undefined) return { username: entry.username, password: entry.password };
  return undefined;
}

/** A credentials callback over a parsed config.json document. */
export function credentialsFromDockerConfig(doc: unknown): CredentialsCallback {
  const auths = (typeof doc === 'object' && doc !== null ? (doc as { auths?: unknown }).auths : undefined) ?? {};
  if (typeof auths !== 'object' || auths === null || Array.isArray(auths)) throw new InvalidArgumentError('docker config: "auths" must be an object');
  const byHost = new Map<string, Credentials>();
  const hub: Credentials[] = [];
  for (const [key, raw] of Object.entries(auths as Record<string, unknown>)) {
    if (typeof raw !== 'object' || raw === null) continue;
    const creds = credentialsOfEntry(raw as DockerAuthEntry, key);
    if (!creds) continue;
    if (DOCKER_HUB_KEYS.includes(key) || DOCKER_HUB_KEYS.includes(keyHost(key))) hub.push(creds);
    // The exact host wins over one derived from a URL key.
    const h = keyHost(key);
    if (!byHost.has(h) || key.toLowerCase() === h) byHost.set(h, creds);
  }
  return (host: string) => {
    const h = host.toLowerCase();
    if (DOCKER_HUB_KEYS.includes(h) && hub.length > 0) return hub[0];
    return byHost.get(h);
  };
}

/** Where docker keeps config.json: $DOCKER_CONFIG/config.json or ~/.docker/config.json. */
export function defaultDockerConfigPath(env: NodeJS.ProcessEnv = process.env): string {
  return path.join(env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

/** Read a docker config.json (a missing file: no credentials). */
export function readDockerConfig(file: string = defaultDockerConfigPath()): CredentialsCallback {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return () => undefined;
    throw new InvalidArgumentError(`docker config ${file}: ${(err as Error).message}`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`docker config ${file}: ${(err as Error).message}`);
  }
  return credentialsFromDockerConfig(doc);
}

/** CRI's AuthConfig (runtime.v1), the fields a pull uses. */
export interface CriAuthConfig {
  username?: string;
  password?: string;
  /** base64 "user:password". */
  auth?: string;
  /** When set, the credentials are for this registry only ("host[:port]" or a URL). */
  serverAddress?: string;
  identityToken?: string;
}

/**
 * Credentials from a CRI PullImageRequest's auth, as containerd's CRI ParseAuth reads them:
 * only for the host named by server_address when there is one; username/password first,
 * then identity_token, then auth; registry_token is not supported (containerd neither).
 */
export function credentialsFromCriAuth(auth: CriAuthConfig | undefined): CredentialsCallback {
  return (host: string) => {
    if (!auth) return undefined;
    if (auth.serverAddress) {
      let u: URL | undefined;
      try {
        u = new URL(auth.serverAddress);
      } catch {
        u = undefined;
      }
      if (!u || u.host === '') {
        try {
          u = new URL(`https://${auth.serverAddress}`);
        } catch {
          return undefined;
        }
      }
      if (u.host !== host) return undefined;
    }
    if (auth.username) return { username: auth.username, password: auth.password ?? '' };
    if (auth.identityToken) return { identityToken: auth.identityToken };
    if (auth.auth) return credentialsOfEntry({ auth: auth.auth }, 'auth');
    return undefined;
  };
}
