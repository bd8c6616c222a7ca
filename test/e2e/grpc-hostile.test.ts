// Hostile clients (issue 12): each attack runs against a private berthd and a real
// containerd at the same time, while another client calls Version every ~100 ms on its own
// connection. Asserted for berthd: its RSS stays within the RSS before the attack + 64 MiB,
// every Version call is answered within 1 s, and the outcome (the RFC 9113 error code, or
// the answer). containerd's numbers and outcome are printed next to it (and its HPACK
// bomb reset code compared).
//
// Each attack lasts BERTH_HOSTILE_SECONDS (default 4, so the file stays short in CI; the
// issue's full-length run is BERTH_HOSTILE_SECONDS=30). Every flood is bounded in frames
// and in time, over unix sockets only; the daemons are stopped by the harness, by PID.
import * as fs from 'node:fs';
import * as net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../src/grpc/hpack';
import { startPair, type Pair } from './pair';
import { E, PREFACE, RawConn, T, block, callHeaders, frame, grpcMessage, u32 } from '../unit/h2-raw';
import { sleep } from '../harness';

const SECONDS = Number(process.env.BERTH_HOSTILE_SECONDS ?? '4');
const ATTACK_MS = SECONDS * 1000;
const VERSION = '/containerd.services.version.v1.Version/Version';
const RSS_SLACK_MIB = 64;
const PROBE_LIMIT_MS = 1000;
/** Frame flags. */
const END_STREAM = 1;
const END_HEADERS = 4;
/** Both daemons accept frames of 16 KiB (containerd's max frame size). */
const MAX_FRAME = 16_384;

let pair: Pair;
beforeAll(async () => {
  pair = await startPair();
}, 120_000);
afterAll(async () => {
  await pair?.cleanup();
}, 60_000);

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Another client: one connection, a Version call every ~100 ms; each call's latency
 * (PROBE_LIMIT_MS + 1 for one not answered in time), and the daemon's RSS at each probe. */
class Watch {
  readonly latencies: number[] = [];
  maxRss = 0;
  private stopped = false;
  private readonly done: Promise<void>;

  constructor(private readonly address: string, private readonly pid: number) {
    this.done = this.run();
  }

  private async run(): Promise<void> {
    let c = await RawConn.open(this.address);
    let sid = 1;
    while (!this.stopped) {
      this.maxRss = Math.max(this.maxRss, rssMiB(this.pid));
      if (c.closed || sid > 2 ** 30) {
        c.close();
        c = await RawConn.open(this.address);
        sid = 1;
      }
      const t = Date.now();
      c.send(frame(T.HEADERS, END_HEADERS, sid, block(callHeaders(VERSION))), frame(T.DATA, END_STREAM, sid, grpcMessage(Buffer.alloc(0))));
      const st = await c.status(sid, PROBE_LIMIT_MS);
      const ms = Date.now() - t;
      this.latencies.push(st.code === '0' ? ms : PROBE_LIMIT_MS + 1);
      // The answered frames are not needed again: keep the list short.
      c.frames.length = 0;
      sid += 2;
      await sleep(Math.max(0, 100 - ms));
    }
    c.close();
  }

  async stop(): Promise<{ maxLatency: number; slow: number; probes: number; maxRss: number }> {
    this.stopped = true;
    await this.done;
    return { maxLatency: Math.max(...this.latencies), slow: this.latencies.filter((l) => l > PROBE_LIMIT_MS).length, probes: this.latencies.length, maxRss: this.maxRss };
  }
}

/** An attacker's connection: writes what it is told, and reads only what the server says
 * about the connection and its streams (GOAWAY, RST_STREAM, end of a response). */
