// A content WRITE sent as its encoded header, the data field's key and length, and the
// data chunks as they came (GrpcCall.sendWithBytes, content-ingester.ts): the same bytes a
// whole-message encode gives, and decoded back to the same request.
import { describe, expect, it } from 'vitest';
import { bytesFieldHead } from '../../src/client/grpc-frames';
import { decodePlain, encodePlain } from '../../src/proto/codec';
import { wirePlan } from '../../src/proto/wire-table';

const plan = wirePlan('containerd.services.content.v1.WriteContentRequest');

describe('WRITE with its data sent apart', () => {
  for (const size of [0, 1, 127, 128, 16_383, 16_384, (1 << 20) - 1, 1 << 20, 3 << 20]) {
    it(`${size} bytes in uneven chunks`, () => {
      const data = Buffer.alloc(size);
      for (let i = 0; i < size; i++) data[i] = (i * 131) & 0xff;
      const chunks: Buffer[] = [];
      for (let at = 0, n = 1; at < size; at += n, n = (n * 7 + 3) % 70_000 || 1) chunks.push(data.subarray(at, at + n));
      const req = { action: 'WRITE', ref: 'layer-sha256:abc', offset: 123_456_789 };
      const split = Buffer.concat([encodePlain(plan, req), bytesFieldHead(6, size), ...chunks]);
      // The whole-message encode puts data (6) after every field it sets: the same bytes
      // (but for an empty value, which it leaves out; the writer never sends one).
      if (size > 0) expect(split.equals(encodePlain(plan, { ...req, data }))).toBe(true);
      const back = decodePlain(plan, split) as { action: string; ref: string; offset: number; data: Buffer };
      expect(back.ref).toBe(req.ref);
      expect(Number(back.offset)).toBe(req.offset);
      expect(Buffer.from(back.data).equals(data)).toBe(true);
    });
  }
});
