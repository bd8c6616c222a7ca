// berth's HPACK decoder (src/grpc/hpack.ts) against grpc-go's encoder: 3000 header blocks
// of one connection (test/go/hpack), decoded in order — a decoder whose dynamic table
// drifted from the client's would hand handlers another request's namespace or lease.
import { describe, expect, it } from 'vitest';
import { buildGoProgram, runGoProgram } from '../harness';
import { HpackDecoder } from '../../src/grpc/hpack';

describe('HPACK: blocks from grpc-go’s encoder', () => {
  it('decodes every block to the headers encoded, across evictions and table size updates', async () => {
    const bin = await buildGoProgram('hpack');
    const r = await runGoProgram(bin, []);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toHaveLength(3000);
    const d = new HpackDecoder(4096);
    const wrong: number[] = [];
    r.lines.forEach((l, i) => {
      const got = d.decode(Buffer.from(l['block'] as string, 'base64'));
      if (JSON.stringify(got) !== JSON.stringify(l['want'])) wrong.push(i);
    });
    expect(wrong).toEqual([]);
  }, 300_000);
});