class Attacker {
  goaway: number | undefined;
  readonly rst = new Map<number, number>();
  /** Streams whose response ended with trailers: their grpc-status. */
  readonly status = new Map<number, string>();
  closed = false;
  private pending: Buffer = Buffer.alloc(0);
  private readonly decoder = new HpackDecoder(4096);

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => this.read(d));
    socket.on('error', () => undefined);
    socket.on('close', () => {
      this.closed = true;
    });
  }

  static async open(address: string, opts: { read?: boolean } = {}): Promise<Attacker> {
    const s = net.connect({ path: address });
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('error', reject);
    });
    const a = new Attacker(s);
    if (opts.read === false) s.pause();
    s.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, Buffer.alloc(0))]));
    return a;
  }

  private read(d: Buffer): void {
    let b = this.pending.length > 0 ? Buffer.concat([this.pending, d]) : d;
    while (b.length >= 9) {
      const len = b.readUIntBE(0, 3);
      if (b.length < 9 + len) break;
      const type = b[3] as number;
      const flags = b[4] as number;
      const sid = b.readUInt32BE(5) & 0x7fffffff;
      const p = b.subarray(9, 9 + len);
      if (type === T.GOAWAY && this.goaway === undefined) this.goaway = p.readUInt32BE(4);
      else if (type === T.RST_STREAM && !this.rst.has(sid)) this.rst.set(sid, p.readUInt32BE(0));
      else if (type === T.HEADERS) {
        const fields = this.decoder.decode(Buffer.from(p));
        const st = fields.find(([n]) => n === 'grpc-status');
        if (st && (flags & END_STREAM) !== 0) this.status.set(sid, st[1]);
      }
      b = b.subarray(9 + len);
    }
    this.pending = Buffer.from(b);
  }

  /**
   * Writes next() until `ms` have passed, `maxWrites` writes were made, the server closed
   * the connection or stop() says so; waits for the socket to drain when it is full (a
   * server that stops reading stops the flood). Yields to the event loop between writes,
   * so that this process's own probes stay on time. Returns the number of writes.
   */
  async flood(next: (i: number) => Buffer, ms: number, maxWrites: number, stop: () => boolean = () => false): Promise<number> {
    const end = Date.now() + ms;
    let i = 0;
    // Not past a GOAWAY: a write after the server closed fails (EPIPE), and Node then
    // drops what was still unread, the GOAWAY included.
    while (Date.now() < end && i < maxWrites && !this.closed && this.goaway === undefined && !stop()) {
      if (!this.socket.write(next(i++))) {
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, Math.max(0, end - Date.now()));
          function done(): void {
            clearTimeout(t);
            resolve();
          }
          this.socket.once('drain', done);
          this.socket.once('close', done);
        });
      } else await turn();
    }
    return i;
  }

  /** Waits up to ms for the server to close the socket. */
  async closedWithin(ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (!this.closed && Date.now() < end) await sleep(10);
    return this.closed;
  }

  close(): void {
    this.socket.destroy();
  }
}

/**
 * A flood the server should end with GOAWAY, kept up for the attack's length: each time the
 * server closes the connection, the attacker connects again (at most 500 times). The
 * outcome: the first GOAWAY code seen, whether every connection was closed by the server,
 * the connections used. (A GOAWAY can be lost on the client's side: if the server closes
 * between the client's last read and its next write, that write fails with EPIPE and Node
 * discards the unread bytes; so the code is that of the first connection that got one.)
 */
async function untilGoaway(address: string, next: (i: number) => Buffer, maxWrites = 1_000_000): Promise<Outcome> {
  const end = Date.now() + ATTACK_MS;
  let goaway: number | undefined;
  let closed = true;
  let writes = 0;
  let connections = 0;
  while (Date.now() < end && connections < 500) {
    connections++;
    const a = await Attacker.open(address);
    writes += await a.flood(next, end - Date.now(), maxWrites);
    const c = await a.closedWithin(2000);
    a.close();
    goaway ??= a.goaway;
    if (!c) {
      closed = false;
      break;
    }
  }
  return { goaway, closed, writes, connected: connections };
}

interface Outcome {
  goaway?: number;
  closed?: boolean;
  rst?: number;
  status?: string;
  connected?: number;
  writes?: number;
}

type Attack = (address: string) => Promise<Outcome>;

