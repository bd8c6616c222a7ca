// Registry credentials asked of the client over the stream it named in
// RegistryResolver.auth_stream: berthd sends an AuthRequest{host, reference} when a registry
// asks for authorization, and the client answers with an AuthResponse. One question at a time
// per stream (the answers carry no id), each with a deadline: a client that never answers
// fails its pull instead of holding it.
import { DeadlineExceededError, InvalidArgumentError, UnavailableError } from '../errdefs/errors';
import { packAny, unpackAny } from '../proto/any';
import type { Credentials, CredentialsCallback } from '../remotes/credentials';
import type { ManagedStream } from '../streaming/manager';
import { typeNameOf } from '../proto/type-url';

export const AUTH_REQUEST_TYPE = 'containerd.types.transfer.AuthRequest';
export const AUTH_RESPONSE_TYPE = 'containerd.types.transfer.AuthResponse';
const ANSWER_TIMEOUT_MS = 60_000;

interface AuthResponse {
  authType?: string;
  secret?: string;
  username?: string;
}

/** AuthResponse → what the authorizer uses (undefined: anonymous). */
export function credentialsFromAuthResponse(r: AuthResponse): Credentials | undefined {
  switch (r.authType ?? 'NONE') {
    case 'NONE':
      return undefined;
    case 'CREDENTIALS':
      return { username: r.username ?? '', password: r.secret ?? '' };
    case 'REFRESH':
      return { identityToken: r.secret ?? '' };
    default:
      // HEADER: a ready Authorization value, which berth's authorizer does not take.
      throw new InvalidArgumentError(`registry credentials of type ${String(r.authType)} are not supported (CREDENTIALS, REFRESH or NONE)`);
  }
}

export function authStreamCredentials(stream: ManagedStream, reference: string, timeoutMs = ANSWER_TIMEOUT_MS): CredentialsCallback {
  let turn: Promise<unknown> = Promise.resolve();
  const ask = async (host: string): Promise<Credentials | undefined> => {
    await stream.send(packAny(AUTH_REQUEST_TYPE, { host, reference, wwwauthenticate: [] }));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new DeadlineExceededError(`no answer to the request for ${host}'s credentials within ${timeoutMs / 1000} s`)), timeoutMs);
    });
    try {
      const answer = await Promise.race([stream.recv(), late]);
      if (answer === undefined) throw new UnavailableError(`the client closed its auth stream before answering for ${host}`);
      const decoded = typeNameOf(answer.typeUrl) === AUTH_RESPONSE_TYPE ? unpackAny(answer) : undefined;
      if (!decoded) throw new InvalidArgumentError(`the auth stream answered with ${JSON.stringify(answer.typeUrl)}, not an ${AUTH_RESPONSE_TYPE}`);
      return credentialsFromAuthResponse(decoded as AuthResponse);
    } finally {
      clearTimeout(timer);
    }
  };
  return (host: string) => {
    const answer = turn.then(() => ask(host));
    turn = answer.catch(() => undefined);
    return answer;
  };
}
