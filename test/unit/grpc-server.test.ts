// berth's HTTP/2 gRPC server (src/grpc), driven by grpc-js's client: unary, server and
// bidirectional streaming, flow control with messages larger than every window, status
// codes and messages (incl. non-ASCII), metadata both ways, deadlines, cancellation,
// size limits, unknown methods, graceful shutdown with a call in flight. HPACK against
// the examples of RFC 7541 Appendix C.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Metadata,
  credentials,
  makeGenericClientConstructor,
  status,
  type Client,
  type ServiceDefinition,
  type ServiceError,
  type ClientReadableStream,
  type ClientDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServerDuplexStream,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { GrpcServer, parseGrpcTimeout } from '../../src/grpc/server';
import { HpackDecoder, encodeHeaders, huffmanDecode } from '../../src/grpc/hpack';
import { encodeGrpcMessage } from '../../src/grpc/server-call';
import { PREFACE, frame } from './h2-raw';

const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.Echo/${name}`,
  requestStream,
  responseStream,
  requestSerialize: id,
  requestDeserialize: id,
  responseSerialize: id,
  responseDeserialize: id,
  originalName: name,
});
const DEF = {
  Echo: method('Echo', false, false),
  Fail: method('Fail', false, false),
  Slow: method('Slow', false, false),
  Many: method('Many', false, true),
  Chat: method('Chat', true, true),
  Missing: method('Missing', false, false),
} as unknown as ServiceDefinition;

let cancelledSeen = 0;
const impl: UntypedServiceImplementation = {
  Echo: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    const tag = call.metadata.get('x-tag')[0];
    cb(null, Buffer.concat([Buffer.from(`${typeof tag === 'string' ? tag : ''}:`), call.request]));
  },
  Fail: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    const md = new Metadata();
    md.add('x-why', 'because');
    cb({ code: status.NOT_FOUND, details: call.request.toString(), metadata: md } as ServiceError);
  },
  Slow: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    const t = setTimeout(() => cb(null, Buffer.from('late')), 2000);
    call.on('cancelled', () => {
      cancelledSeen++;
      clearTimeout(t);
    });
  },
  Many: (call: ServerWritableStream<Buffer, Buffer>) => {
    const n = call.request.readUInt32BE(0);
    const size = call.request.readUInt32BE(4);
    let i = 0;
    const next = (): void => {
      while (i < n) {
        const b = Buffer.alloc(size, i % 251);
        i++;
        if (!call.write(b)) {
          call.once('drain', next);
          return;
        }
      }
      call.end();
    };
    call.on('cancelled', () => cancelledSeen++);
    next();
  },
  Chat: (call: ServerDuplexStream<Buffer, Buffer>) => {
    void (async () => {
      let total = 0;
      for await (const m of call as AsyncIterable<Buffer>) {
        total += m.length;
        call.write(Buffer.from(String(m.length)));
      }
      call.write(Buffer.from(`total ${total}`));
      call.end();
    })();
  },
};

/** The HEADERS block of a call to /test.Echo/Echo. */
function echoHeaders(): Buffer {
  return encodeHeaders([
    [':method', 'POST'], [':scheme', 'http'], [':path', '/test.Echo/Echo'], [':authority', 'x'],
    ['content-type', 'application/grpc'], ['te', 'trailers'],
  ]);
}

let dir: string;
let sock: string;
let server: GrpcServer;
let client: Client & Record<string, (...args: unknown[]) => unknown>;

function unary(name: string, req: Buffer, md = new Metadata(), opts: { deadline?: number } = {}): Promise<{ err: ServiceError | null; res?: Buffer }> {
  return new Promise((resolve) => {
    (client[name] as (r: Buffer, md: Metadata, o: object, cb: (e: ServiceError | null, r?: Buffer) => void) => void)(req, md, opts, (err, res) => resolve({ err, res }));
  });
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-grpc-'));
  sock = path.join(dir, 's.sock');
  server = new GrpcServer({ maxReceiveMessageLength: 8 * 1024 * 1024, maxSendMessageLength: 8 * 1024 * 1024 });
  server.addService(DEF, impl);
  await server.listen(sock);
  const Ctor = makeGenericClientConstructor(DEF, 'Echo');
  client = new Ctor(`unix://${sock}`, credentials.createInsecure(), { 'grpc.max_receive_message_length': -1 }) as typeof client;
});

