// The same hand-built HTTP/2 requests and frames sent to berthd and to a real containerd
// 1.6 (Debian's build, with Debian's grpc-go and golang.org/x/net/http2): the answers compared — grpc-status and
// message, RST_STREAM codes, whether the connection survives. Where berthd is stricter
// than grpc-go on purpose (GOAWAY before closing; RFC 9113 checks grpc-go leaves out),
// the test says so.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPair, type Pair } from './pair';
import { E, RawConn, T, block, callHeaders, frame, grpcMessage, type Fields } from '../unit/h2-raw';

const LIST = '/containerd.services.namespaces.v1.Namespaces/List';
const GET = '/containerd.services.namespaces.v1.Namespaces/Get';

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
}, 120_000);
afterAll(async () => {
  await pair?.cleanup();
}, 60_000);

interface Answer {
  code?: string;
  message?: string;
  rst?: number;
  /** A call on stream 3 afterwards got an answer. */
  stillServes?: boolean;
}

async function probe(address: string, frames: Buffer[], followUp = true): Promise<Answer> {
  const c = await RawConn.open(address);
  try {
    c.send(...frames);
    const st = await c.status(1);
    // grpc-go sends an empty grpc-message with OK; berthd none.
    if (st.message === '') delete st.message;
    if (!followUp) return st;
    c.send(frame(T.HEADERS, 4, 3, block(callHeaders(LIST))), frame(T.DATA, 1, 3, grpcMessage(Buffer.alloc(0))));
    const next = await c.status(3);
    return { ...st, stillServes: next.code === '0' };
  } finally {
    c.close();
  }
}

async function both(frames: Buffer[]): Promise<{ berthd: Answer; containerd: Answer }> {
  const [berthd, containerd] = await Promise.all([probe(pair.berthd.address, frames), probe(pair.containerd.address, frames)]);
  return { berthd, containerd };
}

const call = (pathName: string, body: Buffer, extra: Fields = []): Buffer[] => [
  frame(T.HEADERS, 4, 1, block(callHeaders(pathName, extra))),
  frame(T.DATA, 1, 1, grpcMessage(body)),
];

describe('berthd and containerd answer bad requests alike', () => {
  it('grpc-timeout: long ones honoured, malformed ones reset with PROTOCOL_ERROR', async () => {
    for (const t of ['1000H', '99999999H', '1x', '123456789S', '1.5S']) {
      const r = await both(call(LIST, Buffer.alloc(0), [['grpc-timeout', t]]));
      expect(r.berthd, t).toEqual(r.containerd);
    }
    // A deadline already past: grpc-go's timer and the handler race, so containerd answers
    // DEADLINE_EXCEEDED or, when the handler wins, OK (both seen). berthd does not run the
    // handler at all: always DEADLINE_EXCEEDED, and the connection goes on serving.
    for (const t of ['-1S', '0S']) {
      const r = await both(call(LIST, Buffer.alloc(0), [['grpc-timeout', t]]));
      expect(r.berthd, t).toMatchObject({ code: '4', message: 'context deadline exceeded', stillServes: true });
      expect(['0', '4'], `${t}: containerd ${JSON.stringify(r.containerd)}`).toContain(r.containerd.code);
      expect(r.containerd.stillServes, t).toBe(true);
    }
    expect((await both(call(LIST, Buffer.alloc(0), [['grpc-timeout', '1000H']]))).berthd.code).toBe('0');
  }, 60_000);

  it('protobuf decode errors: the same INTERNAL status and message', async () => {
    const bodies: number[][] = [
      [0x08, 0x05], // name (string) as a varint
      [0x0a, 0x05, 0x78], // name: 5 bytes announced, 1 there
      [0x0a, 0x81, 0x80, 0x80, 0x80, 0x10, 0x78], // a length of 2^32 + 1
      [0x10, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01], // 11-byte varint
      [0x0f], // wire type 7
      [0x0c], // end group
    ];
    for (const b of bodies) {
      const r = await both(call(GET, Buffer.from(b)));
      expect(r.berthd, JSON.stringify(b)).toEqual(r.containerd);
      expect(r.berthd.code).toBe('13');
    }
  }, 60_000);

  it('malformed request headers: RST_STREAM PROTOCOL_ERROR, the connection kept', async () => {
    const base = callHeaders(LIST);
    const cases: Array<[string, Fields]> = [
      ['uppercase name', [...base, ['X-Upper', '1']]],
      ['pseudo after regular', [...base.filter(([k]) => k !== ':authority'), [':authority', 'x']]],
      ['duplicate :path', [[':path', LIST], ...base]],
      [':status in a request', [[':status', '200'], ...base]],
    ];
    for (const [what, fields] of cases) {
      const r = await both([frame(T.HEADERS, 4, 1, block(fields)), frame(T.DATA, 1, 1, grpcMessage(Buffer.alloc(0)))]);
      expect(r.berthd, what).toEqual(r.containerd);
      expect(r.berthd, what).toEqual({ code: undefined, message: undefined, rst: E.PROTOCOL_ERROR, stillServes: true });
    }
  }, 60_000);

  it('a connection-specific header: berthd resets (RFC 9113 §8.2.2; grpc-go 1.47 too), this containerd serves it', async () => {
    // Debian's containerd 1.6.20 is built with Debian's grpc-go, older than the check.
    const r = await both([frame(T.HEADERS, 4, 1, block([...callHeaders(LIST), ['connection', 'close']])), frame(T.DATA, 1, 1, grpcMessage(Buffer.alloc(0)))]);
    expect(r.berthd).toEqual({ code: undefined, message: undefined, rst: E.PROTOCOL_ERROR, stillServes: true });
    expect(r.containerd).toMatchObject({ code: '0', stillServes: true });
  }, 60_000);

  it('connection errors close the connection on both (berthd sends GOAWAY first)', async () => {
    const cases: Array<[string, Buffer]> = [
      ['PING on a stream', frame(T.PING, 0, 1, Buffer.alloc(8))],
      ['PING of 7 bytes', frame(T.PING, 0, 0, Buffer.alloc(7))],
      ['SETTINGS of 5 bytes', frame(T.SETTINGS, 0, 0, Buffer.alloc(5))],
      ['RST_STREAM on stream 0', frame(T.RST_STREAM, 0, 0, Buffer.alloc(4))],
    ];
    for (const [what, f] of cases) {
      const result: Record<string, { closed: boolean; goaway: number | undefined }> = {};
      for (const [name, address] of [['berthd', pair.berthd.address], ['containerd', pair.containerd.address]] as const) {
        const c = await RawConn.open(address);
        c.send(f);
        const closed = await c.until(() => c.closed, 3000);
        result[name] = { closed, goaway: c.frames.find((x) => x.type === T.GOAWAY)?.payload.readUInt32BE(4) };
        c.close();
      }
      expect(result['berthd']?.closed, what).toBe(true);
      expect(result['containerd']?.closed, what).toBe(true);
      expect(result['berthd']?.goaway, what).toBeDefined();
    }
  }, 60_000);
});
