// Describe a directory tree in full (type, mode, owner, size, content hash, link target,
// hard-link count, file mtime, xattrs) so two trees can be compared entry by entry.
import { createHash } from 'node:crypto';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { llistxattr, lgetxattr } from '../../src/native';

export interface TreeEntry {
  path: string;
  type: string;
  mode: string;
  uid: number;
  gid: number;
  size?: number;
  sha256?: string;
  link?: string;
  nlink?: number;
  mtime?: string;
  rdev?: string;
  xattrs?: Record<string, string>;
}

function typeOf(mode: number): string {
  switch (mode & 0o170000) {
    case 0o040000:
      return 'dir';
    case 0o100000:
      return 'file';
    case 0o120000:
      return 'symlink';
    case 0o020000:
      return 'char';
    case 0o060000:
      return 'block';
    case 0o010000:
      return 'fifo';
    case 0o140000:
      return 'socket';
    default:
      return 'unknown';
  }
}

export function describeTree(root: string): TreeEntry[] {
  const out: TreeEntry[] = [];
  const walk = (rel: string): void => {
    const abs = rel === '' ? root : join(root, rel);
    const st = lstatSync(abs, { bigint: true });
    const type = typeOf(Number(st.mode));
    const e: TreeEntry = {
      path: rel || '.',
      type,
      mode: (Number(st.mode) & 0o7777).toString(8),
      uid: Number(st.uid),
      gid: Number(st.gid),
    };
    if (type === 'file') {
      e.size = Number(st.size);
      e.sha256 = createHash('sha256').update(readFileSync(abs)).digest('hex');
      e.nlink = Number(st.nlink);
      e.mtime = st.mtimeNs.toString();
    } else if (type === 'symlink') {
      e.link = readlinkSync(abs);
      e.mtime = st.mtimeNs.toString();
    } else if (type === 'char' || type === 'block') {
      e.rdev = st.rdev.toString();
    }
    const names = llistxattr(abs).filter((n) => !n.startsWith('trusted.overlay.') && !n.startsWith('security.'));
    if (names.length > 0) {
      e.xattrs = {};
      for (const n of names.sort()) e.xattrs[n] = (lgetxattr(abs, n) ?? Buffer.alloc(0)).toString('base64');
    }
    out.push(e);
    if (type === 'dir') for (const name of readdirSync(abs).sort()) walk(rel === '' ? name : `${rel}/${name}`);
  };
  walk('');
  return out;
}