afterAll(() => {
  client?.close();
  server?.forceShutdown(); // graceful shutdown has its own test below
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('GrpcServer', () => {
  it('answers unary calls with the request metadata', async () => {
    const md = new Metadata();
    md.add('x-tag', 'abc');
    const r = await unary('Echo', Buffer.from('hello'), md);
    expect(r.err).toBeNull();
    expect(r.res?.toString()).toBe('abc:hello');
    const many = await Promise.all(Array.from({ length: 200 }, (_, i) => unary('Echo', Buffer.from(String(i)))));
    expect(many.map((x) => x.res?.toString())).toEqual(Array.from({ length: 200 }, (_, i) => `:${i}`));
  });

  it('moves messages larger than every flow-control window both ways', async () => {
    const big = Buffer.alloc(6 * 1024 * 1024 + 7, 0x5a);
    const r = await unary('Echo', big);
    expect(r.err).toBeNull();
    expect(r.res?.length).toBe(big.length + 1);
    expect(r.res?.subarray(1).equals(big)).toBe(true);
  });

  it('passes status codes, non-ASCII messages and trailing metadata', async () => {
    const r = await unary('Fail', Buffer.from('no such thing: ünïcode % 100'));
    expect(r.err?.code).toBe(status.NOT_FOUND);
    expect(r.err?.details).toBe('no such thing: ünïcode % 100');
    expect(r.err?.metadata.get('x-why')).toEqual(['because']);
    expect(encodeGrpcMessage('a%b\n')).toBe('a%25b%0A');
  });

  it('refuses oversized requests with RESOURCE_EXHAUSTED and keeps serving', async () => {
    const r = await unary('Echo', Buffer.alloc(9 * 1024 * 1024));
    expect(r.err?.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(r.err?.details).toMatch(/received message larger than max \(9437184 vs\. 8388608\)/);
    expect((await unary('Echo', Buffer.from('x'))).res?.toString()).toBe(':x');
  });

  it('answers unknown methods like grpc-go', async () => {
    const r = await unary('Missing', Buffer.from('x'));
    expect(r.err?.code).toBe(status.UNIMPLEMENTED);
    expect(r.err?.details).toBe('unknown method Missing for service test.Echo');
  });

  it('enforces deadlines and reports client cancellation to the handler', async () => {
    const before = cancelledSeen;
    const r = await unary('Slow', Buffer.from('x'), new Metadata(), { deadline: Date.now() + 100 });
    expect(r.err?.code).toBe(status.DEADLINE_EXCEEDED);
    const call = (client.Slow as (r: Buffer, cb: (e: ServiceError | null) => void) => { cancel(): void })(Buffer.from('x'), () => undefined);
    await new Promise((res) => setTimeout(res, 50));
    call.cancel();
    for (let i = 0; i < 50 && cancelledSeen < before + 2; i++) await new Promise((res) => setTimeout(res, 20));
    expect(cancelledSeen).toBe(before + 2);
    expect(parseGrpcTimeout('100m', 1000)).toBe(1100);
    expect(parseGrpcTimeout('2S', 0)).toBe(2000);
    expect(parseGrpcTimeout('bogus')).toBeNull();
  });

  it('streams many messages with back-pressure, and stops when the client cancels', async () => {
    const req = Buffer.alloc(8);
    req.writeUInt32BE(300, 0);
    req.writeUInt32BE(64 * 1024, 4);
    const got = await new Promise<Buffer[]>((resolve, reject) => {
      const s = (client.Many as (r: Buffer) => ClientReadableStream<Buffer>)(req);
      const out: Buffer[] = [];
      s.on('data', (b: Buffer) => out.push(b));
      s.on('error', reject);
      s.on('end', () => resolve(out));
    });
    expect(got).toHaveLength(300);
    expect(got.every((b, i) => b.length === 64 * 1024 && b[0] === i % 251)).toBe(true);

    const before = cancelledSeen;
    req.writeUInt32BE(100_000, 0);
    await new Promise<void>((resolve) => {
      const s = (client.Many as (r: Buffer) => ClientReadableStream<Buffer>)(req);
      let n = 0;
      s.on('data', () => {
        if (++n === 5) s.cancel();
      });
      s.on('error', (e: ServiceError) => {
        expect(e.code).toBe(status.CANCELLED);
        resolve();
      });
    });
    for (let i = 0; i < 50 && cancelledSeen === before; i++) await new Promise((res) => setTimeout(res, 20));
    expect(cancelledSeen).toBe(before + 1);
  });

  it('runs bidirectional streams to the end', async () => {
    const replies = await new Promise<string[]>((resolve, reject) => {
      const s = (client.Chat as () => ClientDuplexStream<Buffer, Buffer>)();
      const out: string[] = [];
      s.on('data', (b: Buffer) => out.push(b.toString()));
      s.on('error', reject);
      s.on('end', () => resolve(out));
      for (const n of [1, 100_000, 3 * 1024 * 1024]) s.write(Buffer.alloc(n));
      s.end();
    });
    expect(replies).toEqual(['1', '100000', String(3 * 1024 * 1024), `total ${1 + 100_000 + 3 * 1024 * 1024}`]);
  });

  it('drops connections that do not speak HTTP/2, and keeps serving', async () => {
    const send = (bytes: Buffer): Promise<Buffer> =>
      new Promise((resolve) => {
        const s = net.connect(sock);
        const got: Buffer[] = [];
        s.on('data', (b: Buffer) => got.push(b));
        s.on('error', () => undefined);
        s.on('close', () => resolve(Buffer.concat(got)));
        s.write(bytes);
        setTimeout(() => s.destroy(), 1000);
      });
    // Not the preface: closed at once.
    await send(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'));
    // The preface, then a frame claiming 16 MiB, then garbage: GOAWAY (type 7) and close.
    const reply = await send(Buffer.concat([PREFACE, Buffer.from([0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 1]), Buffer.alloc(64, 0xab)]));
    const types: number[] = [];
    for (let off = 0; off + 9 <= reply.length; ) {
      const len = reply.readUIntBE(off, 3);
      types.push(reply[off + 3] as number);
      off += 9 + len;
    }
    expect(types).toContain(7);
    // A HEADERS block that is not valid HPACK: COMPRESSION_ERROR, connection closed.
    const bad = Buffer.concat([PREFACE, Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), Buffer.from([0, 0, 2, 1, 5, 0, 0, 0, 1, 0xbf, 0xff])]);
    const r2 = await send(bad);
    expect(r2.length).toBeGreaterThan(0);
    expect((await unary('Echo', Buffer.from('still'))).res?.toString()).toBe(':still');
  });

  it('acks a PING with the next write, or on its own within a few ms', async () => {
    const s = net.connect(sock);
    const frames: Array<{ type: number; flags: number; stream: number; payload: Buffer; chunk: number }> = [];
    let pending = Buffer.alloc(0);
    let chunks = 0;
    s.on('data', (b: Buffer) => {
      chunks++;
      pending = Buffer.concat([pending, b]);
      while (pending.length >= 9 && pending.length >= 9 + pending.readUIntBE(0, 3)) {
        const len = pending.readUIntBE(0, 3);
        frames.push({ type: pending[3]!, flags: pending[4]!, stream: pending.readUInt32BE(5), payload: pending.subarray(9, 9 + len), chunk: chunks });
        pending = pending.subarray(9 + len);
      }
    });
    const until = async (what: string, fn: () => boolean): Promise<void> => {
      for (let i = 0; i < 200 && !fn(); i++) await new Promise((r) => setTimeout(r, 5));
      if (!fn()) throw new Error(`timed out waiting for ${what}`);
    };
    const acks = (): typeof frames => frames.filter((f) => f.type === 6 && f.flags === 1);
    try {
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(Buffer.concat([PREFACE, frame(4, 0, 0, Buffer.alloc(0))]));
      // A PING with nothing else to write: acked on its own, with its payload.
      s.write(frame(6, 0, 0, Buffer.from('pingpng1')));
      await until('the first ack', () => acks().length === 1);
      expect(acks()[0]!.payload.toString()).toBe('pingpng1');
      // A PING, then a request: the ack goes out in the same write as the response.
      s.write(frame(6, 0, 0, Buffer.from('pingpng2')));
      const headers = echoHeaders();
      const msg = Buffer.from('hi');
      const body = Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]);
      s.write(Buffer.concat([frame(1, 4, 1, headers), frame(0, 1, 1, body)]));
      await until('the response trailers', () => frames.some((f) => f.type === 1 && f.stream === 1 && (f.flags & 1) === 1));
      const ack2 = acks()[1]!;
      expect(ack2.payload.toString()).toBe('pingpng2');
      const response = frames.find((f) => f.type === 0 && f.stream === 1)!;
      expect(response.payload.subarray(5).toString()).toBe(':hi');
      expect(ack2.chunk).toBe(response.chunk);
    } finally {
      s.destroy();
    }
  });

  it('takes a large DATA frame that arrives in many small pieces', async () => {
    const s = net.connect(sock);
    const got: Buffer[] = [];
    s.on('data', (b: Buffer) => got.push(b));
    try {
      await new Promise<void>((r) => s.once('connect', () => r()));
      // Windows large enough for the 200 kB answer (INITIAL_WINDOW_SIZE, connection WINDOW_UPDATE).
      const settings = Buffer.from([0, 4, 0, 0x10, 0, 0]);
      const wu = Buffer.alloc(4);
      wu.writeUInt32BE(1 << 20, 0);
      s.write(Buffer.concat([PREFACE, frame(4, 0, 0, settings), frame(8, 0, 0, wu)]));
      const headers = echoHeaders();
      // 200 kB in one DATA frame (we allow frames up to 1 MiB), sent in 4 kB writes.
      const msg = Buffer.alloc(200_000);
      for (let i = 0; i < msg.length; i++) msg[i] = (i * 7) % 251;
      const prefix = Buffer.alloc(5);
      prefix.writeUInt32BE(msg.length, 1);
      const bytes = Buffer.concat([frame(1, 4, 1, headers), frame(0, 1, 1, Buffer.concat([prefix, msg]))]);
      for (let off = 0; off < bytes.length; off += 4096) {
        s.write(bytes.subarray(off, off + 4096));
        if (off % (64 * 1024) === 0) await new Promise((r) => setImmediate(r));
      }
      // The response: ':' + the message, in DATA frames on stream 1, then trailers.
      const response = (): Buffer | undefined => {
        const all = Buffer.concat(got);
        const data: Buffer[] = [];
        let end = false;
        for (let off = 0; off + 9 <= all.length; ) {
          const len = all.readUIntBE(off, 3);
          if (off + 9 + len > all.length) break;
          if (all[off + 3] === 0 && all.readUInt32BE(off + 5) === 1) data.push(all.subarray(off + 9, off + 9 + len));
          if (all[off + 3] === 1 && all.readUInt32BE(off + 5) === 1 && (all[off + 4]! & 1) === 1) end = true;
          off += 9 + len;
        }
        return end ? Buffer.concat(data) : undefined;
      };
      for (let i = 0; i < 400 && !response(); i++) await new Promise((r) => setTimeout(r, 5));
      const body = response()!;
      expect(body.readUInt32BE(1)).toBe(msg.length + 1);
      expect(body.subarray(5).equals(Buffer.concat([Buffer.from(':'), msg]))).toBe(true);
    } finally {
      s.destroy();
    }
  });

  it('shuts down gracefully: a call in flight completes, new connections are refused', async () => {
    const s2 = new GrpcServer();
    const sock2 = path.join(dir, 's2.sock');
    let finish!: () => void;
    s2.addService(DEF, {
      ...impl,
      Slow: (_call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
        finish = () => cb(null, Buffer.from('done'));
      },
    });
    await s2.listen(sock2);
    const Ctor = makeGenericClientConstructor(DEF, 'Echo');
    const c2 = new Ctor(`unix://${sock2}`, credentials.createInsecure()) as typeof client;
    const pending = new Promise<{ err: ServiceError | null; res?: Buffer }>((resolve) =>
      (c2.Slow as (r: Buffer, cb: (e: ServiceError | null, r?: Buffer) => void) => void)(Buffer.from('x'), (err, res) => resolve({ err, res })),
    );
    for (let i = 0; i < 50 && !finish; i++) await new Promise((res) => setTimeout(res, 10));
    let stopped = false;
    s2.tryShutdown(() => (stopped = true));
    await new Promise((res) => setTimeout(res, 50));
    expect(stopped).toBe(false);
    finish();
    const r = await pending;
    expect(r.res?.toString()).toBe('done');
    c2.close();
    for (let i = 0; i < 100 && !stopped; i++) await new Promise((res) => setTimeout(res, 10));
    expect(stopped).toBe(true);
  });
});

describe('HPACK', () => {
  it('decodes the RFC 7541 Appendix C.4 requests (Huffman, dynamic table across blocks)', () => {
    const d = new HpackDecoder();
    const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
    expect(d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
    ]);
    expect(d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'http'],
      [':path', '/'],
      [':authority', 'www.example.com'],
      ['cache-control', 'no-cache'],
    ]);
    expect(d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'))).toEqual([
      [':method', 'GET'],
      [':scheme', 'https'],
      [':path', '/index.html'],
      [':authority', 'www.example.com'],
      ['custom-key', 'custom-value'],
    ]);
    expect(huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff')).toString()).toBe('www.example.com');
    expect(() => huffmanDecode(hex('f1e3 c2e5 f23a 6ba0 ab90 f4ff ff'))).toThrow(/padding/);
  });

  it('encodes what it decodes', () => {
    const h: Array<[string, string]> = [
      [':status', '200'],
      ['content-type', 'application/grpc'],
      ['grpc-status', '5'],
      ['grpc-message', 'x'.repeat(300)],
    ];
    expect(new HpackDecoder().decode(encodeHeaders(h))).toEqual(h);
  });

  it('encodes a frozen list once; other lists every time', () => {
    const frozen = Object.freeze([Object.freeze(['grpc-status', '0'] as const)]);
    const a = encodeHeaders(frozen);
    expect(encodeHeaders(frozen)).toBe(a);
    expect(new HpackDecoder().decode(a)).toEqual([['grpc-status', '0']]);
    const open: Array<[string, string]> = [['grpc-status', '0']];
    const b = encodeHeaders(open);
    open[0] = ['grpc-status', '7'];
    expect(new HpackDecoder().decode(encodeHeaders(open))).toEqual([['grpc-status', '7']]);
    expect(encodeHeaders(open)).not.toBe(b);
  });
});