interface Report {
  outcome: Outcome;
  rssBefore: number;
  maxRss: number;
  maxLatency: number;
  slow: number;
  probes: number;
}

async function attackOne(name: string, address: string, pid: number, attack: Attack): Promise<Report> {
  const rssBefore = rssMiB(pid);
  const watch = new Watch(address, pid);
  let outcome: Outcome;
  try {
    outcome = await attack(address);
  } finally {
    // Some settling time after the attack: a daemon still catching up shows here.
    await sleep(500);
  }
  const w = await watch.stop();
  const r = { outcome, rssBefore, ...w };
  process.stdout.write(`hostile ${name}: ${JSON.stringify({ ...outcome, rss: `${rssBefore.toFixed(0)}→${w.maxRss.toFixed(0)} MiB`, maxLatencyMs: w.maxLatency, slow: w.slow, probes: w.probes })}\n`);
  return r;
}

/** Runs the attack against both daemons at once; asserts RSS and the other client's
 * latency for berthd; containerd's are printed for comparison, not asserted (containerd
 * 1.6 does not hold them in every case: a client that never reads grows its RSS by
 * ~300 MiB in 4 s). Returns both reports. */
async function both(name: string, attack: Attack): Promise<{ berthd: Report; containerd: Report }> {
  const [berthd, containerd] = await Promise.all([
    attackOne(`${name} berthd`, pair.berthd.address, pair.berthd.pid, attack),
    attackOne(`${name} containerd`, pair.containerd.address, pair.containerd.pid, attack),
  ]);
  for (const [d, r] of [['berthd', berthd]] as const) {
    expect(r.maxRss - r.rssBefore, `${name}: ${d}'s RSS grew from ${r.rssBefore.toFixed(0)} to ${r.maxRss.toFixed(0)} MiB`).toBeLessThan(RSS_SLACK_MIB);
    expect(r.slow, `${name}: ${d} left ${r.slow} of ${r.probes} Version calls unanswered for ${PROBE_LIMIT_MS} ms`).toBe(0);
    expect(r.probes, `${name}: ${d}: probes`).toBeGreaterThan(2);
  }
  return { berthd, containerd };
}

const TIMEOUT = ATTACK_MS + 25_000;

