// Transport correctness of berthd's gRPC server (src/grpc), driven frame by frame
// (test/unit/h2-raw.ts): grpc-timeout as grpc-go 1.47 reads it, protobuf decode errors as
// containerd answers them, RFC 9113 request validation (stream and connection errors),
// and the preface timeout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type * as net from 'node:net';
import { Duplex } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { GrpcServer, parseGrpcTimeout } from '../../src/grpc/server';
import { Http2ServerConnection, type H2Stream } from '../../src/grpc/http2-connection';
import { decodeMessage, encodeMessage } from '../../src/proto/registry';
import { E, PREFACE, RawConn, T, block, callHeaders, frame, grpcMessage, type Fields, type Frame } from './h2-raw';

const id = (b: Buffer): Buffer => b;
const DEF = {
  // Answers after the number of ms in the request.
  Delay: { path: '/test.T/Delay', requestStream: false, responseStream: false, requestSerialize: id, requestDeserialize: id, responseSerialize: id, responseDeserialize: id, originalName: 'Delay' },
  // Decodes a containerd.types.Mount and answers its type.
  Mount: {
    path: '/test.T/Mount', requestStream: false, responseStream: false, requestSerialize: id,
    requestDeserialize: (b: Buffer) => decodeMessage<{ type: string }>('containerd.types.Mount', b),
    responseSerialize: id, responseDeserialize: id, originalName: 'Mount',
  },
} as unknown as ServiceDefinition;
const impl: UntypedServiceImplementation = {
  Delay: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    setTimeout(() => cb(null, Buffer.from('done')), Number(call.request.toString()));
  },
  Mount: (call: ServerUnaryCall<{ type: string }, Buffer>, cb: sendUnaryData<Buffer>) => cb(null, Buffer.from(call.request.type)),
};

let dir: string;
let sock: string;
let server: GrpcServer;
const errors: string[] = [];

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-h2t-'));
  sock = path.join(dir, 's.sock');
  server = new GrpcServer({ onError: (e) => errors.push(e.message) });
  server.addService(DEF, impl);
  await server.listen(sock);
});

