// Tar headers as Go's archive/tar Writer emits them for containerd's diffs (Format
// PAX): a plain USTAR block when everything fits, otherwise a PAX extended header
// ("x", records sorted by key) before it — for names or link targets that are too long
// or not ASCII, ids/sizes/times beyond the octal fields, and SCHILY.xattr.* records.
// Names are byte strings (gopath.ts); xattr values are raw bytes.

import { TYPE_XHEADER } from './tarreader';

export interface WriteHeader {
  name: string;
  typeflag: number;
  /** Permission bits incl. setuid/setgid/sticky. */
  mode: number;
  uid: number;
  gid: number;
  /** Body length (regular files only). */
  size: number;
  /** Whole seconds. */
  mtime: number;
  linkname?: string;
  devmajor?: number;
  devminor?: number;
  /** [name, value] pairs written as SCHILY.xattr.<name>. */
  xattrs?: Array<[string, Buffer]>;
}

const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
const MAX_OCTAL7 = 0o7777777;
const MAX_OCTAL11 = 0o77777777777;

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0x80 || c === 0) return false;
  }
  return true;
}

/** Go's splitUSTARPath. */
function splitUstarPath(name: string): [string, string] | null {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return null;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name.charCodeAt(length - 1) === 0x2f) length--;
  const i = name.lastIndexOf('/', length - 1);
  const nlen = name.length - i - 1;
  const plen = i;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || plen > PREFIX_SIZE) return null;
  return [name.slice(0, i), name.slice(i + 1)];
}

function putString(b: Buffer, off: number, size: number, s: string): void {
  b.write(s.length > size ? s.slice(0, size) : s, off, 'latin1');
}

function putOctal(b: Buffer, off: number, size: number, v: number): void {
  const s = v.toString(8).padStart(size - 1, '0');
  b.write(s, off, 'latin1');
  b[off + size - 1] = 0;
}

/** One PAX record, "<len> <key>=<value>\n" (len counts itself), as bytes. */
function paxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(' ' + key + '=', 'latin1'), value, Buffer.from('\n')]);
  let len = body.length + String(body.length).length;
  if (String(len).length !== String(body.length).length) len = body.length + String(len).length;
  return Buffer.concat([Buffer.from(String(len), 'latin1'), body]);
}

function ustarBlock(
  name: string, prefix: string, h: WriteHeader, typeflag: number, size: number, mtime: number, uid: number, gid: number, linkname: string,
): Buffer {
  const b = Buffer.alloc(512);
  putString(b, 0, 100, name);
  putOctal(b, 100, 8, h.mode & 0o7777);
  putOctal(b, 108, 8, uid);
  putOctal(b, 116, 8, gid);
  putOctal(b, 124, 12, size);
  putOctal(b, 136, 12, mtime);
  b[156] = typeflag;
  putString(b, 157, 100, linkname);
  b.write('ustar\x0000', 257, 'latin1');
  putOctal(b, 329, 8, h.devmajor ?? 0);
  putOctal(b, 337, 8, h.devminor ?? 0);
  putString(b, 345, 155, prefix);
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += b[i]!;
  b.write(sum.toString(8).padStart(6, '0') + '\x00 ', 148, 'latin1');
  return b;
}

/** The header block(s) for one entry: [PAX header + its data,] USTAR header. */
export function encodeHeader(h: WriteHeader): Buffer {
  const records = new Map<string, Buffer>();
  let name = h.name;
  let prefix = '';
  if (name.length > NAME_SIZE || !isAscii(name)) {
    const split = splitUstarPath(name);
    if (split) [prefix, name] = split;
    else {
      records.set('path', Buffer.from(h.name, 'latin1'));
      name = isAscii(h.name) ? h.name.slice(0, NAME_SIZE) : '';
    }
  }
  let linkname = h.linkname ?? '';
  if (linkname.length > NAME_SIZE || !isAscii(linkname)) {
    records.set('linkpath', Buffer.from(linkname, 'latin1'));
    linkname = isAscii(linkname) ? linkname.slice(0, NAME_SIZE) : '';
  }
  let uid = h.uid;
  if (uid < 0 || uid > MAX_OCTAL7) {
    records.set('uid', Buffer.from(String(uid)));
    uid = 0;
  }
  let gid = h.gid;
  if (gid < 0 || gid > MAX_OCTAL7) {
    records.set('gid', Buffer.from(String(gid)));
    gid = 0;
  }
  let size = h.size;
  if (size > MAX_OCTAL11) {
    records.set('size', Buffer.from(String(size)));
    size = 0;
  }
  let mtime = h.mtime;
  if (mtime < 0 || mtime > MAX_OCTAL11) {
    records.set('mtime', Buffer.from(String(mtime)));
    mtime = 0;
  }
  for (const [k, v] of h.xattrs ?? []) records.set('SCHILY.xattr.' + Buffer.from(k, 'utf8').toString('latin1'), v);

  const main = ustarBlock(name, prefix, h, h.typeflag, size, mtime, uid, gid, linkname);
  if (records.size === 0) return main;

  const keys = [...records.keys()].sort();
  const data = Buffer.concat(keys.map((k) => paxRecord(k, records.get(k)!)));
  // Go names the extended header <dir>/PaxHeaders.0/<file>.
  const clean = h.name.replace(/\/+$/, '');
  const slash = clean.lastIndexOf('/');
  const paxName = (slash < 0 ? 'PaxHeaders.0/' + clean : clean.slice(0, slash) + '/PaxHeaders.0/' + clean.slice(slash + 1));
  const asciiName = [...paxName].filter((c) => c.charCodeAt(0) < 0x80 && c !== '\0').join('').slice(0, NAME_SIZE);
  const xh = ustarBlock(asciiName, '', { ...h, mode: 0, devmajor: 0, devminor: 0 }, TYPE_XHEADER, data.length, 0, 0, 0, '');
  const padLen = (512 - (data.length % 512)) % 512;
  return Buffer.concat([xh, data, Buffer.alloc(padLen), main]);
}

/** Zero padding after a body of `size` bytes. */
export function bodyPadding(size: number): Buffer {
  return Buffer.alloc((512 - (size % 512)) % 512);
}

/** The end-of-archive marker Go's Writer.Close writes. */
export const END_OF_ARCHIVE = Buffer.alloc(1024);
