// containerd's generateUserString: the OCI user string a CRI security context asks for.
import { UnknownError } from '../errdefs/errors';

interface Int64Value {
  value: number;
}

export function generateUserString(username: string, uid: Int64Value | null | undefined, gid: Int64Value | null | undefined): string {
  let user = uid ? String(uid.value) : '';
  if (username !== '') user = username;
  const group = gid ? String(gid.value) : '';
  if (user === '') {
    if (group !== '') throw new UnknownError(`user group "${group}" is specified without user`);
    return '';
  }
  return group !== '' ? `${user}:${group}` : user;
}
