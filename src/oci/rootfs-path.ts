// Resolving a path inside a container's root filesystem from the host, as containerd's
// continuity fs.RootPath does: every symlink met on the way is followed inside root (an
// absolute target restarts at root, ".." never climbs above it), so an image whose
// /etc/passwd is a symlink to /usr/lib/passwd — or to /../../host/etc/passwd — is read from
// the image and never from the host. A component that does not exist is taken as a plain
// name: the caller's open then fails with ENOENT, as in Go.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';
import { PathError } from './go-errors';

/** continuity's bound on symlinks followed in one resolution (a loop ends here). */
const MAX_LINKS = 255;

/** The host path of `inside` (a path in the container) under root, symlinks resolved in root. */
export function resolveInRoot(root: string, inside: string): string {
  const pending = splitPath(inside);
  const resolved: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift() as string;
    if (part === '..') {
      resolved.pop();
      continue;
    }
    const host = path.join(root, ...resolved, part);
    let st: fs.Stats;
    try {
      st = fs.lstatSync(host);
    } catch (err) {
      const e = new PathError('lstat', host, err);
      if (!e.notExist) throw e;
      // Not there: taken as a plain name (a later ".." still removes it, as in Go).
      resolved.push(part);
      continue;
    }
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new UnknownError('too many links');
    let target: string;
    try {
      target = fs.readlinkSync(host);
    } catch (err) {
      throw new PathError('readlink', host, err);
    }
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...splitPath(target));
  }
  return path.join(root, '/', ...resolved);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}
