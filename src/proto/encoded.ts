/**
 * A message already in wire form. The gRPC adapters pass it through untouched, so data
 * kept in wire format (container records) is never decoded and re-encoded on the way out.
 */
export class EncodedMessage {
  constructor(readonly bytes: Buffer) {}
}

export function varint(n: number): Buffer {
  const out: number[] = [];
  let v = n;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}

/** Wire form of a varint field (omitted when 0, as proto3 does). */
export function varintField(fieldNumber: number, value: number): Buffer[] {
  return value === 0 ? [] : [varint(fieldNumber << 3), varint(value)];
}

/** Wire form of a length-delimited field: tag, length, bytes. */
export function lengthDelimited(fieldNumber: number, bytes: Buffer): Buffer[] {
  return [varint((fieldNumber << 3) | 2), varint(bytes.length), bytes];
}

/** A message made of one repeated (or singular) message field, from encoded parts. */
export function messageOf(fieldNumber: number, parts: readonly Buffer[]): EncodedMessage {
  const chunks: Buffer[] = [];
  for (const p of parts) chunks.push(...lengthDelimited(fieldNumber, p));
  return new EncodedMessage(Buffer.concat(chunks));
}
