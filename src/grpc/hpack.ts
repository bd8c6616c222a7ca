// HPACK (RFC 7541) for berth's HTTP/2 server: a full decoder (clients index headers into
// the dynamic table and Huffman-code their strings) and a minimal encoder (literals
// without indexing, Huffman never), which is all a gRPC server needs to answer.
import { HUFFMAN_CODES, HUFFMAN_LENGTHS, STATIC_TABLE } from './hpack-tables';

export class HpackError extends Error {}

/** Huffman decoding trie, built once: node i has children zero[i]/one[i] (0 = none), leaf sym[i] >= 0. */
const trie = (() => {
  const zero = [0];
  const one = [0];
  const sym = [-1];
  for (let s = 0; s < 256; s++) {
    const code = HUFFMAN_CODES[s] as number;
    const len = HUFFMAN_LENGTHS[s] as number;
    let node = 0;
    for (let b = len - 1; b >= 0; b--) {
      const bit = (code >>> b) & 1;
      const next = bit ? one : zero;
      let child = next[node] as number;
      if (child === 0) {
        child = sym.length;
        zero.push(0);
        one.push(0);
        sym.push(-1);
        next[node] = child;
      }
      node = child;
    }
    sym[node] = s;
  }
  return { zero: Int32Array.from(zero), one: Int32Array.from(one), sym: Int16Array.from(sym) };
})();

export function huffmanDecode(src: Buffer): Buffer {
  const out = Buffer.allocUnsafe(src.length * 2); // codes are >= 5 bits: at most 8/5 symbols per byte
  let n = 0;
  let node = 0;
  let depth = 0; // bits consumed since the last symbol
  let allOnes = true;
  for (let i = 0; i < src.length; i++) {
    const byte = src[i] as number;
    for (let b = 7; b >= 0; b--) {
      const bit = (byte >>> b) & 1;
      node = bit ? (trie.one[node] as number) : (trie.zero[node] as number);
      if (node === 0) throw new HpackError('invalid Huffman code');
      depth++;
      allOnes &&= bit === 1;
      const s = trie.sym[node] as number;
      if (s >= 0) {
        out[n++] = s;
        node = 0;
        depth = 0;
        allOnes = true;
      }
    }
  }
  // Padding: the most significant bits of EOS (all ones), fewer than 8.
  if (depth > 7 || !allOnes) throw new HpackError('invalid Huffman padding');
  return out.subarray(0, n);
}

interface Cursor {
  buf: Buffer;
  pos: number;
}

function readInt(c: Cursor, prefixBits: number): number {
  if (c.pos >= c.buf.length) throw new HpackError('truncated integer');
  const max = (1 << prefixBits) - 1;
  let v = (c.buf[c.pos++] as number) & max;
  if (v < max) return v;
  let shift = 0;
  for (;;) {
    if (c.pos >= c.buf.length) throw new HpackError('truncated integer');
    const b = c.buf[c.pos++] as number;
    v += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if (shift > 28) throw new HpackError('integer overflow');
    if ((b & 0x80) === 0) return v;
  }
}

function readString(c: Cursor): string {
  if (c.pos >= c.buf.length) throw new HpackError('truncated string');
  const huffman = ((c.buf[c.pos] as number) & 0x80) !== 0;
  const len = readInt(c, 7);
  if (c.pos + len > c.buf.length) throw new HpackError('truncated string');
  const raw = c.buf.subarray(c.pos, c.pos + len);
  c.pos += len;
  return (huffman ? huffmanDecode(raw) : raw).toString('latin1');
}

function skipString(c: Cursor): void {
  if (c.pos >= c.buf.length) throw new HpackError('truncated string');
  const len = readInt(c, 7);
  if (c.pos + len > c.buf.length) throw new HpackError('truncated string');
  c.pos += len;
}

/** One connection's decoding context (its dynamic table lives across header blocks). */
export class HpackDecoder {
  /** Newest first. */
  private dynamic: Array<[string, string]> = [];
  private size = 0;
  private limit: number;

  /** maxTableSize: the SETTINGS_HEADER_TABLE_SIZE this endpoint advertised. */
  constructor(private readonly maxTableSize = 4096) {
    this.limit = maxTableSize;
  }

  private entry(index: number): [string, string] {
    if (index <= 0) throw new HpackError('index 0');
    if (index < STATIC_TABLE.length) return STATIC_TABLE[index] as [string, string];
    const e = this.dynamic[index - STATIC_TABLE.length];
    if (!e) throw new HpackError(`index ${index} out of range`);
    return e;
  }

  private evict(): void {
    while (this.size > this.limit && this.dynamic.length > 0) {
      const [n, v] = this.dynamic.pop() as [string, string];
      this.size -= n.length + v.length + 32;
    }
  }