describe(`hostile clients (${SECONDS} s per attack)`, () => {
  it('endless CONTINUATION frames: GOAWAY ENHANCE_YOUR_CALM', async () => {
    const first = frame(T.HEADERS, 0, 1, block(callHeaders(VERSION)));
    // 1000 CONTINUATIONs of 1 byte each per write; the block never ends.
    const batch = Buffer.concat(Array.from({ length: 1000 }, () => frame(T.CONTINUATION, 0, 1, Buffer.from([0x00]))));
    const r = await both('continuation-flood', (address) => untilGoaway(address, (i) => (i === 0 ? first : batch)));
    expect(r.berthd.outcome).toMatchObject({ goaway: E.ENHANCE_YOUR_CALM, closed: true });
  }, TIMEOUT);

  it('HPACK bomb (a large -bin entry referenced ~150k times): the stream reset with FRAME_SIZE_ERROR, the connection kept', async () => {
    // The entry: literal with incremental indexing, new name, ~4 KB value (fits the 4096
    // table); then references to it (dynamic index 62, one byte each).
    const value = 'A'.repeat(4000);
    const lit = Buffer.concat([Buffer.from([0x40, 10]), Buffer.from('x-bomb-bin'), Buffer.from([0x7f, 0x80 | ((4000 - 127) % 128), (4000 - 127) >> 7]), Buffer.from(value)]);
    const refs = Buffer.alloc(150_000, 0x80 | 62);
    const headerBlock = Buffer.concat([block(callHeaders(VERSION)), lit, refs]);
    const bombFrames = (sid: number): Buffer => {
      const parts: Buffer[] = [];
      for (let off = 0; off < headerBlock.length; off += MAX_FRAME) {
        const last = off + MAX_FRAME >= headerBlock.length;
        parts.push(frame(off === 0 ? T.HEADERS : T.CONTINUATION, (off === 0 ? END_STREAM : 0) | (last ? END_HEADERS : 0), sid, headerBlock.subarray(off, off + MAX_FRAME)));
      }
      return Buffer.concat(parts);
    };
    const r = await both('hpack-bomb', async (address) => {
      const a = await Attacker.open(address);
      // A bomb every ~100 ms, on new streams, for the attack's length.
      let sid = 1;
      const end = Date.now() + ATTACK_MS;
      while (Date.now() < end && !a.closed) {
        a.socket.write(bombFrames(sid));
        sid += 2;
        await sleep(100);
      }
      await sleep(500);
      // The connection still serves an ordinary call.
      a.socket.write(Buffer.concat([frame(T.HEADERS, END_HEADERS, sid, block(callHeaders(VERSION))), frame(T.DATA, END_STREAM, sid, grpcMessage(Buffer.alloc(0)))]));
      const t = Date.now();
      while (!a.status.has(sid) && !a.closed && Date.now() - t < 2000) await sleep(10);
      a.close();
      return { rst: a.rst.get(1), goaway: a.goaway, status: a.status.get(sid), writes: (sid - 1) / 2 };
    });
    expect(r.berthd.outcome).toMatchObject({ rst: E.FRAME_SIZE_ERROR, goaway: undefined, status: '0' });
    expect(r.berthd.outcome.rst).toBe(r.containerd.outcome.rst);
  }, TIMEOUT);

  it('a unary call sending 1 MiB messages without END_STREAM: answered after the first message', async () => {
    // Version takes Empty: the message (1 MiB with its prefix) is an unknown bytes field
    // (15), which decoders skip.
    const fieldLen = 1024 * 1024 - 5 - 1 - 3;
    const exact = Buffer.concat([Buffer.from([(15 << 3) | 2]), varint(fieldLen), Buffer.alloc(fieldLen)]);
    const msg = grpcMessage(exact);
    const frames: Buffer[] = [];
    for (let off = 0; off < msg.length; off += MAX_FRAME) frames.push(frame(T.DATA, 0, 1, msg.subarray(off, off + MAX_FRAME)));
    const oneMessage = Buffer.concat(frames);
    const r = await both('unary-data-flood', async (address) => {
      const a = await Attacker.open(address);
      a.socket.write(frame(T.HEADERS, END_HEADERS, 1, block(callHeaders(VERSION))));
      const writes = await a.flood(() => oneMessage, ATTACK_MS, 100_000);
      const t = Date.now();
      while (!a.status.has(1) && !a.closed && Date.now() - t < 1000) await sleep(10);
      a.close();
      return { status: a.status.get(1), rst: a.rst.get(1), writes };
    });
    expect(msg.length).toBe(1024 * 1024);
    // This client ignores flow control; containerd (64 KiB initial stream window) resets
    // the stream with FLOW_CONTROL_ERROR before the message is in. berthd's window (4 MiB)
    // takes the whole first message, so it answers, then resets with NO_ERROR.
    expect(r.berthd.outcome.status).toBe('0');
  }, TIMEOUT);

  it('a client that never reads, sending calls: stops being read; others served', async () => {
    const r = await both('never-reads', async (address) => {
      const a = await Attacker.open(address, { read: false });
      // 50 calls per write (PINGs are the ping flood's case: here they would end the
      // connection with ENHANCE_YOUR_CALM before the socket fills).
      let sid = 1;
      const writes = await a.flood(
        () => {
          const parts: Buffer[] = [];
          for (let k = 0; k < 50; k++) {
            parts.push(frame(T.HEADERS, END_HEADERS, sid, block(callHeaders(VERSION))), frame(T.DATA, END_STREAM, sid, grpcMessage(Buffer.alloc(0))));
            sid += 2;
          }
          return Buffer.concat(parts);
        },
        ATTACK_MS,
        100_000,
        () => sid > 2 ** 30,
      );
      const closed = a.closed;
      a.close();
      return { writes, closed };
    });
    // The flood was stopped by the server not reading (its socket filled), long before its
    // bound, and the connection was not dropped.
    expect(r.berthd.outcome.writes).toBeLessThan(10_000);
    expect(r.berthd.outcome.closed).toBe(false);
  }, TIMEOUT);

  for (const [name, make, code] of [
    ['ping-flood', () => frame(T.PING, 0, 0, Buffer.alloc(8)), E.ENHANCE_YOUR_CALM],
    ['settings-flood', () => frame(T.SETTINGS, 0, 0, Buffer.alloc(0)), E.ENHANCE_YOUR_CALM],
  ] as const) {
    it(`${name}: GOAWAY ENHANCE_YOUR_CALM, connection closed`, async () => {
      const batch = Buffer.concat(Array.from({ length: 200 }, make));
      const r = await both(name, (address) => untilGoaway(address, () => batch));
      expect(r.berthd.outcome).toMatchObject({ goaway: code, closed: true });
    }, TIMEOUT);
  }

  it('rapid reset (HEADERS then RST_STREAM, over and over): GOAWAY ENHANCE_YOUR_CALM', async () => {
    // 20000 calls cancelled at once (no END_STREAM: each call waits for its request, so
    // the reset cancels it), in writes of 100.
    const pairs = Buffer.concat(Array.from({ length: 20_000 }, (_, k) => Buffer.concat([frame(T.HEADERS, END_HEADERS, 2 * k + 1, block(callHeaders(VERSION))), frame(T.RST_STREAM, 0, 2 * k + 1, u32(8))])));
    const per = pairs.length / 200;
    const r = await both('rapid-reset', (address) => untilGoaway(address, (i) => pairs.subarray(i * per, (i + 1) * per), 200));
    expect(r.berthd.outcome).toMatchObject({ goaway: E.ENHANCE_YOUR_CALM, closed: true });
  }, TIMEOUT);

  it('empty DATA frames on an open stream: GOAWAY ENHANCE_YOUR_CALM', async () => {
    const first = frame(T.HEADERS, END_HEADERS, 1, block(callHeaders(VERSION)));
    const batch = Buffer.concat(Array.from({ length: 500 }, () => frame(T.DATA, 0, 1, Buffer.alloc(0))));
    const r = await both('empty-data-flood', (address) => untilGoaway(address, (i) => (i === 0 ? first : batch)));
    expect(r.berthd.outcome).toMatchObject({ goaway: E.ENHANCE_YOUR_CALM, closed: true });
  }, TIMEOUT);

  it('1000 connections at once: all accepted, and answered', async () => {
    const r = await both('1000-connections', async (address) => {
      const sockets: net.Socket[] = [];
      const results = await Promise.all(
        Array.from(
          { length: 1000 },
          () =>
            new Promise<boolean>((resolve) => {
              const s = net.connect({ path: address });
              sockets.push(s);
              s.once('connect', () => resolve(true));
              s.once('error', () => resolve(false));
            }),
        ),
      );
      // Each one a working HTTP/2 connection: its SETTINGS answered.
      let answered = 0;
      await Promise.all(
        sockets.map(
          (s) =>
            new Promise<void>((resolve) => {
              if (s.destroyed) return resolve();
              const t = setTimeout(resolve, 5000);
              s.once('data', () => {
                answered++;
                clearTimeout(t);
                resolve();
              });
              s.write(Buffer.concat([PREFACE, frame(T.SETTINGS, 0, 0, Buffer.alloc(0))]));
            }),
        ),
      );
      for (const s of sockets) s.destroy();
      return { connected: results.filter(Boolean).length, status: String(answered) };
    });
    expect(r.berthd.outcome).toMatchObject({ connected: 1000, status: '1000' });
  }, TIMEOUT);
});

function varint(v: number): Buffer {
  const out: number[] = [];
  while (v >= 0x80) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return Buffer.from(out);
}
