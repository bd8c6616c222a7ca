// A synchronous, streaming (push) tar parser with Go archive/tar's reading rules — the
// reader containerd applies layers with. Chunks go in with write(); headers, data
// slices and entry ends come out through a TarSink, in order, without buffering file
// bodies. It handles ustar, PAX (binary-safe records: SCHILY.xattr values are bytes;
// path/linkpath/size/uid/gid/uname/gname/mtime/atime with nanoseconds), GNU long names
// and links ('L'/'K'), GNU and star atimes, base-256 numbers, signed or unsigned header
// checksums, pre-POSIX "\0" type with a trailing slash for directories, and the end of
// archive (two zero blocks; what follows is ignored).
//
// Why not tar-stream's extract: its PAX decoder turns values into UTF-8 text (a binary
// security.capability xattr is corrupted), it merges PAX *global* headers into every
// later entry (a global "path=" record would rename them; Go returns global headers as
// entries of their own and containerd ignores them), keeps times to the second, ignores
// PAX uid/gid, yields a null type for unknown type flags, and costs ~5–9 µs per entry in
// stream objects — more than the parse itself here.
//
// Names are byte strings (gopath.ts).

import { UnknownError } from '../errdefs/errors';

export const TYPE_REG = 0x30; // '0'
export const TYPE_REGA = 0x00; // '\0'
export const TYPE_LINK = 0x31; // '1'
export const TYPE_SYMLINK = 0x32; // '2'
export const TYPE_CHAR = 0x33; // '3'
export const TYPE_BLOCK = 0x34; // '4'
export const TYPE_DIR = 0x35; // '5'
export const TYPE_FIFO = 0x36; // '6'
export const TYPE_CONT = 0x37; // '7'
export const TYPE_XHEADER = 0x78; // 'x'
export const TYPE_XGLOBAL = 0x67; // 'g'
export const TYPE_GNU_LONGNAME = 0x4c; // 'L'
export const TYPE_GNU_LONGLINK = 0x4b; // 'K'
export const TYPE_GNU_SPARSE = 0x53; // 'S'

/** Largest PAX or GNU long-name body accepted (Go: maxSpecialFileSize). */
export const MAX_SPECIAL_FILE_SIZE = 1 << 20;

export interface TarTime {
  sec: number;
  nsec: number;
}

export interface TarHeader {
  /** Type flag byte (TYPE_*); '\0' is already turned into TYPE_REG or TYPE_DIR. */
  typeflag: number;
  /** Byte string, as stored (after ustar prefix, PAX path or GNU long name). */
  name: string;
  linkname: string;
  /** Declared size (the entry's body length for types that have one). */
  size: number;
  mode: number;
  uid: number;
  gid: number;
  uname: string;
  gname: string;
  mtime: TarTime;
  /** From PAX atime or a GNU/star header; null when absent. */
  atime: TarTime | null;
  devmajor: number;
  devminor: number;
  /** Every PAX record of the entry (values are byte strings), or null. */
  pax: Map<string, string> | null;
}

export interface TarSink {
  /** A new entry; its body (if any) follows through data(), then end(). */
  entry(h: TarHeader): void;
  data(chunk: Buffer): void;
  end(): void;
}

export class TarFormatError extends UnknownError {
  constructor(message: string) {
    super(message);
  }
}

const errHeader = (): TarFormatError => new TarFormatError('archive/tar: invalid tar header');

const enum State {
  Header,
  Body,
  Special,
  Padding,
  Eof,
}

/** Types whose size field is ignored: they have no body. */
function headerOnly(t: number): boolean {
  return t === TYPE_LINK || t === TYPE_SYMLINK || t === TYPE_CHAR || t === TYPE_BLOCK || t === TYPE_DIR || t === TYPE_FIFO;
}

export class TarReader {
  private state = State.Header;
  private readonly block = Buffer.allocUnsafe(512);
  private blockFill = 0;
  private remaining = 0;
  private padding = 0;
  private special: Buffer | null = null;
  private specialFill = 0;
  private specialType = 0;
  private sawZeroBlock = false;
  // Meta headers pending for the next real entry.
  private pax: Map<string, string> | null = null;
  private gnuLongName: string | null = null;
  private gnuLongLink: string | null = null;

  constructor(private readonly sink: TarSink) {}

  /** True once the end-of-archive marker has been read. */
  get ended(): boolean {
    return this.state === State.Eof;
  }

