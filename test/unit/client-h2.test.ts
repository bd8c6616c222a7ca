// The client library's own HTTP/2 client (src/client/h2-session.ts, under channel.ts):
// against node:http2's server (nghttp2, a maintained implementation: its HPACK indexes and
// Huffman-codes, its windows are 64 KiB, so flow control is exercised both ways), and
// against a raw server that sends what a broken or hostile peer would. The e2e client tests
// run the same code against berthd and containerd's grpc-go.
import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http2 from 'node:http2';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHeaders } from '../../src/grpc/hpack';
import { H2ClientSession, type H2StreamHandler, type HeaderFields } from '../../src/client/h2-session';
import { Channel } from '../../src/client/channel';
import { NotFoundError, UnavailableError } from '../../src/errdefs/errors';
import { frame, PREFACE, T, E, u32 } from './h2-raw';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-client-h2-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let socketN = 0;
const socketPath = (): string => path.join(dir, `s${socketN++}.sock`);

const REQUEST: HeaderFields = [
  [':method', 'POST'],
  [':scheme', 'http'],
  [':path', '/test'],
  [':authority', 'localhost'],
  ['content-type', 'application/grpc'],
  ['te', 'trailers'],
];

/** The request headers for `p` (pseudo-headers first, as HTTP/2 requires). */
const req = (p: string): HeaderFields => REQUEST.map(([n, v]) => [n, n === ':path' ? p : v] as const);

/** A stream's whole exchange, collected. */
interface Exchange {
  headers: HeaderFields[];
  data: Buffer;
  rstCode: number;
  error: Error | null;
}

function collector(): { handler: H2StreamHandler; done: Promise<Exchange>; drains: { n: number } } {
  const ex: Exchange = { headers: [], data: Buffer.alloc(0), rstCode: 0, error: null };
  const chunks: Buffer[] = [];
  const drains = { n: 0 };
  let resolve!: (e: Exchange) => void;
  const done = new Promise<Exchange>((r) => (resolve = r));
  return {
    drains,
    done,
    handler: {
      onHeaders: (fields) => void ex.headers.push(fields),
      onData: (chunk) => void chunks.push(Buffer.from(chunk)),
      onDrain: () => void drains.n++,
      onClose: (rstCode, error) => {
        ex.data = Buffer.concat(chunks);
        ex.rstCode = rstCode;
        ex.error = error;
        resolve(ex);
      },
    },
  };
}

