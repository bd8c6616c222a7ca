// The SPDY side of the CRI streaming server against a raw client written here: what a
// well-behaved but flow-controlling peer gets, and what hostile frames get (GOAWAY
// PROTOCOL_ERROR and a closed socket, a log line saying why), plus the session and token
// bounds. client-go itself is in test/e2e/cri-streaming-go.test.ts; these are the cases it
// cannot produce. The runtime is a fake that writes bytes (logic only, no processes).
import * as net from 'node:net';
import * as zlib from 'node:zlib';
import { afterEach, describe, expect, it } from 'vitest';
import { StreamingServer, type StreamingLimits, type StreamingRuntime } from '../../src/cri/streaming';
import { SPDY3_DICTIONARY } from '../../src/cri/streaming/spdy-dictionary';
import {
  CONTROL,
  FLAG_FIN,
  SpdyFrameParser,
  controlFrame,
  dataFrameHeader,
  pingFrame,
  settingsFrame,
  windowUpdateFrame,
  type ParsedFrame,
} from '../../src/cri/streaming/spdy-frames';
import { HeaderDeflater, adler32, encodeHeaderBlock } from '../../src/cri/streaming/spdy-headers';
import { RequestCache, TooManyInFlightError } from '../../src/cri/streaming/request-cache';
import { AsyncQueue, ResizeDecoder } from '../../src/cri/streaming/resize';

const GOAWAY_PROTOCOL_ERROR = 1;

/** Writes `bytes` bytes to stdout, then exits 0. */
function writerRuntime(bytes: number): StreamingRuntime {
  return {
    async exec(_id, _cmd, s) {
      s.stdout?.write(Buffer.alloc(bytes, 0x61));
      return 0;
    },
    attach: () => Promise.reject(new Error('no attach here')),
    portForward: () => Promise.reject(new Error('no port-forward here')),
  };
}

let server: StreamingServer | undefined;
const logs: string[] = [];
afterEach(async () => {
  await server?.stop();
  server = undefined;
  logs.length = 0;
});

async function startServer(runtime: StreamingRuntime, limits: Partial<StreamingLimits> = {}): Promise<StreamingServer> {
  server = new StreamingServer({ limits, log: (m) => logs.push(m) }, runtime);
  await server.start();
  return server;
}

/** A raw SPDY client: upgrades, then sends frames and collects the server's. */
class RawClient {
  readonly frames: ParsedFrame[] = [];
  readonly deflater = new HeaderDeflater();
  status = 0;
  response = '';
  closed: Promise<void>;
  private readonly parser = new SpdyFrameParser(1 << 24);
  private waiters: Array<() => void> = [];

  private constructor(readonly socket: net.Socket) {
    this.closed = new Promise((r) => socket.once('close', () => r()));
  }

  static async connect(url: string, protocol = 'v4.channel.k8s.io'): Promise<RawClient> {
    const u = new URL(url);
    const socket = net.connect(Number(u.port), u.hostname);
    const c = new RawClient(socket);
    socket.write(`POST ${u.pathname} HTTP/1.1\r\nHost: ${u.host}\r\nConnection: Upgrade\r\nUpgrade: SPDY/3.1\r\nX-Stream-Protocol-Version: ${protocol}\r\n\r\n`);
    let head = Buffer.alloc(0);
    await new Promise<void>((resolve) => {
      const onData = (b: Buffer): void => {
        head = Buffer.concat([head, b]);
        const end = head.indexOf('\r\n\r\n');
        if (end < 0) return;
        socket.off('data', onData);
        c.response = head.subarray(0, end).toString();
        c.status = Number(c.response.split(' ')[1]);
        socket.on('data', (d: Buffer) => c.onData(d));
        c.onData(head.subarray(end + 4));
        resolve();
      };
      socket.on('data', onData);
      socket.on('close', () => resolve());
    });
    return c;
  }

  private onData(b: Buffer): void {
    this.parser.push(b, (f) => this.frames.push(f.kind === 'data' ? { ...f, chunk: Buffer.from(f.chunk) } : { ...f, payload: Buffer.from(f.payload) }));
    for (const w of this.waiters.splice(0)) w();
  }