afterAll(() => {
  server?.forceShutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** One call on a fresh connection: its status (or RST_STREAM code). */
async function call(pathName: string, body: Buffer, extra: Fields = []): Promise<{ code?: string; message?: string; rst?: number; ms: number }> {
  const c = await RawConn.open(sock);
  const t0 = Date.now();
  try {
    c.send(frame(T.HEADERS, 4, 1, block(callHeaders(pathName, extra))), frame(T.DATA, 1, 1, grpcMessage(body)));
    return { ...(await c.status(1)), ms: Date.now() - t0 };
  } finally {
    c.close();
  }
}

describe('grpc-timeout', () => {
  it('parses what grpc-go 1.47 parses, and nothing else', () => {
    expect(parseGrpcTimeout(undefined, 0)).toBe(Infinity);
    expect(parseGrpcTimeout('100m', 1000)).toBe(1100);
    expect(parseGrpcTimeout('2S', 0)).toBe(2000);
    expect(parseGrpcTimeout('1000H', 0)).toBe(3_600_000_000);
    expect(parseGrpcTimeout('3M', 0)).toBe(180_000);
    expect(parseGrpcTimeout('5000u', 0)).toBe(5);
    expect(parseGrpcTimeout('7000000n', 0)).toBe(7);
    expect(parseGrpcTimeout('-1S', 5000)).toBe(4000); // strconv.ParseInt takes a sign
    expect(parseGrpcTimeout('+1S', 0)).toBe(1000);
    // The largest is still a valid Date (getDeadline hands handlers a Date).
    expect(new Date(parseGrpcTimeout('99999999H') as number).getFullYear()).toBeGreaterThan(13000);
    for (const bad of ['', 'S', '1', '123456789S', '1x', '1.5S', ' 1S', '1 S', '+S', '0x1S', '1h', '1s']) expect(parseGrpcTimeout(bad), bad).toBeNull();
  });

  it('honours long deadlines (beyond setTimeout range) and enforces short ones', async () => {
    for (const t of ['1000H', '99999999H', '2147484S', '99999999S']) {
      const r = await call('/test.T/Delay', Buffer.from('50'), [['grpc-timeout', t]]);
      expect(r.code, t).toBe('0');
    }
    const short = await call('/test.T/Delay', Buffer.from('2000'), [['grpc-timeout', '100m']]);
    expect(short.code).toBe('4');
    expect(short.ms).toBeLessThan(1500);
    // Already past: DEADLINE_EXCEEDED without running the handler (even a quick one).
    for (const t of ['-5S', '0S', '0H']) {
      const past = await call('/test.T/Delay', Buffer.from('0'), [['grpc-timeout', t]]);
      expect(past.code, t).toBe('4');
    }
  });

  it('resets the stream with PROTOCOL_ERROR for a malformed grpc-timeout, as grpc-go does', async () => {
    for (const t of ['123456789S', '1x', 'S', '1.5S']) {
      const r = await call('/test.T/Delay', Buffer.from('1'), [['grpc-timeout', t]]);
      expect(r, t).toMatchObject({ code: undefined, rst: E.PROTOCOL_ERROR });
    }
  });
});

describe('request decoding', () => {
  it('answers INTERNAL "grpc: error unmarshalling request: ..." for wrong wire types, bad varints and lengths', async () => {
    const ok = await call('/test.T/Mount', encodeMessage('containerd.types.Mount', { type: 'bind' }));
    expect(ok.code).toBe('0');
    const cases: Array<[number[], string]> = [
      [[(1 << 3) | 0, 5], 'proto: wrong wireType = 0 for field Type'],
      [[(1 << 3) | 2, 9, 0x78], 'unexpected EOF'],
      [[(9 << 3) | 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], 'proto: integer overflow'],
      [[(9 << 3) | 0, 0xff], 'unexpected EOF'],
    ];
    for (const [bytes, msg] of cases) {
      const r = await call('/test.T/Mount', Buffer.from(bytes));
      expect(r).toMatchObject({ code: '13', message: `grpc: error unmarshalling request: ${msg}` });
    }
  });
});

const DELAY = '/test.T/Delay';
const body = (ms: string): Buffer => grpcMessage(Buffer.from(ms));

/** Sends `frames` on a fresh connection; the RST_STREAM code on stream 1, and whether
 * the connection then still serves a call on stream 3. */
async function streamError(frames: (c: RawConn) => Buffer[]): Promise<{ rst: number | undefined; stillServes: boolean; goaway: boolean }> {
  const c = await RawConn.open(sock);
  try {
    c.send(...frames(c));
    const rst = await c.rst(1);
    c.send(frame(T.HEADERS, 4, 3, block(callHeaders(DELAY))), frame(T.DATA, 1, 3, body('1')));
    const st = await c.status(3);
    return { rst, stillServes: st.code === '0', goaway: c.frames.some((f) => f.type === T.GOAWAY) };
  } finally {
    c.close();
  }
}

/** Sends `frames` on a fresh connection: the GOAWAY code, and whether the server closed the socket. */
async function connectionError(frames: Buffer[]): Promise<{ code: number | undefined; closed: boolean }> {
  const c = await RawConn.open(sock, true, true);
  try {
    c.send(...frames);
    return await c.goawayAndClose();
  } finally {
    c.close();
  }
}

describe('RFC 9113 request validation', () => {
  const req = (fields: Fields, flags = 4): Buffer => frame(T.HEADERS, flags, 1, block(fields));
  const base = callHeaders(DELAY);
  const without = (n: string): Fields => base.filter(([k]) => k !== n);

  it('resets malformed requests with PROTOCOL_ERROR and keeps the connection', async () => {
    const malformed: Array<[string, Fields]> = [
      ['an uppercase name', [...base, ['X-Upper', '1']]],
      ['a name with a space', [...base, ['x y', '1']]],
      ['a value with a newline', [...base, ['x-v', 'a\nb']]],
      ['a pseudo-header after a regular one', [...without(':authority'), [':authority', 'x']]],
      ['a duplicate :path', [[':path', DELAY], ...base]],
      ['an unknown pseudo-header', [[':protocol', 'x'], ...base]],
      [':status in a request', [[':status', '200'], ...base]],
      ['no :method', without(':method')],
      ['no :scheme', without(':scheme')],
      ['no :path', without(':path')],
      ['an empty :path', [[':method', 'POST'], [':scheme', 'http'], [':path', ''], ['content-type', 'application/grpc']]],
      ['connection', [...base, ['connection', 'close']]],
      ['keep-alive', [...base, ['keep-alive', '5']]],
      ['proxy-connection', [...base, ['proxy-connection', 'x']]],
      ['transfer-encoding', [...base, ['transfer-encoding', 'chunked']]],
      ['upgrade', [...base, ['upgrade', 'h2c']]],
      ['te: gzip', [...without('te'), ['te', 'gzip']]],
      ['a content-length that is not a number', [...base, ['content-length', '1x']]],
    ];
    for (const [what, fields] of malformed) {
      const r = await streamError(() => [req(fields), frame(T.DATA, 1, 1, body('1'))]);
      expect(r, what).toEqual({ rst: E.PROTOCOL_ERROR, stillServes: true, goaway: false });
    }
  });

  it('checks content-length against the DATA received', async () => {
    const cl = (n: number): Fields => [...base, ['content-length', String(n)]];
    const b = body('1'); // 6 bytes
    for (const [what, frames] of [
      ['more DATA', [req(cl(5)), frame(T.DATA, 1, 1, b)]],
      ['less DATA', [req(cl(7)), frame(T.DATA, 1, 1, b)]],
      ['less DATA, then trailers', [req(cl(7)), frame(T.DATA, 0, 1, b), frame(T.HEADERS, 5, 1, block([['x-t', '1']]))]],
      ['no DATA', [req(cl(6), 5)]],
    ] as Array<[string, Buffer[]]>) {
      const r = await streamError(() => frames);
      expect(r, what).toEqual({ rst: E.PROTOCOL_ERROR, stillServes: true, goaway: false });
    }
    // The right length is served.
    const c = await RawConn.open(sock);
    c.send(req(cl(6)), frame(T.DATA, 1, 1, b));
    expect((await c.status(1)).code).toBe('0');
    c.close();
  });

  it('resets a second HEADERS without END_STREAM, trailers with pseudo-headers, and frames after END_STREAM', async () => {
    const open = req(base);
    for (const [what, frames, code] of [
      ['second HEADERS without END_STREAM', [open, frame(T.HEADERS, 4, 1, block([['x-t', '1']]))], E.PROTOCOL_ERROR],
      ['trailers with a pseudo-header', [open, frame(T.HEADERS, 5, 1, block([[':path', '/x']]))], E.PROTOCOL_ERROR],
      ['DATA after END_STREAM', [frame(T.HEADERS, 4, 1, block(callHeaders(DELAY))), frame(T.DATA, 1, 1, body('300')), frame(T.DATA, 0, 1, body('1'))], E.STREAM_CLOSED],
    ] as Array<[string, Buffer[], number]>) {
      const r = await streamError(() => frames);
      expect(r, what).toEqual({ rst: code, stillServes: true, goaway: false });
    }
    // Trailers that end the request are fine.
    const c = await RawConn.open(sock);
    c.send(open, frame(T.DATA, 0, 1, body('1')), frame(T.HEADERS, 5, 1, block([['x-t', '1']])));
    expect((await c.status(1)).code).toBe('0');
    c.close();
  });

  it('fails the connection (GOAWAY, then close) for connection errors', async () => {
    const settings = (flags: number, sid: number, p: Buffer): Buffer => frame(T.SETTINGS, flags, sid, p);
    const cases: Array<[string, Buffer[], number]> = [
      ['PING on a stream', [frame(T.PING, 0, 1, Buffer.alloc(8))], E.PROTOCOL_ERROR],
      ['PING of 7 bytes', [frame(T.PING, 0, 0, Buffer.alloc(7))], E.FRAME_SIZE_ERROR],
      ['SETTINGS on a stream', [settings(0, 1, Buffer.alloc(0))], E.PROTOCOL_ERROR],
      ['SETTINGS of 5 bytes', [settings(0, 0, Buffer.alloc(5))], E.FRAME_SIZE_ERROR],
      ['SETTINGS ack with a payload', [settings(1, 0, Buffer.alloc(6))], E.FRAME_SIZE_ERROR],
      ['RST_STREAM on stream 0', [frame(T.RST_STREAM, 0, 0, Buffer.alloc(4))], E.PROTOCOL_ERROR],
      ['RST_STREAM on an idle stream', [frame(T.RST_STREAM, 0, 5, Buffer.alloc(4))], E.PROTOCOL_ERROR],
      // A literal field, then a table size update (0x3f 0xe1 0x1f = 4096).
      ['a table size update after a field', [frame(T.HEADERS, 4, 1, Buffer.concat([block([['x-a', '1']]), Buffer.from([0x3f, 0xe1, 0x1f])]))], E.COMPRESSION_ERROR],
    ];
    for (const [what, frames, code] of cases) {
      const r = await connectionError(frames);
      expect(r, what).toEqual({ code, closed: true });
    }
  });

  it('accepts a table size update at the start of a block', async () => {
    const c = await RawConn.open(sock);
    c.send(frame(T.HEADERS, 4, 1, Buffer.concat([Buffer.from([0x3f, 0xe1, 0x1f]), block(base)])), frame(T.DATA, 1, 1, body('1')));
    expect((await c.status(1)).code).toBe('0');
    c.close();
  });
});

describe('flow control of what the client sends', () => {
  /** A connection over an in-memory socket, so that many MiB arrive in one read (over a
   * real socket the server returns window as it reads, and a client cannot outrun it). */
  function memoryConnection(): { input: (b: Buffer) => void; frames: () => Frame[]; destroyed: () => boolean; streams: H2Stream[] } {
    const out: Buffer[] = [];
    const streams: H2Stream[] = [];
    const sock = new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        out.push(chunk);
        cb();
      },
    });
    new Http2ServerConnection(sock as unknown as net.Socket, { onStream: (st) => streams.push(st), onClose: () => undefined });
    const frames = (): Frame[] => {
      const all = Buffer.concat(out);
      const fs: Frame[] = [];
      for (let off = 0; off + 9 <= all.length; off += 9 + all.readUIntBE(off, 3)) {
        fs.push({ type: all[off + 3]!, flags: all[off + 4]!, stream: all.readUInt32BE(off + 5), payload: all.subarray(off + 9, off + 9 + all.readUIntBE(off, 3)) });
      }
      return fs;
    };
    sock.emit('data', Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, Buffer.alloc(0))]));
    return { input: (b) => sock.emit('data', b), frames, destroyed: () => sock.destroyed, streams };
  }
  const MiB = Buffer.alloc(1024 * 1024);
  const headers = (sid: number): Buffer => frame(T.HEADERS, 4, sid, block(callHeaders(DELAY)));

  it('resets a stream with FLOW_CONTROL_ERROR when its DATA overruns the 4 MiB it was granted', async () => {
    const m = memoryConnection();
    // Nothing reads stream 1: its window is never returned.
    m.input(Buffer.concat([headers(1), ...Array.from({ length: 4 }, () => frame(T.DATA, 0, 1, MiB))]));
    expect(m.frames().some((f) => f.type === T.RST_STREAM)).toBe(false);
    m.input(frame(T.DATA, 0, 1, Buffer.alloc(1)));
    await new Promise((r) => setImmediate(r));
    const rst = m.frames().find((f) => f.type === T.RST_STREAM);
    expect(rst?.stream).toBe(1);
    expect(rst?.payload.readUInt32BE(0)).toBe(E.FLOW_CONTROL_ERROR);
    expect(m.destroyed()).toBe(false);
  });

  it('fails the connection with FLOW_CONTROL_ERROR when DATA overruns its 16 MiB window', async () => {
    const m = memoryConnection();
    // Five streams of 3.5 MiB each (within their windows), in one read: 17.5 MiB.
    const half = Buffer.alloc(512 * 1024);
    const bytes: Buffer[] = [];
    for (let sid = 1; sid <= 9; sid += 2) bytes.push(headers(sid), frame(T.DATA, 0, sid, MiB), frame(T.DATA, 0, sid, MiB), frame(T.DATA, 0, sid, MiB), frame(T.DATA, 0, sid, half));
    m.input(Buffer.concat(bytes));
    await new Promise((r) => setTimeout(r, 20));
    const goaway = m.frames().find((f) => f.type === T.GOAWAY);
    expect(goaway?.payload.readUInt32BE(4)).toBe(E.FLOW_CONTROL_ERROR);
    expect(m.frames().some((f) => f.type === T.RST_STREAM)).toBe(false);
    // Destroyed once the GOAWAY has had its second to reach the peer (as Go's server).
    await new Promise((r) => setTimeout(r, 1100));
    expect(m.destroyed()).toBe(true);
  });
});

