// Resource bounds of berthd's HTTP/2 server (issue 12), in-process and frame by frame:
// the SETTINGS it advertises, streams beyond SETTINGS_MAX_CONCURRENT_STREAMS, header lists
// beyond SETTINGS_MAX_HEADER_LIST_SIZE (decoded size and field count; an HPACK bomb
// refused while decoding), HPACK table size updates, and a unary call whose client keeps
// sending after its one message. The floods themselves are in test/e2e/grpc-hostile.test.ts.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { sendUnaryData, ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../src/grpc/hpack';
import { MAX_CONCURRENT_STREAMS, MAX_HEADER_FIELDS, MAX_HEADER_LIST_SIZE } from '../../src/grpc/http2-connection';
import { GrpcServer } from '../../src/grpc/server';
import { E, RawConn, T, block, callHeaders, frame, grpcMessage } from './h2-raw';

const id = (b: Buffer): Buffer => b;
const DEF = {
  // Answers after the number of ms in the request (none: at once).
  Delay: { path: '/test.T/Delay', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id, originalName: 'Delay' },
} as unknown as ServiceDefinition;
const impl: UntypedServiceImplementation = {
  Delay: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    setTimeout(() => cb(null, Buffer.from(`got ${call.request.length}`)), Number(call.request.toString() || '0'));
  },
};
const DELAY = '/test.T/Delay';
const REFUSED_STREAM = 7;
const COMPRESSION_ERROR = 9;

let dir: string;
let sock: string;
let server: GrpcServer;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-h2b-'));
  sock = path.join(dir, 's.sock');
  server = new GrpcServer();
  server.addService(DEF, impl);
  await server.listen(sock);
});

