// gRPC's length-prefixed messages on an HTTP/2 stream: a flag byte (compressed or not), a
// 4-byte big-endian length, then the message. berth never compresses (neither does
// containerd's Go client), so a compressed message from a peer is an error.
import { varint } from '../proto/encoded';

/** The largest message accepted, as containerd's Go client sets it (16 MiB). */
export const MAX_MESSAGE_BYTES = 16 << 20;

/** The 5-byte prefix of an uncompressed message of `length` bytes (sent ahead of the
 * message itself, so a MiB of content is not copied once more to frame it). */
export function frameHeader(length: number): Buffer {
  const header = Buffer.allocUnsafe(5);
  header[0] = 0;
  header.writeUInt32BE(length, 1);
  return header;
}

/** The protobuf key and length of a bytes field (number `field`) of `length` bytes: what
 * goes before its value when the value is sent as it is, after the rest of the message. */
export function bytesFieldHead(field: number, length: number): Buffer {
  return Buffer.concat([varint((field << 3) | 2), varint(length)]);
}

export class FrameError extends Error {}

/** Splits a byte stream into whole messages, however the chunks fall. */
export class MessageDeframer {
  private chunks: Buffer[] = [];
  private buffered = 0;

  /** The messages completed by chunk, in order. */
  push(chunk: Buffer): Buffer[] {
    this.chunks.push(chunk);
    this.buffered += chunk.length;
    const out: Buffer[] = [];
    for (;;) {
      if (this.buffered < 5) break;
      const head = this.peek(5);
      if (head[0] !== 0) throw new FrameError('grpc: compressed message received, but no compression was negotiated');
      const length = head.readUInt32BE(1);
      if (length > MAX_MESSAGE_BYTES) throw new FrameError(`grpc: received message larger than max (${length} vs. ${MAX_MESSAGE_BYTES})`);
      if (this.buffered < 5 + length) break;
      const all = this.take(5 + length);
      out.push(all.subarray(5));
    }
    return out;
  }

  /** Bytes of an unfinished message left when the stream ended. */
  get pending(): number {
    return this.buffered;
  }

  private peek(n: number): Buffer {
    if (this.chunks[0]!.length >= n) return this.chunks[0]!;
    return Buffer.concat(this.chunks, this.buffered).subarray(0, n);
  }

  private take(n: number): Buffer {
    const first = this.chunks[0]!;
    if (first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const all = Buffer.concat(this.chunks, this.buffered);
    const out = all.subarray(0, n);
    this.chunks = all.length > n ? [all.subarray(n)] : [];
    this.buffered -= n;
    return out;
  }
}