  write(chunk: Buffer): void {
    let off = 0;
    const len = chunk.length;
    while (off < len) {
      switch (this.state) {
        case State.Header: {
          let blk: Buffer;
          if (this.blockFill === 0 && len - off >= 512) {
            blk = chunk.subarray(off, off + 512);
            off += 512;
          } else {
            const n = Math.min(512 - this.blockFill, len - off);
            chunk.copy(this.block, this.blockFill, off, off + n);
            this.blockFill += n;
            off += n;
            if (this.blockFill < 512) return;
            this.blockFill = 0;
            blk = this.block;
          }
          this.onBlock(blk);
          break;
        }
        case State.Body: {
          const n = Math.min(this.remaining, len - off);
          this.remaining -= n;
          const piece = chunk.subarray(off, off + n);
          off += n;
          this.sink.data(piece);
          if (this.remaining === 0) this.finishEntry();
          break;
        }
        case State.Special: {
          const special = this.special!;
          const n = Math.min(special.length - this.specialFill, len - off);
          chunk.copy(special, this.specialFill, off, off + n);
          this.specialFill += n;
          off += n;
          if (this.specialFill === special.length) this.finishSpecial();
          break;
        }
        case State.Padding: {
          const n = Math.min(this.padding, len - off);
          this.padding -= n;
          off += n;
          if (this.padding === 0) this.state = State.Header;
          break;
        }
        case State.Eof:
          return;
      }
    }
  }

  /** The stream ended. Like Go's reader: fine at a header boundary (with or without the
   * end marker, even after a lone zero block, a dangling meta header or inside the last
   * entry's padding); an error inside a header or an entry's body. */
  finish(): void {
    if (this.state === State.Eof) return;
    if ((this.state === State.Header && this.blockFill === 0) || this.state === State.Padding) {
      this.state = State.Eof;
      return;
    }
    throw new TarFormatError('unexpected EOF');
  }

  private onBlock(blk: Buffer): void {
    if (isZero(blk)) {
      if (this.sawZeroBlock) {
        this.state = State.Eof;
        return;
      }
      this.sawZeroBlock = true;
      return;
    }
    if (this.sawZeroBlock) throw errHeader(); // zero block then a non-zero block
    const h = parseHeader(blk);
    switch (h.typeflag) {
      case TYPE_XHEADER:
      case TYPE_XGLOBAL:
      case TYPE_GNU_LONGNAME:
      case TYPE_GNU_LONGLINK: {
        if (h.size < 0) throw errHeader();
        if (h.size > MAX_SPECIAL_FILE_SIZE) throw new TarFormatError('archive/tar: header field too long');
        this.specialType = h.typeflag;
        this.padding = pad(h.size);
        if (h.size === 0) {
          this.special = Buffer.alloc(0);
          this.specialFill = 0;
          this.finishSpecial();
          return;
        }
        this.special = Buffer.allocUnsafe(h.size);
        this.specialFill = 0;
        this.state = State.Special;
        return;
      }
    }
    // A real entry: apply pending meta headers.
    const pax = this.pax;
    if (pax !== null) mergePax(h, pax);
    if (this.gnuLongName !== null && this.gnuLongName !== '') h.name = this.gnuLongName;
    if (this.gnuLongLink !== null && this.gnuLongLink !== '') h.linkname = this.gnuLongLink;
    this.pax = null;
    this.gnuLongName = null;
    this.gnuLongLink = null;
    if (h.typeflag === TYPE_REGA) h.typeflag = h.name.endsWith('/') ? TYPE_DIR : TYPE_REG;
    if (pax !== null && (pax.has('GNU.sparse.major') || pax.has('GNU.sparse.map') || pax.has('GNU.sparse.numblocks') || pax.has('GNU.sparse.offset'))) {
      throw new TarFormatError(`archive/tar: GNU sparse file ${JSON.stringify(h.name)} not supported`);
    }
    const bodyLen = headerOnly(h.typeflag) ? 0 : h.size;
    if (bodyLen < 0) throw errHeader();
    this.sink.entry(h);
    this.remaining = bodyLen;
    this.padding = pad(bodyLen);
    if (bodyLen === 0) this.finishEntry();
    else this.state = State.Body;
  }

  private finishEntry(): void {
    this.sink.end();
    this.state = this.padding > 0 ? State.Padding : State.Header;
  }

  private finishSpecial(): void {
    const body = this.special!;
    this.special = null;
    switch (this.specialType) {
      case TYPE_XHEADER:
        this.pax = parsePax(body);
        break;
      case TYPE_XGLOBAL:
        // Go returns a global header as an entry of its own, which consumes the meta
        // headers read so far; containerd then ignores it.
        parsePax(body);
        this.pax = null;
        this.gnuLongName = null;
        this.gnuLongLink = null;
        break;
      case TYPE_GNU_LONGNAME:
        this.gnuLongName = cstring(body, 0, body.length);
        break;
      case TYPE_GNU_LONGLINK:
        this.gnuLongLink = cstring(body, 0, body.length);
        break;
    }
    this.state = this.padding > 0 ? State.Padding : State.Header;
  }
}