  async waitFor(pred: () => boolean, ms = 3000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!pred()) {
      if (Date.now() > deadline) throw new Error('timed out waiting');
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 20);
      });
    }
  }

  control(type: number): Array<ParsedFrame & { kind: 'control' }> {
    return this.frames.filter((f): f is ParsedFrame & { kind: 'control' } => f.kind === 'control' && f.type === type);
  }

  dataBytes(streamId: number): number {
    return this.frames.reduce((n, f) => n + (f.kind === 'data' && f.streamId === streamId ? f.chunk.length : 0), 0);
  }

  synStream(id: number, headers: Array<[string, string]>, fin = false): void {
    const block = this.deflater.compress(encodeHeaderBlock(headers));
    const p = Buffer.alloc(10);
    p.writeUInt32BE(id, 0);
    this.socket.write(controlFrame(CONTROL.SYN_STREAM, fin ? FLAG_FIN : 0, Buffer.concat([p, block])));
  }

  goawayStatus(): number | undefined {
    const g = this.control(CONTROL.GOAWAY)[0];
    return g?.payload.readUInt32BE(4);
  }
}

function execUrl(s: StreamingServer): string {
  return s.getExec({ containerId: 'c', cmd: ['x'], tty: false, stdin: false, stdout: true, stderr: false }).url;
}

describe('SPDY/3 header compression', () => {
  it('uses the SPDY/3 dictionary (adler32 0xe3c6a7c2, 1423 bytes)', () => {
    expect(SPDY3_DICTIONARY.length).toBe(1423);
    expect(adler32(SPDY3_DICTIONARY)).toBe(0xe3c6a7c2);
  });

  it('our stored-block stream inflates with zlib and the dictionary, block after block', () => {
    const d = new HeaderDeflater();
    const a = d.compress(encodeHeaderBlock([['streamtype', 'stdout']]));
    const b = d.compress(encodeHeaderBlock([['port', '80']]));
    const out = zlib.inflateSync(Buffer.concat([a, b]), { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH });
    expect(out).toEqual(Buffer.concat([encodeHeaderBlock([['streamtype', 'stdout']]), encodeHeaderBlock([['port', '80']])]));
  });
});

