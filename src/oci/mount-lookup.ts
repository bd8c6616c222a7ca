// Which mount of this mount namespace holds a path, and how it propagates, read from
// /proc/self/mountinfo as containerd's mount.Lookup reads it: the mounts whose mount
// point is a string prefix of the cleaned path, the longest one winning (the first of
// equals). CRI checks with it that a Bidirectional volume's source is on a shared mount and
// a HostToContainer one's on a shared or slave mount.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';

export interface MountInfo {
  mountpoint: string;
  /** The optional fields ("shared:1 master:2"), space-separated. */
  optional: string;
}

/** Decodes mountinfo's octal escapes (\040 space, \011 tab, \012 newline, \134 backslash). */
function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/** The mounts of this process's mount namespace, in mountinfo order. */
export function readMountInfo(): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (line === '') continue;
    const fields = line.split(' ');
    const dash = fields.indexOf('-', 6);
    if (fields.length < 7 || dash < 0) throw new UnknownError(`parsing '${line}' failed: not enough fields`);
    out.push({ mountpoint: unescape(fields[4]), optional: fields.slice(6, dash).join(' ') });
  }
  return out;
}

/** The mount holding dir (containerd's mount.Lookup). */
export function lookupMount(dir: string): MountInfo {
  const clean = path.posix.normalize(dir).replace(/(.)\/$/, '$1');
  let best: MountInfo | undefined;
  for (const m of readMountInfo()) {
    if (!clean.startsWith(m.mountpoint)) continue;
    if (!best || m.mountpoint.length > best.mountpoint.length) best = m;
  }
  if (!best) throw new UnknownError(`failed to find the mount info for ${JSON.stringify(clean)}`);
  return best;
}