function pad(n: number): number {
  return (512 - (n % 512)) % 512;
}

function isZero(b: Buffer): boolean {
  for (let i = 0; i < 512; i += 8) {
    if (b[i] !== 0 || b[i + 1] !== 0 || b[i + 2] !== 0 || b[i + 3] !== 0 || b[i + 4] !== 0 || b[i + 5] !== 0 || b[i + 6] !== 0 || b[i + 7] !== 0) return false;
  }
  return true;
}

/** The bytes of b[start:end] up to the first NUL, as a byte string. */
function cstring(b: Buffer, start: number, end: number): string {
  const i = b.indexOf(0, start);
  return b.toString('latin1', start, i < 0 || i > end ? end : i);
}

/** Go's parseOctal: trims spaces and NULs, parses what is left up to a NUL. */
function parseOctal(b: Buffer, start: number, end: number): number {
  while (start < end && (b[start] === 0x20 || b[start] === 0)) start++;
  while (end > start && (b[end - 1] === 0x20 || b[end - 1] === 0)) end--;
  if (start === end) return 0;
  let x = 0;
  for (let i = start; i < end; i++) {
    const c = b[i]!;
    if (c === 0) break;
    if (c < 0x30 || c > 0x37) throw errHeader();
    x = x * 8 + (c - 0x30);
  }
  if (x > Number.MAX_SAFE_INTEGER) throw errHeader();
  return x;
}

/** Go's parseNumeric: base-256 (two's complement) when the high bit is set, else octal. */
function parseNumeric(b: Buffer, start: number, end: number): number {
  const first = b[start]!;
  if ((first & 0x80) === 0) return parseOctal(b, start, end);
  const neg = (first & 0x40) !== 0;
  const inv = neg ? 0xff : 0;
  let x = 0n;
  for (let i = start; i < end; i++) {
    let c = b[i]! ^ inv;
    if (i === start) c &= 0x7f;
    x = (x << 8n) | BigInt(c);
  }
  if (x >> 63n !== 0n) throw errHeader();
  const v = neg ? -(x + 1n) : x;
  if (v > BigInt(Number.MAX_SAFE_INTEGER) || v < BigInt(Number.MIN_SAFE_INTEGER)) throw errHeader();
  return Number(v);
}

function checksumOk(b: Buffer): boolean {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < 512; i++) {
    const c = i >= 148 && i < 156 ? 0x20 : b[i]!;
    unsigned += c;
    signed += c > 127 ? c - 256 : c;
  }
  let value: number;
  try {
    value = parseOctal(b, 148, 156);
  } catch {
    return false;
  }
  return value === unsigned || value === signed;
}

const enum Format {
  V7,
  Ustar,
  Gnu,
  Star,
}

function detectFormat(b: Buffer): Format {
  // magic at 257..263, version at 263..265, star trailer at 508..512
  const ustarMagic = b[257] === 0x75 && b[258] === 0x73 && b[259] === 0x74 && b[260] === 0x61 && b[261] === 0x72;
  if (!ustarMagic) return Format.V7;
  if (b[262] === 0) {
    if (b[508] === 0x74 && b[509] === 0x61 && b[510] === 0x72 && b[511] === 0) return Format.Star;
    return Format.Ustar;
  }
  if (b[262] === 0x20 && b[263] === 0x20 && b[264] === 0) return Format.Gnu;
  return Format.V7;
}

function parseHeader(b: Buffer): TarHeader {
  if (!checksumOk(b)) throw errHeader();
  const format = detectFormat(b);
  const h: TarHeader = {
    typeflag: b[156]!,
    name: cstring(b, 0, 100),
    linkname: cstring(b, 157, 257),
    size: parseNumeric(b, 124, 136),
    mode: parseNumeric(b, 100, 108),
    uid: parseNumeric(b, 108, 116),
    gid: parseNumeric(b, 116, 124),
    uname: '',
    gname: '',
    mtime: { sec: parseNumeric(b, 136, 148), nsec: 0 },
    atime: null,
    devmajor: 0,
    devminor: 0,
    pax: null,
  };
  if (format !== Format.V7) {
    h.uname = cstring(b, 265, 297);
    h.gname = cstring(b, 297, 329);
    h.devmajor = parseNumeric(b, 329, 337);
    h.devminor = parseNumeric(b, 337, 345);
    let prefix = '';
    if (format === Format.Ustar) {
      prefix = cstring(b, 345, 500);
    } else if (format === Format.Star) {
      prefix = cstring(b, 345, 476);
      h.atime = { sec: parseNumeric(b, 476, 488), nsec: 0 };
    } else if (b[345] !== 0) {
      // GNU: atime where ustar has its prefix (no prefix in GNU headers).
      try {
        h.atime = { sec: parseNumeric(b, 345, 357), nsec: 0 };
      } catch {
        h.atime = null;
      }
    }
    if (prefix !== '') h.name = prefix + '/' + h.name;
  }
  return h;
}