describe('SPDY session', () => {
  it('serves a client that takes part in flow control within its windows, and answers PING', async () => {
    const s = await startServer(writerRuntime(20_000));
    const c = await RawClient.connect(execUrl(s));
    expect(c.status).toBe(101);
    expect(c.response).toMatch(/X-Stream-Protocol-Version: v4.channel.k8s.io/);
    // A 4096-byte stream window and a WINDOW_UPDATE: this peer does flow control.
    c.socket.write(settingsFrame([[7, 4096]]));
    c.socket.write(windowUpdateFrame(0, 1));
    c.socket.write(pingFrame(7));
    c.synStream(1, [['streamtype', 'error']]);
    c.synStream(3, [['streamtype', 'stdout']]);
    await c.waitFor(() => c.dataBytes(3) >= 4096 && c.control(CONTROL.PING).length === 1);
    await new Promise((r) => setTimeout(r, 200));
    expect(c.dataBytes(3)).toBe(4096);
    expect(c.control(CONTROL.PING)[0]!.payload.readUInt32BE(0)).toBe(7);
    expect(c.control(CONTROL.SYN_REPLY).length).toBe(2);
    c.socket.write(windowUpdateFrame(3, 20_000 - 4096));
    await c.waitFor(() => c.frames.some((f) => f.kind === 'data' && f.streamId === 1 && f.fin));
    expect(c.dataBytes(3)).toBe(20_000);
    const status = Buffer.concat(c.frames.flatMap((f) => (f.kind === 'data' && f.streamId === 1 ? [f.chunk] : []))).toString();
    expect(JSON.parse(status)).toEqual({ metadata: {}, status: 'Success' });
    await c.closed;
    expect(c.goawayStatus()).toBe(0);
  });

  const hostile: Array<[string, (c: RawClient) => void, RegExp]> = [
    ['a control frame of another SPDY version', (c) => {
      const f = controlFrame(CONTROL.PING, 0, Buffer.alloc(4));
      f.writeUInt16BE(0x8002, 0);
      c.socket.write(f);
    }, /SPDY version 2/],
    ['a control frame larger than the limit (before its body arrives)', (c) => {
      const h = Buffer.alloc(8);
      h.writeUInt32BE(0x80030001, 0);
      h.writeUIntBE(0xfffff0, 5, 3);
      c.socket.write(h);
    }, /control frame of \d+ bytes exceeds/],
    ['a SYN_STREAM with a server-side (even) stream id', (c) => c.synStream(2, [['streamtype', 'error']]), /server-side stream id 2/],
    ['stream ids going down', (c) => {
      c.synStream(5, [['streamtype', 'error']]);
      c.synStream(3, [['streamtype', 'stdout']]);
    }, /not above 5/],
    ['a header block that is not zlib', (c) => {
      const p = Buffer.alloc(10);
      p.writeUInt32BE(1, 0);
      c.socket.write(controlFrame(CONTROL.SYN_STREAM, 0, Buffer.concat([p, Buffer.from('not zlib at all')])));
    }, /header compression/],
    ['a header block that inflates past the limit (compression bomb)', (c) => {
      const raw = encodeHeaderBlock([['x', 'a'.repeat(1 << 20)]]);
      const block = zlib.deflateSync(raw, { dictionary: SPDY3_DICTIONARY, finishFlush: zlib.constants.Z_SYNC_FLUSH, flush: zlib.constants.Z_SYNC_FLUSH });
      const p = Buffer.alloc(10);
      p.writeUInt32BE(1, 0);
      c.socket.write(controlFrame(CONTROL.SYN_STREAM, 0, Buffer.concat([p, block])));
    }, /decompresses to more than 65536 bytes/],
    ['a truncated header block', (c) => {
      const raw = encodeHeaderBlock([['streamtype', 'error']]).subarray(0, 10);
      const p = Buffer.alloc(10);
      p.writeUInt32BE(1, 0);
      c.socket.write(controlFrame(CONTROL.SYN_STREAM, 0, Buffer.concat([p, c.deflater.compress(raw)])));
    }, /header block truncated|runs past/],
    ['data on a stream never opened', (c) => c.socket.write(Buffer.concat([dataFrameHeader(9, 0, 3), Buffer.from('abc')])), /never opened/],
    ['a WINDOW_UPDATE with delta 0', (c) => c.socket.write(windowUpdateFrame(0, 0)), /delta 0/],
    ['a PING of the wrong length', (c) => c.socket.write(controlFrame(CONTROL.PING, 0, Buffer.alloc(3))), /PING frame of 3 bytes/],
    ['SYN_REPLY from the client', (c) => c.socket.write(controlFrame(CONTROL.SYN_REPLY, 0, Buffer.alloc(4))), /SYN_REPLY from a client/],
  ];
  for (const [name, send, why] of hostile) {
    it(`ends the session on ${name}: GOAWAY PROTOCOL_ERROR, closed socket, a log line`, async () => {
      const s = await startServer(writerRuntime(0));
      const c = await RawClient.connect(execUrl(s));
      expect(c.status).toBe(101);
      send(c);
      await c.closed;
      expect(c.goawayStatus()).toBe(GOAWAY_PROTOCOL_ERROR);
      expect(logs.join('\n')).toMatch(why);
    });
  }

  it('refuses streams beyond the per-session limit with REFUSED_STREAM, then ends a session that keeps trying', async () => {
    const s = await startServer(writerRuntime(0), { maxStreamsPerSession: 4, maxRefusedStreamsPerSession: 3 });
    const c = await RawClient.connect(s.getExec({ containerId: 'c', cmd: ['x'], tty: false, stdin: true, stdout: true, stderr: true }).url);
    for (let i = 0; i < 4; i++) c.synStream(1 + 2 * i, [['streamtype', 'bogus']]);
    c.synStream(9, [['streamtype', 'bogus']]);
    await c.waitFor(() => c.control(CONTROL.RST_STREAM).length === 1);
    const rst = c.control(CONTROL.RST_STREAM)[0]!.payload;
    expect([rst.readUInt32BE(0), rst.readUInt32BE(4)]).toEqual([9, 3]);
    for (let i = 0; i < 3; i++) c.synStream(11 + 2 * i, [['streamtype', 'bogus']]);
    await c.closed;
    expect(c.goawayStatus()).toBe(GOAWAY_PROTOCOL_ERROR);
    expect(logs.join('\n')).toMatch(/more than 3 streams refused/);
  });

  it('closes a session idle past the idle timeout', async () => {
    const s = await startServer(writerRuntime(0), { idleTimeoutMs: 300 });
    const c = await RawClient.connect(execUrl(s));
    const t0 = Date.now();
    await c.closed;
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(c.goawayStatus()).toBe(0);
    expect(logs.join('\n')).toMatch(/idle for 300 ms/);
  });

  it('answers 503 past the session limit, and the token stays usable', async () => {
    const s = await startServer(writerRuntime(0), { maxSessions: 1 });
    const c1 = await RawClient.connect(execUrl(s));
    expect(c1.status).toBe(101);
    const url = execUrl(s);
    const c2 = await RawClient.connect(url);
    expect(c2.status).toBe(503);
    c1.socket.destroy();
    await c1.closed;
    await new Promise((r) => setTimeout(r, 50));
    const c3 = await RawClient.connect(url);
    expect(c3.status).toBe(101);
    c3.socket.destroy();
  });

  it('negotiates like kubelet: no protocol header 400, no common protocol 403 with the accepted list', async () => {
    const s = await startServer(writerRuntime(0));
    const c1 = await RawClient.connect(execUrl(s), '');
    expect(c1.status).toBe(400);
    const c2 = await RawClient.connect(execUrl(s), 'v9.channel.k8s.io');
    expect(c2.status).toBe(403);
    expect(c2.response).toMatch(/X-Accepted-Stream-Protocol-Versions: v4.channel.k8s.io/);
    const c3 = await RawClient.connect(s.getPortForward({ podSandboxId: 'p', port: [] }).url, 'v4.channel.k8s.io');
    expect(c3.status).toBe(403);
  });
});