/** Waits (up to 5 s) for cond to hold. */
async function until(cond: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!cond()) {
    if (Date.now() > end) throw new Error('condition not met in 5 s');
    await new Promise((r) => setTimeout(r, 10));
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const field = (fields: HeaderFields | undefined, name: string): string | undefined => fields?.find(([n]) => n === name)?.[1];

describe('client HTTP/2 against node:http2', () => {
  let server: http2.Http2Server;
  const address = socketPath();
  beforeAll(async () => {
    server = http2.createServer();
    server.on('stream', (stream, headers) => {
      const p = headers[':path'];
      if (p === '/containerd.services.version.v1.Version/Version') {
        stream.resume();
        const how = headers['containerd-namespace'];
        if (how === 'ok') {
          // VersionResponse{version: "1.2.3"}, length-prefixed.
          const msg = Buffer.from([0x0a, 5, ...Buffer.from('1.2.3')]);
          stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
          stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
          stream.end(Buffer.concat([Buffer.from([0, 0, 0, 0, msg.length]), msg]));
        } else if (how === 'trailers-only') {
          stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'thing%20not%20found' }, { endStream: true });
        } else if (how === 'http-404') {
          stream.respond({ ':status': 404 }, { endStream: true });
        } else {
          stream.respond({ ':status': 200 }); // hang
        }
        return;
      }
      if (p === '/echo') {
        // Echoes the request body, then a trailer with its digest.
        const h = createHash('sha256');
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'x-long': 'v'.repeat(3000) }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-digest': h.digest('hex') }));
        stream.on('data', (c: Buffer) => {
          h.update(c);
          stream.write(c);
        });
        stream.on('end', () => stream.end());
      } else if (p === '/download') {
        // 8 MiB, more than the client's 4 MiB stream window: it must grant more.
        const body = Buffer.alloc(8 << 20);
        for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
        stream.respond({ ':status': 200 }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-digest': sha(body) }));
        stream.resume();
        stream.end(body);
      } else if (p === '/trailers-only') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'thing%20not%20found' }, { endStream: true });
      } else if (p === '/hang') {
        stream.respond({ ':status': 200 });
      } else {
        stream.respond({ ':status': 404 }, { endStream: true });
      }
    });
    await new Promise<void>((r) => server.listen(address, r));
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
  });

  it('uploads and echoes 20 MiB through 64 KiB windows, byte for byte', async () => {
    const s = new H2ClientSession(address);
    const c = collector();
    const st = s.request(req('/echo'), c.handler);
    const body = randomBytes(20 << 20);
    // Written as a gRPC client does: in 1 MiB pieces, waiting for drain when told.
    for (let off = 0; off < body.length; off += 1 << 20) {
      if (!st.write(body.subarray(off, off + (1 << 20)))) {
        await new Promise<void>((resolve) => {
          const h = c.handler.onDrain;
          c.handler.onDrain = () => {
            c.handler.onDrain = h;
            resolve();
          };
        });
      }
    }
    st.end();
    const ex = await c.done;
    expect(ex.error).toBeNull();
    expect(ex.rstCode).toBe(0);
    expect(field(ex.headers[0], ':status')).toBe('200');
    expect(field(ex.headers[0], 'x-long')).toBe('v'.repeat(3000));
    expect(field(ex.headers[1], 'x-digest')).toBe(sha(body));
    expect(sha(ex.data)).toBe(sha(body));
    s.close();
  });

  it('downloads 8 MiB past its 4 MiB window, and a paused stream resumes', async () => {
    const s = new H2ClientSession(address);
    const c = collector();
    const st = s.request(req('/download'), c.handler);
    st.pause();
    st.end();
    // Paused: the server can send no more than the window.
    await new Promise((r) => setTimeout(r, 300));
    expect(st.closed).toBe(false);
    st.resume();
    const ex = await c.done;
    expect(ex.error).toBeNull();
    expect(ex.data.length).toBe(8 << 20);
    expect(sha(ex.data)).toBe(field(ex.headers[1], 'x-digest'));
    s.close();
  });

  it('runs many calls at once on one connection', async () => {
    const s = new H2ClientSession(address);
    const calls = Array.from({ length: 50 }, (_, i) => {
      const c = collector();
      const st = s.request(req('/echo'), c.handler);
      st.write(Buffer.from(`call ${i}`));
      st.end();
      return c.done.then((ex) => ex.data.toString());
    });
    expect(await Promise.all(calls)).toEqual(Array.from({ length: 50 }, (_, i) => `call ${i}`));
    s.close();
  });

  it('gives gRPC status from answers, trailers-only answers, HTTP errors and deadlines (Channel)', async () => {
    // A real containerd method (its codec decodes the answer); the namespace header picks
    // how the server answers.
    const ch = new Channel(address);
    const version = (how: string, timeoutMs?: number): Promise<{ version: string }> =>
      ch.unary<object, { version: string }>('/containerd.services.version.v1.Version/Version', {}, { namespace: how }, timeoutMs !== undefined ? { timeoutMs } : {});
    expect((await version('ok')).version).toBe('1.2.3');
    await expect(version('trailers-only')).rejects.toThrow(NotFoundError);
    await expect(version('trailers-only')).rejects.toThrow('thing not found');
    await expect(version('http-404')).rejects.toThrow('unexpected HTTP status code received from server: 404');
    const t = Date.now();
    await expect(version('hang', 300)).rejects.toMatchObject({ code: 4, message: expect.stringContaining('context deadline exceeded') });
    expect(Date.now() - t).toBeLessThan(5000);
    // The connection is still good after all that.
    expect((await version('ok')).version).toBe('1.2.3');
    ch.close();
  });
});