/** PAX extended header records (Go's parsePAX + parsePAXRecord validation). */
export function parsePax(buf: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let off = 0;
  while (off < buf.length) {
    const sp = buf.indexOf(0x20, off);
    if (sp < 0) throw errHeader();
    const nStr = buf.toString('latin1', off, sp);
    if (!/^[0-9]+$/.test(nStr)) throw errHeader();
    const n = Number(nStr);
    if (n < 5 || n > buf.length - off) throw errHeader();
    const recEnd = off + n; // exclusive; last byte must be '\n'
    if (recEnd - 1 <= sp || buf[recEnd - 1] !== 0x0a) throw errHeader();
    const eq = buf.indexOf(0x3d, sp + 1);
    if (eq < 0 || eq >= recEnd - 1) throw errHeader();
    const key = buf.toString('latin1', sp + 1, eq);
    const value = buf.toString('latin1', eq + 1, recEnd - 1);
    if (key === '') throw errHeader();
    if (key === 'path' || key === 'linkpath' || key === 'uname' || key === 'gname') {
      if (value.includes('\0')) throw errHeader();
    } else if (key.includes('\0')) {
      throw errHeader();
    }
    // GNU sparse 0.0 offset/numbytes pairs repeat; keep the key so the reader rejects them.
    out.set(key, value);
    off = recEnd;
  }
  return out;
}

/** Go's parsePAXTime: "<sec>[.<frac>]", fraction truncated to nanoseconds. */
export function parsePaxTime(s: string): TarTime {
  const dot = s.indexOf('.');
  const ss = dot < 0 ? s : s.slice(0, dot);
  const sn = dot < 0 ? '' : s.slice(dot + 1);
  if (!/^[+-]?[0-9]+$/.test(ss)) throw errHeader();
  const sec = Number(ss);
  if (!Number.isSafeInteger(sec)) throw errHeader();
  if (sn === '') return { sec, nsec: 0 };
  if (!/^[0-9]*$/.test(sn)) throw errHeader();
  const nsec = Number((sn + '000000000').slice(0, 9));
  if (ss.startsWith('-')) {
    // time.Unix(secs, -nsecs), normalized
    if (nsec === 0) return { sec, nsec: 0 };
    return { sec: sec - 1, nsec: 1e9 - nsec };
  }
  return { sec, nsec };
}

function parsePaxInt(v: string): number {
  if (!/^[+-]?[0-9]+$/.test(v)) throw errHeader();
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw errHeader();
  return n;
}

/** Go's mergePAX: records with an empty value keep the header's own field. */
function mergePax(h: TarHeader, pax: Map<string, string>): void {
  for (const [k, v] of pax) {
    if (v === '') continue;
    switch (k) {
      case 'path':
        h.name = v;
        break;
      case 'linkpath':
        h.linkname = v;
        break;
      case 'uname':
        h.uname = v;
        break;
      case 'gname':
        h.gname = v;
        break;
      case 'uid':
        h.uid = parsePaxInt(v);
        break;
      case 'gid':
        h.gid = parsePaxInt(v);
        break;
      case 'atime':
        h.atime = parsePaxTime(v);
        break;
      case 'mtime':
        h.mtime = parsePaxTime(v);
        break;
      case 'ctime':
        parsePaxTime(v);
        break;
      case 'size':
        h.size = parsePaxInt(v);
        break;
    }
  }
  h.pax = pax;
}

/** The SCHILY.xattr.* records of an entry: [name (UTF-8 text), value bytes]. */
export function paxXattrs(h: TarHeader): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  if (h.pax === null) return out;
  for (const [k, v] of h.pax) {
    if (k.startsWith('SCHILY.xattr.')) {
      out.push([Buffer.from(k.slice('SCHILY.xattr.'.length), 'latin1').toString('utf8'), Buffer.from(v, 'latin1')]);
    }
  }
  return out;
}