  private add(name: string, value: string): readonly [string, string] {
    const e: [string, string] = [name, value];
    this.dynamic.unshift(e);
    this.size += name.length + value.length + 32;
    this.evict();
    return e;
  }

  /**
   * Decodes one complete header block into [name, value] pairs, in order. The decoded size
   * (RFC 9113 §6.5.2: name + value + 32 per field) and the number of fields are bounded
   * while decoding: a block of a few hundred KB can reference one large table entry
   * hundreds of thousands of times (an "HPACK bomb"), so the fields are never built past
   * the bound. The rest of the block is still walked, without building strings, so that
   * the dynamic table stays in step with the client's; then `truncated` is true and the
   * fields are incomplete (the caller refuses the stream, as grpc-go does).
   */
  decode(block: Buffer, maxListSize = Infinity, maxFields = Infinity): Array<readonly [string, string]> & { truncated?: boolean } {
    const c: Cursor = { buf: block, pos: 0 };
    const out: Array<readonly [string, string]> & { truncated?: boolean } = [];
    let listSize = 0;
    let truncated = false;
    // A field from a table is its entry itself (entries are never changed, only dropped):
    // grpc-go indexes every request header, so a request's fields cost no allocation.
    const emit = (field: readonly [string, string]): void => {
      if (truncated) return;
      listSize += field[0].length + field[1].length + 32;
      if (listSize > maxListSize || out.length >= maxFields) {
        truncated = true;
        out.length = 0; // nothing of a refused block is kept
        return;
      }
      out.push(field);
    };
    // RFC 7541 §4.2: table size updates come first in a block, before any field; at most
    // two (a minimum and a final size), since this endpoint never changes its setting.
    let fieldsSeen = false;
    let sizeUpdates = 0;
    while (c.pos < block.length) {
      const b = block[c.pos] as number;
      if (b & 0x80) {
        emit(this.entry(readInt(c, 7)));
      } else if (b & 0x40) {
        const idx = readInt(c, 6);
        const name = idx === 0 ? readString(c) : this.entry(idx)[0];
        const value = readString(c);
        emit(this.add(name, value));
      } else if (b & 0x20) {
        if (fieldsSeen) throw new HpackError('dynamic table size update after a header field');
        if (++sizeUpdates > 2) throw new HpackError('more than two dynamic table size updates');
        const size = readInt(c, 5);
        if (size > this.maxTableSize) throw new HpackError('table size update above the limit');
        this.limit = size;
        this.evict();
        continue;
      } else {
        // literal without indexing (0000) or never indexed (0001): not kept in the table, so
        // once the block is refused its strings are skipped, not decoded
        const idx = readInt(c, 4);
        if (truncated) {
          if (idx === 0) skipString(c);
          else this.entry(idx);
          skipString(c);
        } else {
          const name = idx === 0 ? readString(c) : this.entry(idx)[0];
          emit([name, readString(c)]);
        }
      }
      fieldsSeen = true;
    }
    if (truncated) out.truncated = true;
    return out;
  }
}

/** Static-table index of each name, for the encoder. */
const NAME_INDEX = new Map<string, number>();
STATIC_TABLE.forEach(([n], i) => {
  if (i > 0 && !NAME_INDEX.has(n)) NAME_INDEX.set(n, i);
});

function writeInt(out: number[], v: number, prefixBits: number, first: number): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(first | v);
    return;
  }
  out.push(first | max);
  v -= max;
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function writeString(out: number[], s: string): void {
  const bytes = Buffer.from(s, 'latin1');
  writeInt(out, bytes.length, 7, 0);
  for (const x of bytes) out.push(x);
}

/**
 * Encodes headers without touching the peer's dynamic table: `:status: 200` indexed,
 * everything else a literal without indexing (with the static table's name index when
 * there is one).
 */
export function encodeHeaders(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  // A frozen list never changes: encode it once (every call's response headers and every
  // OK status are the same few bytes).
  if (Object.isFrozen(headers)) {
    let block = frozenBlocks.get(headers);
    if (!block) {
      block = encodeList(headers);
      frozenBlocks.set(headers, block);
    }
    return block;
  }
  return encodeList(headers);
}

const frozenBlocks = new WeakMap<ReadonlyArray<readonly [string, string]>, Buffer>();

function encodeList(headers: ReadonlyArray<readonly [string, string]>): Buffer {
  const out: number[] = [];
  for (const [name, value] of headers) {
    if (name === ':status' && value === '200') {
      out.push(0x88);
      continue;
    }
    const idx = NAME_INDEX.get(name);
    if (idx !== undefined) writeInt(out, idx, 4, 0);
    else {
      out.push(0);
      writeString(out, name);
    }
    writeString(out, value);
  }
  return Buffer.from(out);
}
