// /etc/passwd and /etc/group of a container's root filesystem, parsed by the rules runc's
// libcontainer/user applies (containerd 1.6 uses it): colon-separated fields, surrounding
// blank space trimmed, blank lines skipped; /etc/group also skips '#' comment lines (passwd
// does not); numbers that do not parse read as 0; missing trailing fields are empty.
import * as fs from 'node:fs';
import { UnknownError } from '../errdefs/errors';
import { PathError } from './go-errors';
import { resolveInRoot } from './rootfs-path';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

export interface GroupEntry {
  name: string;
  gid: number;
  /** The members (user names) listed in the fourth field. */
  members: string[];
}

function readRootfsFile(root: string, file: string): string {
  const p = resolveInRoot(root, file);
  try {
    return fs.readFileSync(p, 'utf8');
  } catch (err) {
    throw new PathError('open', p, err);
  }
}

/** Go's strconv.Atoi, errors read as 0 (what runc's parser keeps for a bad number). */
function atoiOrZero(s: string): number {
  return parseGoInt(s) ?? 0;
}

/** Go's strconv.Atoi on a 64-bit platform: optional sign, decimal digits, in int64 range. */
export function parseGoInt(s: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(s)) return undefined;
  const v = BigInt(s);
  if (v > 9223372036854775807n || v < -9223372036854775808n) return undefined;
  return Number(v);
}

/** Go's uint32(v) of an int: the low 32 bits. */
export function toUint32(v: number): number {
  return Number(BigInt.asUintN(32, BigInt(v)));
}

function lines(text: string): string[] {
  return text.split('\n').map((l) => l.trim());
}

/** The entries of <root>/etc/passwd. */
export function readPasswd(root: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of lines(readRootfsFile(root, '/etc/passwd'))) {
    if (line === '') continue;
    const f = line.split(':');
    out.push({ name: f[0] ?? '', uid: atoiOrZero(f[2] ?? ''), gid: atoiOrZero(f[3] ?? ''), home: f[5] ?? '', shell: f[6] ?? '' });
  }
  return out;
}

/** The entries of <root>/etc/group. */
export function readGroups(root: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of lines(readRootfsFile(root, '/etc/group'))) {
    if (line === '' || line.startsWith('#')) continue;
    const f = line.split(':');
    const list = f[3] ?? '';
    out.push({ name: f[0] ?? '', gid: atoiOrZero(f[2] ?? ''), members: list === '' ? [] : list.split(',') });
  }
  return out;
}

/** containerd's ErrNoUsersFound. */
export class NoUsersFoundError extends UnknownError {
  constructor() {
    super('no users found');
  }
}

/** containerd's ErrNoGroupsFound. */
export class NoGroupsFoundError extends UnknownError {
  constructor() {
    super('no groups found');
  }
}

/** The first passwd entry that matches (containerd's oci.UserFromPath). */
export function userFromPath(root: string, match: (u: PasswdEntry) => boolean): PasswdEntry {
  const user = readPasswd(root).find(match);
  if (!user) throw new NoUsersFoundError();
  return user;
}

/** The gid of the first group entry that matches (containerd's oci.GIDFromPath). */
export function gidFromPath(root: string, match: (g: GroupEntry) => boolean): number {
  const group = readGroups(root).find(match);
  if (!group) throw new NoGroupsFoundError();
  return group.gid;
}