afterAll(() => {
  server?.forceShutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('advertised and enforced bounds', () => {
  it('advertises MAX_CONCURRENT_STREAMS and MAX_HEADER_LIST_SIZE in its SETTINGS', async () => {
    const c = await RawConn.open(sock);
    try {
      await c.until(() => c.frames.some((f) => f.type === T.SETTINGS && (f.flags & 1) === 0));
      const s = c.frames.find((f) => f.type === T.SETTINGS && (f.flags & 1) === 0)!.payload;
      const settings = new Map<number, number>();
      for (let i = 0; i < s.length; i += 6) settings.set(s.readUInt16BE(i), s.readUInt32BE(i + 2));
      expect(settings.get(3)).toBe(MAX_CONCURRENT_STREAMS);
      expect(settings.get(6)).toBe(MAX_HEADER_LIST_SIZE);
      // The values chosen (http2-connection.ts says why).
      expect([settings.get(3), settings.get(6)]).toEqual([100, 64 * 1024]);
    } finally {
      c.close();
    }
  });

  it('refuses streams beyond MAX_CONCURRENT_STREAMS with REFUSED_STREAM, and serves again once they end', async () => {
    const c = await RawConn.open(sock);
    try {
      // Open calls that wait 300 ms each, then one more.
      const open: Buffer[] = [];
      for (let k = 0; k < MAX_CONCURRENT_STREAMS; k++) open.push(frame(T.HEADERS, 4, 2 * k + 1, block(callHeaders(DELAY))), frame(T.DATA, 1, 2 * k + 1, grpcMessage(Buffer.from('300'))));
      const extra = 2 * MAX_CONCURRENT_STREAMS + 1;
      c.send(...open, frame(T.HEADERS, 4, extra, block(callHeaders(DELAY))), frame(T.DATA, 1, extra, grpcMessage(Buffer.alloc(0))));
      expect(await c.rst(extra)).toBe(REFUSED_STREAM);
      expect((await c.status(1)).code).toBe('0');
      await c.until(() => c.frames.filter((f) => f.type === T.HEADERS && (f.flags & 1) !== 0).length === MAX_CONCURRENT_STREAMS);
      const next = extra + 2;
      c.send(frame(T.HEADERS, 4, next, block(callHeaders(DELAY))), frame(T.DATA, 1, next, grpcMessage(Buffer.alloc(0))));
      expect((await c.status(next)).code).toBe('0');
    } finally {
      c.close();
    }
  });

  it('resets a stream whose header list exceeds the bound (decoded size or field count) with FRAME_SIZE_ERROR, and keeps the connection', async () => {
    const big = Buffer.from('a'.repeat(4000));
    // An HPACK bomb: one ~4 KB entry added to the table, then referenced 20000 times (20
    // KB of block, 80 MB decoded).
    const bomb = Buffer.concat([block(callHeaders(DELAY)), Buffer.from([0x40, 8]), Buffer.from('x-b-bin1'), Buffer.from([0x7f, 0x80 | ((4000 - 127) % 128), (4000 - 127) >> 7]), big, Buffer.alloc(20_000, 0x80 | 62)]);
    const manyFields = block(callHeaders(DELAY, Array.from({ length: MAX_HEADER_FIELDS }, (_, i) => [`x-${i}`, 'v'] as const)));
    const c = await RawConn.open(sock);
    try {
      const t0 = Date.now();
      c.send(frame(T.HEADERS, 5, 1, bomb), frame(T.HEADERS, 5, 3, manyFields));
      expect(await c.rst(1)).toBe(E.FRAME_SIZE_ERROR);
      expect(await c.rst(3)).toBe(E.FRAME_SIZE_ERROR);
      expect(Date.now() - t0).toBeLessThan(1000);
      // The dynamic table is still in step: the entry the bomb added is index 62, and a
      // call that references it once is served.
      c.send(frame(T.HEADERS, 4, 5, Buffer.concat([block(callHeaders(DELAY)), Buffer.from([0x80 | 62])])), frame(T.DATA, 1, 5, grpcMessage(Buffer.alloc(0))));
      expect((await c.status(5)).code).toBe('0');
    } finally {
      c.close();
    }
  });

  it('HPACK: stops building fields at the bound, marks the list truncated, keeps the table in step', () => {
    const d = new HpackDecoder(4096);
    const entry = Buffer.concat([Buffer.from([0x40, 1]), Buffer.from('x'), Buffer.from([0x7f, 0x80 | ((1000 - 127) % 128), (1000 - 127) >> 7]), Buffer.alloc(1000, 0x61)]);
    const out = d.decode(Buffer.concat([entry, Buffer.alloc(100_000, 0x80 | 62)]), 64 * 1024, 256);
    expect(out.truncated).toBe(true);
    expect(out).toHaveLength(0);
    const again = d.decode(Buffer.from([0x80 | 62]), 64 * 1024, 256);
    expect(again).toEqual([['x', 'a'.repeat(1000)]]);
    expect(again.truncated).toBeUndefined();
  });

  it('fails the connection with COMPRESSION_ERROR for more than two table size updates in a block', async () => {
    const c = await RawConn.open(sock);
    try {
      c.send(frame(T.HEADERS, 5, 1, Buffer.concat([Buffer.from([0x20, 0x20, 0x20]), block(callHeaders(DELAY))])));
      expect((await c.goawayAndClose(3000)).code).toBe(COMPRESSION_ERROR);
    } finally {
      c.close();
    }
  });

  it('a unary call is answered after its first message, without END_STREAM; what follows is not granted window', async () => {
    const c = await RawConn.open(sock);
    try {
      c.send(frame(T.HEADERS, 4, 1, block(callHeaders(DELAY))), frame(T.DATA, 0, 1, grpcMessage(Buffer.alloc(0))), frame(T.DATA, 0, 1, Buffer.alloc(100_000)));
      expect(await c.status(1)).toMatchObject({ code: '0' });
      // Answered, then reset with NO_ERROR (the client need not send the rest); the 100 KB
      // after the message were not returned to the stream's window.
      expect(await c.rst(1)).toBe(E.NO_ERROR);
      expect(c.frames.some((f) => f.type === T.WINDOW_UPDATE && f.stream === 1)).toBe(false);
    } finally {
      c.close();
    }
  });
});
