// OCI whiteouts (image-spec layer.md, AUFS style) and their overlayfs form.
//
//   layer tar                     overlay upper dir
//   <dir>/.wh.<name>         <->  <dir>/<name> as a character device 0:0
//   <dir>/.wh..wh..opq       <->  <dir> with xattr trusted.overlay.opaque = "y"
//
// Names are byte strings (gopath.ts).

import { UnknownError } from '../errdefs/errors';
import { goBase, goDir, goJoin, type BytePath } from './gopath';

export const WHITEOUT_PREFIX = '.wh.';
export const WHITEOUT_META_PREFIX = '.wh..wh.';
export const WHITEOUT_OPAQUE_DIR = '.wh..wh..opq';
export const OVERLAY_OPAQUE_XATTR = 'trusted.overlay.opaque';

export class InvalidWhiteoutError extends UnknownError {
  constructor(base: BytePath) {
    super(`invalid whiteout name: ${Buffer.from(base, 'latin1').toString('utf8')}: invalid archive`);
  }
}

export type WhiteoutKind = { kind: 'none' } | { kind: 'opaque'; dir: BytePath } | { kind: 'whiteout'; dir: BytePath; target: BytePath };

/**
 * What the resolved path of an entry means (containerd's validateWhiteout + whiteout
 * converters): a whiteout of `target` (a name inside `dir`), an opaque marker for
 * `dir`, or an ordinary entry. A whiteout whose target would not be a child of its
 * directory (".wh.", ".wh..") is rejected.
 */
export function classifyWhiteout(path: BytePath): WhiteoutKind {
  const base = goBase(path);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  const dir = goDir(path);
  if (base === WHITEOUT_OPAQUE_DIR) return { kind: 'opaque', dir };
  const target = goJoin(dir, base.slice(WHITEOUT_PREFIX.length));
  const dirSlash = dir.endsWith('/') ? dir : dir + '/';
  if (!target.startsWith(dirSlash)) throw new InvalidWhiteoutError(base);
  return { kind: 'whiteout', dir, target };
}

/** The tar name of the whiteout for `name` (a cleaned relative path). */
export function whiteoutName(name: BytePath): BytePath {
  const i = name.lastIndexOf('/');
  return i < 0 ? WHITEOUT_PREFIX + name : name.slice(0, i + 1) + WHITEOUT_PREFIX + name.slice(i + 1);
}

/** The tar name of the opaque marker of directory `dir` ("" for the root). */
export function opaqueMarkerName(dir: BytePath): BytePath {
  return dir === '' ? WHITEOUT_OPAQUE_DIR : dir + '/' + WHITEOUT_OPAQUE_DIR;
}