describe('request tokens', () => {
  it('are single-use, expire, and are bounded', () => {
    let now = 1000;
    const cache = new RequestCache<string>(60_000, 3, () => now);
    const a = cache.insert('a');
    expect(a).toMatch(/^[A-Za-z0-9_-]{8}$/);
    expect(cache.consume(a)).toBe('a');
    expect(cache.consume(a)).toBeUndefined();
    const b = cache.insert('b');
    now += 60_001;
    expect(cache.consume(b)).toBeUndefined();
    cache.insert('c');
    cache.insert('d');
    cache.insert('e');
    expect(() => cache.insert('f')).toThrow(TooManyInFlightError);
    now += 60_001; // expired ones make room
    expect(cache.insert('g')).toHaveLength(8);
  });

  it('validates requests as kubelet does', async () => {
    const s = await startServer(writerRuntime(0));
    expect(() => s.getExec({ containerId: '', cmd: [], tty: false, stdin: true, stdout: false, stderr: false })).toThrow('missing required container_id');
    expect(() => s.getExec({ containerId: 'c', cmd: [], tty: true, stdin: false, stdout: true, stderr: true })).toThrow('tty and stderr cannot both be true');
    expect(() => s.getAttach({ containerId: 'c', tty: false, stdin: false, stdout: false, stderr: false })).toThrow('one of stdin, stdout, and stderr must be set');
    expect(() => s.getPortForward({ podSandboxId: '', port: [] })).toThrow('missing required pod_sandbox_id');
  });
});

describe('resize events', () => {
  it('decodes concatenated JSON sizes split anywhere, case-insensitively; refuses other input', async () => {
    const q = new AsyncQueue<{ width: number; height: number }>(16);
    const d = new ResizeDecoder(q);
    const text = '{"Width":80,"Height":24}\n{"width":100,\n"height":40}{"Width":1,"Height":2}';
    for (let i = 0; i < text.length; i += 7) expect(d.write(Buffer.from(text.slice(i, i + 7)))).toBe(true);
    q.end();
    const got = [];
    for await (const s of q) got.push(s);
    expect(got).toEqual([{ width: 80, height: 24 }, { width: 100, height: 40 }, { width: 1, height: 2 }]);
    expect(new ResizeDecoder(new AsyncQueue(1)).write(Buffer.from('[1,2]'))).toBe(false);
    expect(new ResizeDecoder(new AsyncQueue(1)).write(Buffer.from('{"Width":-1}'))).toBe(false);
    expect(new ResizeDecoder(new AsyncQueue(1), 16).write(Buffer.from('{"Width":' + ' '.repeat(40)))).toBe(false);
  });
});

