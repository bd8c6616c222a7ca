import { UnknownError } from '../errdefs/errors';
import type { AuthConfig__Output } from '../generated/types/runtime/v1/AuthConfig';
import type { RegistryCredentials } from './image_remote';

/**
 * containerd's CRI ParseAuth: the request's AuthConfig applies to `host` only when its
 * server_address (a URL) names that host, or names none; username+password first, then an
 * identity token, then "auth" (base64 "user:password"). registry_token is not used (as in
 * containerd 1.6). Undefined means anonymous.
 */
export function credentialsFor(auth: AuthConfig__Output | null | undefined, host: string): RegistryCredentials | undefined {
  if (!auth) return undefined;
  if (auth.server_address !== '') {
    let serverHost: string;
    try {
      serverHost = new URL(auth.server_address).host;
    } catch {
      // Go's url.Parse takes a bare "host:port" as a scheme and opaque part: no host.
      serverHost = '';
    }
    if (serverHost !== host) return undefined;
  }
  if (auth.username !== '') return { username: auth.username, secret: auth.password };
  if (auth.identity_token !== '') return { username: '', secret: auth.identity_token };
  if (auth.auth !== '') {
    const decoded = Buffer.from(auth.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon < 0) throw new UnknownError(`invalid decoded auth: ${JSON.stringify(decoded)}`);
    return { username: decoded.slice(0, colon), secret: decoded.slice(colon + 1).replace(/^\0+|\0+$/g, '') };
  }
  return undefined;
}
