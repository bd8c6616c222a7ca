// ttrpc 1.1 framing (github.com/containerd/ttrpc channel.go): a raw byte stream of
// messages, each a 10-byte header followed by its payload. No preface, no handshake.
//
//   bytes 0-3  payload length, uint32 big-endian (header excluded)
//   bytes 4-7  stream id, uint32 big-endian (client-initiated: odd, 1, 3, 5, ...)
//   byte  8    message type: 1 request, 2 response
//   byte  9    flags (reserved, 0)

export const MESSAGE_HEADER_LENGTH = 10;
/** ttrpc's messageLengthMax (4 << 20). A peer discards anything longer. */
export const MESSAGE_LENGTH_MAX = 4 << 20;

export const MESSAGE_TYPE_REQUEST = 1;
export const MESSAGE_TYPE_RESPONSE = 2;

export interface MessageHeader {
  length: number;
  streamId: number;
  type: number;
  flags: number;
}

/** One whole message: header plus payload. */
export function encodeFrame(streamId: number, type: number, payload: Uint8Array, flags = 0): Buffer {
  const out = Buffer.allocUnsafe(MESSAGE_HEADER_LENGTH + payload.length);
  out.writeUInt32BE(payload.length, 0);
  out.writeUInt32BE(streamId >>> 0, 4);
  out[8] = type;
  out[9] = flags;
  out.set(payload, MESSAGE_HEADER_LENGTH);
  return out;
}

export function oversizeMessage(length: number): string {
  // Go ttrpc's wording (channel.go), so logs read the same on both sides.
  return `message length ${length} exceed maximum message size of ${MESSAGE_LENGTH_MAX}`;
}

export interface FrameSink {
  /** A complete message of at most MESSAGE_LENGTH_MAX bytes. */
  message(header: MessageHeader, payload: Buffer): void;
  /** A message longer than MESSAGE_LENGTH_MAX: its payload is skipped, never buffered. */
  oversized(header: MessageHeader): void;
}

/**
 * Incremental decoder: feed it socket chunks in order; it calls the sink for each message.
 * A payload is copied once into a buffer of its exact size (or sliced without a copy
 * when a single chunk holds all of it); oversized payloads are skipped as they stream by.
 */
export class FrameDecoder {
  private readonly headerBuf = Buffer.allocUnsafe(MESSAGE_HEADER_LENGTH);
  private headerFill = 0;
  private header: MessageHeader | undefined;
  private body: Buffer | undefined;
  private bodyFill = 0;
  private skipRemaining = 0;

  constructor(private readonly sink: FrameSink) {}

  /** True when no message is partially received. */
  get idle(): boolean {
    return this.headerFill === 0 && this.header === undefined && this.skipRemaining === 0;
  }

  push(chunk: Buffer): void {
    let pos = 0;
    const n = chunk.length;
    while (pos < n) {
      if (this.skipRemaining > 0) {
        const take = Math.min(this.skipRemaining, n - pos);
        this.skipRemaining -= take;
        pos += take;
        continue;
      }
      if (this.header === undefined) {
        const take = Math.min(MESSAGE_HEADER_LENGTH - this.headerFill, n - pos);
        chunk.copy(this.headerBuf, this.headerFill, pos, pos + take);
        this.headerFill += take;
        pos += take;
        if (this.headerFill < MESSAGE_HEADER_LENGTH) return;
        this.headerFill = 0;
        const header: MessageHeader = {
          length: this.headerBuf.readUInt32BE(0),
          streamId: this.headerBuf.readUInt32BE(4),
          type: this.headerBuf[8] as number,
          flags: this.headerBuf[9] as number,
        };
        if (header.length > MESSAGE_LENGTH_MAX) {
          this.skipRemaining = header.length;
          this.sink.oversized(header);
          continue;
        }
        if (header.length === 0) {
          this.sink.message(header, Buffer.alloc(0));
          continue;
        }
        if (n - pos >= header.length) {
          // Whole payload in this chunk: no copy.
          const payload = chunk.subarray(pos, pos + header.length);
          pos += header.length;
          this.sink.message(header, payload);
          continue;
        }
        this.header = header;
        this.body = Buffer.allocUnsafe(header.length);
        this.bodyFill = 0;
        continue;
      }
      const body = this.body as Buffer;
      const take = Math.min(body.length - this.bodyFill, n - pos);
      chunk.copy(body, this.bodyFill, pos, pos + take);
      this.bodyFill += take;
      pos += take;
      if (this.bodyFill === body.length) {
        const header = this.header;
        this.header = undefined;
        this.body = undefined;
        this.bodyFill = 0;
        this.sink.message(header, body);
      }
    }
  }
}