/** A server that speaks raw frames: `script` runs when the client's first HEADERS arrive,
 * and sees every frame the client sends after that. */
interface RawPeer {
  address: string;
  /** Frames the client sent, in order (after its preface). */
  got: Array<{ type: number; flags: number; stream: number; payload: Buffer }>;
  closed: Promise<void>;
  close(): Promise<void>;
}

async function rawServer(script: (send: (b: Buffer) => void, streamId: number, sock: net.Socket) => void): Promise<RawPeer> {
  const address = socketPath();
  const got: RawPeer['got'] = [];
  let markClosed!: () => void;
  const closed = new Promise<void>((r) => (markClosed = r));
  const srv = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    let prefaced = false;
    let started = false;
    sock.on('error', () => undefined);
    sock.on('close', () => markClosed());
    // The server's own SETTINGS first, as any server.
    sock.write(frame(T.SETTINGS, 0, 0, Buffer.alloc(0)));
    sock.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      if (!prefaced) {
        if (buf.length < PREFACE.length) return;
        expect(buf.subarray(0, PREFACE.length).equals(PREFACE)).toBe(true);
        buf = buf.subarray(PREFACE.length);
        prefaced = true;
      }
      while (buf.length >= 9) {
        const len = buf.readUIntBE(0, 3);
        if (buf.length < 9 + len) break;
        const f = { type: buf[3]!, flags: buf[4]!, stream: buf.readUInt32BE(5), payload: Buffer.from(buf.subarray(9, 9 + len)) };
        buf = buf.subarray(9 + len);
        got.push(f);
        if (f.type === T.HEADERS && !started) {
          started = true;
          script((b) => sock.write(b), f.stream, sock);
        }
      }
    });
  });
  await new Promise<void>((r) => srv.listen(address, r));
  return {
    address,
    got,
    closed,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

const OK_HEADERS = block([[':status', '200'], ['content-type', 'application/grpc']]);
const goaway = (p: RawPeer): { code: number } | undefined => {
  const f = p.got.find((x) => x.type === T.GOAWAY);
  return f ? { code: f.payload.readUInt32BE(4) } : undefined;
};

function block(fields: HeaderFields): Buffer {
  return encodeHeaders(fields);
}

describe('client HTTP/2 stream limits', () => {
  it('waits for a slot when the server allows one stream at a time, and serves every call', async () => {
    const address = socketPath();
    let open = 0;
    let most = 0;
    const server = http2.createServer({ settings: { maxConcurrentStreams: 1 } });
    server.on('stream', (stream) => {
      open++;
      most = Math.max(most, open);
      stream.on('close', () => open--);
      stream.respond({ ':status': 200 });
      stream.resume();
      stream.on('end', () => setTimeout(() => stream.end('ok'), 20));
    });
    await new Promise<void>((r) => server.listen(address, r));
    const s = new H2ClientSession(address);
    // The server's SETTINGS first: before them, streams are not limited (RFC 9113 §5.1.2).
    const warm = collector();
    s.request(req('/warm'), warm.handler).end();
    await warm.done;
    const calls = Array.from({ length: 5 }, () => {
      const c = collector();
      s.request(req('/x'), c.handler).end();
      return c.done;
    });
    const done = await Promise.all(calls);
    expect(done.map((ex) => [ex.error, ex.rstCode, ex.data.toString()])).toEqual(Array.from({ length: 5 }, () => [null, 0, 'ok']));
    expect(most).toBe(1);
    s.close();
    await new Promise<void>((r) => server.close(() => r()));
  });
});

describe('client HTTP/2 against a hostile server', () => {
  const open = (p: RawPeer): { s: H2ClientSession; done: Promise<Exchange> } => {
    const s = new H2ClientSession(p.address);
    const c = collector();
    const st = s.request(REQUEST, c.handler);
    st.write(Buffer.from('hello'));
    st.end();
    return { s, done: c.done };
  };

  it('a frame above 16 KiB is a FRAME_SIZE_ERROR: GOAWAY, the call fails', async () => {
    const p = await rawServer((send, id) => {
      send(frame(T.HEADERS, 0x4, id, OK_HEADERS));
      send(frame(T.DATA, 0, id, Buffer.alloc(20_000)));
    });
    const { done } = open(p);
    const ex = await done;
    expect(ex.error?.message).toMatch(/connection error 6/);
    await p.closed;
    expect(goaway(p)?.code).toBe(E.FRAME_SIZE_ERROR);
    await p.close();
  });

  it('PUSH_PROMISE (push is disabled) is a PROTOCOL_ERROR', async () => {
    const p = await rawServer((send, id) => send(frame(5, 0x4, id, Buffer.concat([u32(2), OK_HEADERS]))));
    const ex = await open(p).done;
    expect(ex.error).not.toBeNull();
    await p.closed;
    expect(goaway(p)?.code).toBe(E.PROTOCOL_ERROR);
    expect(p.got.find((f) => f.type === T.SETTINGS && f.flags === 0)?.payload.readUInt32BE(2)).toBe(0); // ENABLE_PUSH 0 advertised
    await p.close();
  });

  it('a broken header block is a COMPRESSION_ERROR', async () => {
    const p = await rawServer((send, id) => send(frame(T.HEADERS, 0x4, id, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x7f]))));
    const ex = await open(p).done;
    expect(ex.error).not.toBeNull();
    await p.closed;
    expect(goaway(p)?.code).toBe(E.COMPRESSION_ERROR);
    await p.close();
  });

  it('endless CONTINUATION frames are cut off (PROTOCOL_ERROR), not buffered', async () => {
    const p = await rawServer((send, id) => {
      send(frame(T.HEADERS, 0, id, OK_HEADERS.subarray(0, 1)));
      for (let i = 0; i < 200; i++) send(frame(T.CONTINUATION, 0, id, Buffer.alloc(10_000)));
    });
    const ex = await open(p).done;
    expect(ex.error).not.toBeNull();
    await p.closed;
    expect(goaway(p)?.code).toBe(E.PROTOCOL_ERROR);
    await p.close();
  });

  it('an HPACK bomb (one big entry referenced over and over) resets the stream, the connection lives', async () => {
    const p = await rawServer((send, id) => {
      // Literal with incremental indexing: name "x", a 4000-byte value (entry 62), then
      // 1000 references to it: 4 MB decoded from 4 KB.
      const value = Buffer.alloc(4000, 0x61);
      const lit = Buffer.concat([Buffer.from([0x40, 1, 0x78, 0x7f]), Buffer.from([4000 - 127 - 128 * Math.floor((4000 - 127) / 128) + 128, Math.floor((4000 - 127) / 128)]), value]);
      send(frame(T.HEADERS, 0x4, id, Buffer.concat([OK_HEADERS, lit, Buffer.alloc(1000, 0xbe)])));
      // A later stream on the same connection still works.
      setTimeout(() => undefined, 0);
    });
    const { s, done } = open(p);
    const ex = await done;
    expect(ex.error).toBeNull();
    expect(ex.rstCode).toBe(E.PROTOCOL_ERROR);
    expect(s.destroyed).toBe(false);
    s.close();
    await p.close();
  });

  it('DATA beyond the stream window is a FLOW_CONTROL_ERROR on that stream', async () => {
    const p = await rawServer((send, id) => {
      send(frame(T.HEADERS, 0x4, id, OK_HEADERS));
      // 4 MiB + 16 KiB with no WINDOW_UPDATE asked for: the client's window is 4 MiB, and a
      // paused stream grants nothing back.
      for (let i = 0; i < 257; i++) send(frame(T.DATA, 0, id, Buffer.alloc(16_384)));
    });
    const s = new H2ClientSession(p.address);
    const c = collector();
    const st = s.request(REQUEST, c.handler);
    st.pause();
    st.end();
    const ex = await c.done;
    expect(ex.rstCode).toBe(E.FLOW_CONTROL_ERROR);
    expect(ex.data.length).toBe(4 << 20);
    await until(() => p.got.some((f) => f.type === T.RST_STREAM && f.payload.readUInt32BE(0) === E.FLOW_CONTROL_ERROR));
    s.close();
    await p.close();
  });

  it('answers PING with the same payload, and takes RST_STREAM as the end of the call', async () => {
    const p = await rawServer((send, id) => {
      send(frame(T.PING, 0, 0, Buffer.from('12345678')));
      setTimeout(() => send(frame(T.RST_STREAM, 0, id, u32(E.REFUSED_STREAM))), 50);
    });
    const { s, done } = open(p);
    const ex = await done;
    expect(ex.rstCode).toBe(E.REFUSED_STREAM);
    expect(p.got.find((f) => f.type === T.PING)?.payload.toString()).toBe('12345678');
    expect(p.got.find((f) => f.type === T.PING)?.flags).toBe(1);
    s.close();
    await p.close();
  });

  it('a server that drops the connection mid-call fails the call (Unavailable through Channel)', async () => {
    const p = await rawServer((send, id, sock) => {
      send(frame(T.HEADERS, 0x4, id, OK_HEADERS));
      setTimeout(() => sock.destroy(), 20);
    });
    const ch = new Channel(p.address);
    await expect(ch.unary('/containerd.services.version.v1.Version/Version', {}, {}, {})).rejects.toThrow(UnavailableError);
    ch.close();
    await p.close();
  });

  it('GOAWAY below a stream fails it as not processed, and the next call makes a new connection', async () => {
    let conns = 0;
    const p = await rawServer((send, id) => {
      conns++;
      const payload = Buffer.concat([u32(0), u32(E.NO_ERROR), Buffer.from('bye')]);
      send(frame(T.GOAWAY, 0, 0, payload));
      void id;
    });
    const ch = new Channel(p.address);
    const err = await ch.unary('/containerd.services.version.v1.Version/Version', {}, {}, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnavailableError);
    expect(String((err as Error).message)).toMatch(/GOAWAY/);
    ch.close();
    expect(conns).toBe(1);
    await p.close();
  });

  it('window updates from the server release a stream held at 64 KiB', async () => {
    // The server keeps the default 65 535 window and opens it only after the first 64 KiB.
    let granted = false;
    const p = await rawServer((send, id, sock) => {
      sock.on('data', () => {
        const sent = p.got.filter((f) => f.type === T.DATA && f.stream === id).reduce((n, f) => n + f.payload.length, 0);
        if (!granted && sent >= 65_535) {
          granted = true;
          send(Buffer.concat([frame(T.WINDOW_UPDATE, 0, 0, u32(1 << 20)), frame(T.WINDOW_UPDATE, 0, id, u32(1 << 20))]));
        }
        const ended = p.got.some((f) => f.type === T.DATA && f.stream === id && f.flags & 1);
        if (ended) send(Buffer.concat([frame(T.HEADERS, 0x4, id, OK_HEADERS), frame(T.HEADERS, 0x5, id, block([['grpc-status', '0']]))]));
      });
    });
    const s = new H2ClientSession(p.address);
    const c = collector();
    const st = s.request(REQUEST, c.handler);
    st.write(Buffer.alloc(300_000, 1));
    st.end();
    const ex = await c.done;
    expect(ex.error).toBeNull();
    expect(granted).toBe(true);
    const sent = p.got.filter((f) => f.type === T.DATA).reduce((n, f) => n + f.payload.length, 0);
    expect(sent).toBe(300_000);
    expect(p.got.filter((f) => f.type === T.DATA).every((f) => f.payload.length <= 16_384)).toBe(true);
    s.close();
    await p.close();
  });
});
