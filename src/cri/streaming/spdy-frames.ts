// SPDY/3.1 framing (the SPDY/3.1 draft: §2.2 frame layout, §2.6 control frames), written here
// rather than taken from npm: the `spdy`/`spdy-transport` packages (last released years ago)
// carry HTTP semantics over SPDY for browsers, while Kubernetes' streaming protocols need raw
// bidirectional streams named by headers, half-close, and limits of our own choosing on every
// frame a hostile client can send. The wire layout:
//
//   data frame:    0 | stream-id (31) | flags (8) | length (24) | payload
//   control frame: 1 | version (15) = 3 | type (16) | flags (8) | length (24) | payload
//
// Data frames are handed on in pieces as their bytes arrive (a 16 MiB frame is never held
// whole); control frames are held whole up to a limit.

export const SPDY_VERSION = 3;

export const CONTROL = {
  SYN_STREAM: 1,
  SYN_REPLY: 2,
  RST_STREAM: 3,
  SETTINGS: 4,
  PING: 6,
  GOAWAY: 7,
  HEADERS: 8,
  WINDOW_UPDATE: 9,
  CREDENTIAL: 10,
} as const;

export const FLAG_FIN = 0x01;
export const FLAG_UNIDIRECTIONAL = 0x02;

/** RST_STREAM status codes (§2.6.3). */
export const RST = {
  PROTOCOL_ERROR: 1,
  INVALID_STREAM: 2,
  REFUSED_STREAM: 3,
  UNSUPPORTED_VERSION: 4,
  CANCEL: 5,
  INTERNAL_ERROR: 6,
  FLOW_CONTROL_ERROR: 7,
  STREAM_IN_USE: 8,
  STREAM_ALREADY_CLOSED: 9,
  FRAME_TOO_LARGE: 11,
} as const;

/** GOAWAY status codes (§2.6.6). */
export const GOAWAY = { OK: 0, PROTOCOL_ERROR: 1, INTERNAL_ERROR: 2 } as const;

/** SETTINGS ids (§2.6.4) that this server reads or sends. */
export const SETTING = { MAX_CONCURRENT_STREAMS: 4, INITIAL_WINDOW_SIZE: 7 } as const;

/** SPDY/3.1's initial stream and session flow-control window (§2.6.8). */
export const DEFAULT_WINDOW = 65_536;
export const MAX_WINDOW = 2 ** 31 - 1;
const MAX_LENGTH = 0xff_ffff;

/** A protocol violation that ends the session (GOAWAY PROTOCOL_ERROR, then close). */
export class SpdyProtocolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpdyProtocolError';
  }
}

export type ParsedFrame =
  | { kind: 'data'; streamId: number; chunk: Buffer; fin: boolean }
  | { kind: 'control'; version: number; type: number; flags: number; payload: Buffer };

/**
 * Incremental frame parser: feed socket bytes, get frames. A data frame's payload comes out
 * as one or more chunks as it arrives (fin only on its last chunk, when the frame has FIN).
 */
export class SpdyFrameParser {
  private pending: Buffer = Buffer.alloc(0);
  /** Bytes of the current data frame's payload still to come (0: at a frame header). */
  private dataLeft = 0;
  private dataStream = 0;
  private dataFin = false;

  constructor(private readonly maxControlFrame: number) {}

  push(buf: Buffer, out: (f: ParsedFrame) => void): void {
    let b = this.pending.length > 0 ? Buffer.concat([this.pending, buf]) : buf;
    this.pending = Buffer.alloc(0);
    for (;;) {
      if (this.dataLeft > 0) {
        if (b.length === 0) return;
        const n = Math.min(this.dataLeft, b.length);
        this.dataLeft -= n;
        out({ kind: 'data', streamId: this.dataStream, chunk: b.subarray(0, n), fin: this.dataLeft === 0 && this.dataFin });
        b = b.subarray(n);
        continue;
      }
      if (b.length < 8) {
        this.pending = Buffer.from(b);
        return;
      }
      const word = b.readUInt32BE(0);
      const flags = b[4]!;
      const length = b.readUIntBE(5, 3);
      if ((word & 0x8000_0000) === 0) {
        const streamId = word & 0x7fff_ffff;
        b = b.subarray(8);
        if (length === 0) {
          out({ kind: 'data', streamId, chunk: Buffer.alloc(0), fin: (flags & FLAG_FIN) !== 0 });
          continue;
        }
        this.dataLeft = length;
        this.dataStream = streamId;
        this.dataFin = (flags & FLAG_FIN) !== 0;
        continue;
      }
      if (length > this.maxControlFrame) {
        throw new SpdyProtocolError(`control frame of ${length} bytes exceeds the limit of ${this.maxControlFrame}`);
      }
      if (b.length < 8 + length) {
        this.pending = Buffer.from(b);
        return;
      }
      out({
        kind: 'control',
        version: (word >>> 16) & 0x7fff,
        type: word & 0xffff,
        flags,
        payload: b.subarray(8, 8 + length),
      });
      b = b.subarray(8 + length);
    }
  }
}