describe('handshake timeout', () => {
  it('closes connections without the preface and SETTINGS in time; keeps handshaken idle ones', async () => {
    const s2 = new GrpcServer({ handshakeTimeoutMs: 300 });
    s2.addService(DEF, impl);
    const sock2 = path.join(dir, 'h.sock');
    await s2.listen(sock2);
    try {
      const silent = await RawConn.open(sock2, false);
      const prefaceOnly = await RawConn.open(sock2, false);
      prefaceOnly.send(PREFACE);
      const partial = await RawConn.open(sock2, false);
      partial.send(PREFACE.subarray(0, 10));
      const good = await RawConn.open(sock2);
      const t0 = Date.now();
      for (const c of [silent, prefaceOnly, partial]) expect(await c.until(() => c.closed, 3000)).toBe(true);
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
      // The handshaken connection outlives the timeout and serves a call.
      await new Promise((r) => setTimeout(r, 400));
      expect(good.closed).toBe(false);
      good.send(frame(T.HEADERS, 4, 1, block(callHeaders(DELAY))), frame(T.DATA, 1, 1, body('1')));
      expect((await good.status(1)).code).toBe('0');
      good.close();
    } finally {
      s2.forceShutdown();
    }
  });

  it('fails a connection whose first frame is not SETTINGS with PROTOCOL_ERROR', async () => {
    const c = await RawConn.open(sock, false, true);
    c.send(PREFACE, frame(T.PING, 0, 0, Buffer.alloc(8)));
    expect(await c.goawayAndClose()).toEqual({ code: E.PROTOCOL_ERROR, closed: true });
    c.close();
  });
});
