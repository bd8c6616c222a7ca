// continuity's fs.RootPath: join a path to a root, following every symlink met on the
// way but evaluating it *inside* the root — absolute targets are re-rooted, ".." cannot
// climb above the root, more than 255 links walked is an error. The result is a path
// under `root` (or `root` itself); its last component may still be anything (a missing
// name, a file, or — when the walk ends on a link that points at a missing name — the
// target's name), never a symlink that exists at the time of the walk.
//
// All paths are byte strings (gopath.ts).

import { UnknownError } from '../errdefs/errors';
import { lstat, readlink } from './fsbytes';
import { goIsAbs, goJoin, goSplit, type BytePath } from './gopath';

export const MAX_LINKS_WALKED = 255;

export class TooManyLinksError extends UnknownError {
  readonly code = 'ELOOP';
  constructor() {
    super('too many links');
  }
}

/** How RootPath looks at the file system (replaceable for tests). */
export interface RootPathFs {
  /** 'link' with its target, 'other' for anything else that exists, 'missing' if ENOENT. */
  probe(realPath: BytePath): { kind: 'link'; target: BytePath } | { kind: 'other' } | { kind: 'missing' };
}

export const realFs: RootPathFs = {
  probe(realPath) {
    const st = lstat(realPath);
    if (!st) return { kind: 'missing' };
    if (!st.isSymbolicLink()) return { kind: 'other' };
    return { kind: 'link', target: readlink(realPath) };
  },
};

/** fs.RootPath(root, path). `root` must be clean and absolute. */
export function rootPath(root: BytePath, path: BytePath, fsys: RootPathFs = realFs): BytePath {
  if (path === '') return root;
  const walked = { n: 0 };
  for (;;) {
    const before = walked.n;
    const next = walkLinks(root, path, walked, fsys);
    path = next;
    if (before === walked.n) {
      const rooted = goJoin('/', next);
      if (path === rooted) return goJoin(root, rooted);
      path = rooted;
    }
  }
}

function walkLink(root: BytePath, path: BytePath, walked: { n: number }, fsys: RootPathFs): [BytePath, boolean] {
  if (walked.n > MAX_LINKS_WALKED) throw new TooManyLinksError();
  path = goJoin('/', path);
  if (path === '/') return [path, false];
  const probe = fsys.probe(goJoin(root, path));
  if (probe.kind !== 'link') return [path, false];
  walked.n++;
  return [probe.target, true];
}

function walkLinks(root: BytePath, path: BytePath, walked: { n: number }, fsys: RootPathFs): BytePath {
  const [dir, file] = goSplit(path);
  if (dir === '') return walkLink(root, file, walked, fsys)[0];
  if (file === '') {
    if (dir === '/') return dir;
    return walkLinks(root, dir.slice(0, -1), walked, fsys);
  }
  const newdir = walkLinks(root, dir, walked, fsys);
  const [newpath, isLink] = walkLink(root, goJoin(newdir, file), walked, fsys);
  if (!isLink) return newpath;
  if (goIsAbs(newpath)) return newpath;
  return goJoin(newdir, newpath);
}

/**
 * containerd's hardlinkRootPath: the parent of `linkname` is resolved with RootPath,
 * the last component is not followed (a hard link to a symlink links the symlink), and
 * a result outside the root becomes the root itself.
 */
export function hardlinkRootPath(root: BytePath, linkname: BytePath, resolveDir: (dir: BytePath) => BytePath = (d) => rootPath(root, d)): BytePath {
  const [dir, base] = goSplit(linkname);
  const ppath = resolveDir(dir);
  const target = goJoin(ppath, base);
  if (!target.startsWith(root)) return root;
  return target;
}