/** The 8-byte header of a data frame (the payload is written after it, uncopied). */
export function dataFrameHeader(streamId: number, flags: number, length: number): Buffer {
  if (length > MAX_LENGTH) throw new RangeError(`data frame of ${length} bytes`);
  const h = Buffer.allocUnsafe(8);
  h.writeUInt32BE(streamId & 0x7fff_ffff, 0);
  h[4] = flags;
  h.writeUIntBE(length, 5, 3);
  return h;
}

/** A whole control frame. */
export function controlFrame(type: number, flags: number, payload: Buffer): Buffer {
  if (payload.length > MAX_LENGTH) throw new RangeError(`control frame of ${payload.length} bytes`);
  const f = Buffer.allocUnsafe(8 + payload.length);
  f.writeUInt32BE((0x8000_0000 | (SPDY_VERSION << 16) | type) >>> 0, 0);
  f[4] = flags;
  f.writeUIntBE(payload.length, 5, 3);
  payload.copy(f, 8);
  return f;
}

function u32(...values: number[]): Buffer {
  const b = Buffer.allocUnsafe(4 * values.length);
  values.forEach((v, i) => b.writeUInt32BE(v >>> 0, 4 * i));
  return b;
}

export function synReplyFrame(streamId: number, compressedHeaders: Buffer, fin: boolean): Buffer {
  return controlFrame(CONTROL.SYN_REPLY, fin ? FLAG_FIN : 0, Buffer.concat([u32(streamId & 0x7fff_ffff), compressedHeaders]));
}

export function rstStreamFrame(streamId: number, status: number): Buffer {
  return controlFrame(CONTROL.RST_STREAM, 0, u32(streamId & 0x7fff_ffff, status));
}

export function settingsFrame(entries: Array<[id: number, value: number]>): Buffer {
  const parts = [u32(entries.length)];
  for (const [id, value] of entries) parts.push(u32(id & 0xff_ffff, value)); // flags byte 0
  return controlFrame(CONTROL.SETTINGS, 0, Buffer.concat(parts));
}

export function pingFrame(id: number): Buffer {
  return controlFrame(CONTROL.PING, 0, u32(id));
}

export function goawayFrame(lastGoodStreamId: number, status: number): Buffer {
  return controlFrame(CONTROL.GOAWAY, 0, u32(lastGoodStreamId & 0x7fff_ffff, status));
}

export function windowUpdateFrame(streamId: number, delta: number): Buffer {
  return controlFrame(CONTROL.WINDOW_UPDATE, 0, u32(streamId & 0x7fff_ffff, delta & 0x7fff_ffff));
}

export interface SynStream {
  streamId: number;
  associatedStreamId: number;
  priority: number;
  fin: boolean;
  unidirectional: boolean;
  headerBlock: Buffer;
}

/** SYN_STREAM payload (§2.6.1): stream-id, associated-stream-id, priority, slot, header block. */
export function parseSynStream(flags: number, p: Buffer): SynStream {
  if (p.length < 10) throw new SpdyProtocolError(`SYN_STREAM of ${p.length} bytes`);
  return {
    streamId: p.readUInt32BE(0) & 0x7fff_ffff,
    associatedStreamId: p.readUInt32BE(4) & 0x7fff_ffff,
    priority: p[8]! >>> 5,
    fin: (flags & FLAG_FIN) !== 0,
    unidirectional: (flags & FLAG_UNIDIRECTIONAL) !== 0,
    headerBlock: p.subarray(10),
  };
}

/** The fixed-size control frames: the length each must have. */
export function expectLength(name: string, p: Buffer, length: number): void {
  if (p.length !== length) throw new SpdyProtocolError(`${name} frame of ${p.length} bytes (must be ${length})`);
}

export function parseSettings(p: Buffer): Array<[id: number, value: number]> {
  if (p.length < 4) throw new SpdyProtocolError(`SETTINGS frame of ${p.length} bytes`);
  const n = p.readUInt32BE(0);
  if (p.length !== 4 + 8 * n) throw new SpdyProtocolError(`SETTINGS frame of ${p.length} bytes for ${n} entries`);
  const out: Array<[number, number]> = [];
  for (let i = 0; i < n; i++) out.push([p.readUInt32BE(4 + 8 * i) & 0xff_ffff, p.readUInt32BE(8 + 8 * i)]);
  return out;
}