describe('port-forward streams', () => {
  it('pairs error and data streams by requestID; a failed forward is reported on the error stream, then both are reset', async () => {
    const s = await startServer(writerRuntime(0));
    const c = await RawClient.connect(s.getPortForward({ podSandboxId: 'pod-x', port: [] }).url, 'portforward.k8s.io');
    expect(c.status).toBe(101);
    c.synStream(1, [['streamtype', 'error'], ['port', '8080'], ['requestid', '0']]);
    c.synStream(3, [['streamtype', 'data'], ['port', '8080'], ['requestid', '0']]);
    c.synStream(5, [['streamtype', 'data'], ['port', '0'], ['requestid', '1']]);
    await c.waitFor(() => c.control(CONTROL.RST_STREAM).length >= 3);
    const text = Buffer.concat(c.frames.flatMap((f) => (f.kind === 'data' && f.streamId === 1 ? [f.chunk] : []))).toString();
    expect(text).toBe('error forwarding port 8080 to pod pod-x, uid : no port-forward here');
    const resets = c.control(CONTROL.RST_STREAM).map((f) => f.payload.readUInt32BE(0)).sort();
    expect(resets).toEqual([1, 3, 5]);
    expect(logs.join('\n')).toMatch(/stream 5 refused: port "0" must be > 0/);
    c.socket.destroy();
  });
});

describe('WebSocket remote command', () => {
  it('speaks base64.channel.k8s.io and v4.base64.channel.k8s.io: channel digit + base64 in text messages, status on channel 3', async () => {
    const { WebSocket } = await import('ws');
    const s = await startServer(writerRuntime(5));
    for (const protocol of ['v4.base64.channel.k8s.io', 'base64.channel.k8s.io']) {
      const ws = new WebSocket(execUrl(s).replace('http:', 'ws:'), [protocol]);
      const msgs: string[] = [];
      ws.on('message', (m, isBinary) => msgs.push(`${isBinary ? 'bin' : 'text'}:${m.toString()}`));
      await new Promise((r) => ws.on('close', r));
      expect(ws.protocol).toBe(protocol);
      const status = protocol.startsWith('v4') ? [`text:3${Buffer.from(JSON.stringify({ metadata: {}, status: 'Success' })).toString('base64')}`] : [];
      expect(msgs).toEqual(['text:1', `text:1${Buffer.from('aaaaa').toString('base64')}`, ...status]);
    }
  });

  it('refuses a WebSocket asking only for protocols kubelet does not speak', async () => {
    const { WebSocket } = await import('ws');
    const s = await startServer(writerRuntime(0));
    const ws = new WebSocket(execUrl(s).replace('http:', 'ws:'), ['v5.channel.k8s.io']);
    const status = await new Promise<number>((r) => ws.on('unexpected-response', (_req, res) => r(res.statusCode ?? 0)));
    expect(status).toBe(403);
  });
});

