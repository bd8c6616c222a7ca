// SPDY/3 header blocks (§2.6.10): a 32-bit count of name/value pairs, each name and value
// preceded by its 32-bit length, the whole block compressed with zlib (SPDY/3's dictionary)
// in ONE zlib stream per direction per session, each block ending at a sync flush.
import * as zlib from 'node:zlib';
import { SPDY3_DICTIONARY } from './spdy-dictionary';
import { SpdyProtocolError } from './spdy-frames';

/** Header names are lower case on the wire; a value may hold several, NUL-separated. */
export type SpdyHeaders = Map<string, string[]>;

export interface HeaderLimits {
  /** Decompressed bytes of one header block. */
  maxBlockBytes: number;
  /** Name/value pairs in one block. */
  maxPairs: number;
}

export function encodeHeaderBlock(headers: Array<[string, string]>): Buffer {
  const parts: Buffer[] = [];
  const n = Buffer.allocUnsafe(4);
  n.writeUInt32BE(headers.length);
  parts.push(n);
  for (const [name, value] of headers) {
    for (const s of [name.toLowerCase(), value]) {
      const b = Buffer.from(s, 'utf8');
      const l = Buffer.allocUnsafe(4);
      l.writeUInt32BE(b.length);
      parts.push(l, b);
    }
  }
  return Buffer.concat(parts);
}

export function decodeHeaderBlock(raw: Buffer, limits: HeaderLimits): SpdyHeaders {
  const out: SpdyHeaders = new Map();
  if (raw.length < 4) throw new SpdyProtocolError('header block shorter than its pair count');
  const count = raw.readUInt32BE(0);
  if (count > limits.maxPairs) throw new SpdyProtocolError(`header block of ${count} pairs exceeds the limit of ${limits.maxPairs}`);
  let off = 4;
  const take = (what: string): string => {
    if (off + 4 > raw.length) throw new SpdyProtocolError(`header block truncated in a ${what} length`);
    const len = raw.readUInt32BE(off);
    off += 4;
    if (off + len > raw.length) throw new SpdyProtocolError(`header ${what} of ${len} bytes runs past the block`);
    const s = raw.toString('utf8', off, off + len);
    off += len;
    return s;
  };
  for (let i = 0; i < count; i++) {
    const name = take('name');
    const value = take('value');
    if (name.length === 0) throw new SpdyProtocolError('empty header name');
    if (name !== name.toLowerCase()) throw new SpdyProtocolError(`header name ${JSON.stringify(name)} is not lower case`);
    if (out.has(name)) throw new SpdyProtocolError(`duplicate header ${JSON.stringify(name)}`);
    out.set(name, value.split('\0'));
  }
  if (off !== raw.length) throw new SpdyProtocolError('bytes after the last header pair');
  return out;
}

/**
 * The receiving zlib stream of a session. Node's zlib has no synchronous streaming context,
 * so each block is inflated asynchronously; the session holds its later frames until the
 * block is decoded, which keeps frame order. A block that inflates past the limit (a
 * compression bomb) fails before the rest of it is produced.
 */
export class HeaderInflater {
  private readonly z = zlib.createInflate({ dictionary: SPDY3_DICTIONARY });
  private failed: Error | undefined;

  constructor() {
    this.z.on('error', (e: Error) => {
      this.failed = e;
    });
  }

  inflate(block: Buffer, maxBytes: number): Promise<Buffer> {
    if (this.failed) return Promise.reject(new SpdyProtocolError(`header compression: ${this.failed.message}`));
    return new Promise((resolve, reject) => {
      const chunks: Buffer[] = [];
      let total = 0;
      let done = false;
      const finish = (err: Error | undefined): void => {
        if (done) return;
        done = true;
        this.z.off('data', onData);
        this.z.off('error', onError);
        if (err) reject(err);
        else resolve(Buffer.concat(chunks));
      };
      const onData = (c: Buffer): void => {
        total += c.length;
        if (total > maxBytes) {
          this.failed = new Error('header block too large');
          this.z.destroy();
          finish(new SpdyProtocolError(`header block decompresses to more than ${maxBytes} bytes`));
          return;
        }
        chunks.push(c);
      };
      const onError = (e: Error): void => finish(new SpdyProtocolError(`header compression: ${e.message}`));
      this.z.on('data', onData);
      this.z.on('error', onError);
      this.z.write(block);
      // Output of this block is pushed before the flush completes; setImmediate lets any
      // 'data' event still queued on this tick arrive first.
      this.z.flush(zlib.constants.Z_SYNC_FLUSH, () => setImmediate(() => finish(undefined)));
    });
  }

  close(): void {
    this.z.destroy();
  }
}

/**
 * The sending zlib stream of a session, written as stored (uncompressed) deflate blocks: the
 * blocks this server sends are a few bytes (SYN_REPLY carries no headers), compression would
 * gain nothing, and a stored block is produced synchronously in frame order. The stream is a
 * valid zlib stream primed with SPDY/3's dictionary (its header names the dictionary by
 * adler32, as the receiver checks).
 */
export class HeaderDeflater {
  private started = false;

  compress(raw: Buffer): Buffer {
    const parts: Buffer[] = [];
    if (!this.started) {
      this.started = true;
      // CMF 0x78 (deflate, 32K window); FLG with FDICT (0x20) and FCHECK making CMF*256+FLG
      // a multiple of 31; then DICTID, the adler32 of the dictionary.
      const cmf = 0x78;
      let flg = 0x20;
      flg |= 31 - ((cmf * 256 + flg) % 31);
      const head = Buffer.allocUnsafe(6);
      head[0] = cmf;
      head[1] = flg;
      head.writeUInt32BE(adler32(SPDY3_DICTIONARY), 2);
      parts.push(head);
    }
    for (let off = 0; off < raw.length; off += 65_535) parts.push(storedBlock(raw.subarray(off, off + 65_535)));
    // The sync-flush marker (an empty stored block) ends every block, as zlib's Z_SYNC_FLUSH
    // does: Go's inflater hands out what it has decoded only when it reaches one.
    parts.push(storedBlock(Buffer.alloc(0)));
    return Buffer.concat(parts);
  }
}

/** A stored deflate block (BFINAL 0, BTYPE 00, padded to the byte), LEN and NLEN, the bytes. */
function storedBlock(piece: Buffer): Buffer {
  const h = Buffer.allocUnsafe(5);
  h[0] = 0x00;
  h.writeUInt16LE(piece.length, 1);
  h.writeUInt16LE(~piece.length & 0xffff, 3);
  return Buffer.concat([h, piece]);
}

export function adler32(b: Buffer): number {
  let a = 1;
  let s = 0;
  for (const x of b) {
    a = (a + x) % 65_521;
    s = (s + a) % 65_521;
  }
  return ((s << 16) | a) >>> 0;
}
