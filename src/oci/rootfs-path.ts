// Resolving a path inside a container's root filesystem from the host, as containerd's
// continuity fs.RootPath does: every symlink met on the way is followed inside root (an
// absolute target restarts at root, ".." never climbs above it), so an image whose
// /etc/passwd is a symlink to /usr/lib/passwd — or to /../../host/etc/passwd — is read from
// the image and never from the host. A component that does not exist ends the walk: the
// caller's open then fails with ENOENT, as in Go.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';

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
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
        // Not there (yet): taken as it is, like the rest of the path.
        resolved.push(part, ...pending.filter((p) => p !== '..'));
        return path.join(root, '/', ...normalize(resolved));
      }
      throw err;
    }
    if (!st.isSymbolicLink()) {
      resolved.push(part);
      continue;
    }
    if (++links > MAX_LINKS) throw new UnknownError('too many links');
    const target = fs.readlinkSync(host);
    if (target.startsWith('/')) resolved.length = 0;
    pending.unshift(...splitPath(target));
  }
  return path.join(root, '/', ...resolved);
}

function splitPath(p: string): string[] {
  return p.split('/').filter((s) => s !== '' && s !== '.');
}

/** Applies ".." of a component list that was not walked (kept inside root). */
function normalize(parts: string[]): string[] {
  return splitPath(path.posix.join('/', ...parts));
}