describe('bounded buffers', () => {
  it('a client that stops reading holds back its own session: the runtime is let write only a bounded amount', async () => {
    let accepted = 0;
    const runtime: StreamingRuntime = {
      async exec(_id, _cmd, s) {
        const chunk = Buffer.alloc(256 * 1024, 0x62);
        while (!s.signal.aborted && accepted < 512 * 1024 * 1024) {
          if (!s.stdout!.write(chunk)) await new Promise((r) => { s.stdout!.once('drain', r); s.signal.addEventListener('abort', r); });
          accepted += chunk.length;
        }
        return 0;
      },
      attach: () => Promise.reject(new Error('no')),
      portForward: () => Promise.reject(new Error('no')),
    };
    const s = await startServer(runtime);
    const c = await RawClient.connect(execUrl(s));
    c.synStream(1, [['streamtype', 'error']]);
    c.synStream(3, [['streamtype', 'stdout']]);
    await c.waitFor(() => c.dataBytes(3) > 0);
    c.socket.pause(); // and never read again
    await new Promise((r) => setTimeout(r, 1500));
    const held = accepted;
    await new Promise((r) => setTimeout(r, 500));
    // Loopback kernel buffers plus the session's own bounds; a server without them would have
    // taken hundreds of MiB by now.
    expect(held).toBeLessThan(48 * 1024 * 1024);
    expect(accepted).toBe(held);
    c.socket.destroy();
  });

  it('a stream whose reader does not read stops the session from reading the socket', async () => {
    const runtime: StreamingRuntime = {
      exec: (_id, _cmd, s) => new Promise((r) => s.signal.addEventListener('abort', () => r(0))), // never reads stdin
      attach: () => Promise.reject(new Error('no')),
      portForward: () => Promise.reject(new Error('no')),
    };
    const s = await startServer(runtime);
    const c = await RawClient.connect(s.getExec({ containerId: 'c', cmd: ['x'], tty: false, stdin: true, stdout: true, stderr: false }).url);
    c.synStream(1, [['streamtype', 'error']]);
    c.synStream(3, [['streamtype', 'stdin']]);
    c.synStream(5, [['streamtype', 'stdout']]);
    await c.waitFor(() => c.control(CONTROL.SYN_REPLY).length === 3);
    const chunk = Buffer.alloc(60 * 1024, 0x63);
    for (let i = 0; i < 1024; i++) c.socket.write(Buffer.concat([dataFrameHeader(3, 0, chunk.length), chunk])); // 60 MiB
    await new Promise((r) => setTimeout(r, 1500));
    // Most of it is still on the client's side: the server took its bounds' worth and stopped.
    expect(c.socket.writableLength).toBeGreaterThan(20 * 1024 * 1024);
    c.socket.destroy();
  });
});

describe('resets', () => {
  it('a client resetting a stream the runtime is writing to ends that session only', async () => {
    const runtime: StreamingRuntime = {
      async exec(_id, _cmd, s) {
        const chunk = Buffer.alloc(64 * 1024, 0x64);
        for (let i = 0; i < 2000 && !s.signal.aborted; i++) {
          if (!s.stdout!.write(chunk)) await new Promise((r) => { s.stdout!.once('drain', r); s.stdout!.once('close', r); s.signal.addEventListener('abort', r); });
          if (s.stdout!.destroyed) throw new Error('stdout reset by the client');
        }
        return 0;
      },
      attach: () => Promise.reject(new Error('no')),
      portForward: () => Promise.reject(new Error('no')),
    };
    const s = await startServer(runtime);
    const c = await RawClient.connect(execUrl(s));
    c.synStream(1, [['streamtype', 'error']]);
    c.synStream(3, [['streamtype', 'stdout']]);
    await c.waitFor(() => c.dataBytes(3) > 0);
    const rst = Buffer.alloc(8);
    rst.writeUInt32BE(3, 0);
    rst.writeUInt32BE(5, 4); // CANCEL
    c.socket.write(controlFrame(CONTROL.RST_STREAM, 0, rst));
    await c.closed;
    const status = Buffer.concat(c.frames.flatMap((f) => (f.kind === 'data' && f.streamId === 1 ? [f.chunk] : []))).toString();
    expect(JSON.parse(status)).toMatchObject({ status: 'Failure', reason: 'InternalError', code: 500 });
    // The server still serves others.
    const c2 = await RawClient.connect(execUrl(s));
    expect(c2.status).toBe(101);
    c2.socket.destroy();
  });
});

describe('floods', () => {
  it('a PING flood ends the session with GOAWAY PROTOCOL_ERROR; pings at a normal rate are answered', async () => {
    const s = await startServer(writerRuntime(0), { maxNoopFramesPerSecond: 50 });
    const calm = await RawClient.connect(execUrl(s));
    for (let i = 0; i < 20; i++) calm.socket.write(pingFrame(2 * i + 1));
    await calm.waitFor(() => calm.control(CONTROL.PING).length === 20);
    expect(calm.goawayStatus()).toBeUndefined();
    calm.socket.destroy();
    const c = await RawClient.connect(execUrl(s));
    c.socket.write(Buffer.concat(Array.from({ length: 500 }, (_, i) => pingFrame(2 * i + 1))));
    await c.closed;
    expect(c.goawayStatus()).toBe(GOAWAY_PROTOCOL_ERROR);
    expect(logs.join('\n')).toMatch(/PING flood/);
  });
});
