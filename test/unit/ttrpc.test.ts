import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  AlreadyExistsError,
  BerthError,
  DataLossError, ResourceExhaustedError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  NotImplementedError,
  OutOfRangeError,
  UnavailableError,
  UnknownError,
  type ErrorClass,
} from '../../src/errdefs/errors';
import { grpcCodeOf } from '../../src/errdefs/grpc';
import {
  Code,
  TtrpcClient,
  TtrpcClosedError,
  TtrpcServer,
  TtrpcStatusError,
  statusOf,
  type CallContext,
  type TtrpcServerOptions,
} from '../../src/ttrpc';
import { CLASS_CODES, errorFromStatus } from '../../src/ttrpc/errors';
import { FrameDecoder, MESSAGE_LENGTH_MAX, encodeFrame, type MessageHeader } from '../../src/ttrpc/frame';
import { checkSameUser, checkSameUserBySocketTables, findPeerInSs } from '../../src/ttrpc/peercred';
import { nativeAvailable } from '../../src/native';
import { decodeRequest, decodeResponse, encodeRequest, encodeResponse } from '../../src/ttrpc/wire';
import type { ConnectResponse__Output } from '../../src/generated/types/containerd/task/v2/ConnectResponse';
import type { StateRequest__Output } from '../../src/generated/types/containerd/task/v2/StateRequest';
import type { StateResponse__Output } from '../../src/generated/types/containerd/task/v2/StateResponse';

const TASK = 'containerd.task.v2.Task';
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'ttrpc-unit-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let seq = 0;
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Started {
  server: TtrpcServer;
  sock: string;
  client: TtrpcClient;
  errors: Error[];
}

/** A server implementing a few Task methods, and a client connected to it. */
async function start(opts: TtrpcServerOptions = {}, handlers?: Parameters<TtrpcServer['register']>[1]): Promise<Started> {
  const errors: Error[] = [];
  const server = new TtrpcServer({ onError: (e) => errors.push(e), ...opts });
  server.register(
    TASK,
    handlers ?? {
      Connect: async (req: { id: string }) => ({ shim_pid: 1234, task_pid: 5678, version: `v-${req.id}` }),
      State: async (req: StateRequest__Output, ctx: CallContext) => {
        if (req.id === 'missing') throw new NotFoundError(`task ${req.id}`);
        if (req.id.startsWith('delay-')) await sleep(Number(req.id.slice(6)));
        return {
          id: req.id,
          exec_id: req.exec_id,
          bundle: JSON.stringify({ md: ctx.metadata, ns: ctx.namespace ?? null, dl: ctx.deadline ?? null }),
          pid: 42,
          status: 'RUNNING',
          exited_at: { seconds: 1700000000, nanos: 5 },
        };
      },
    },
  );
  const sock = path.join(dir, `s${++seq}.sock`);
  await server.listen(sock);
  const client = await TtrpcClient.connect(sock);
  cleanups.push(async () => {
    client.close();
    await server.close();
  });
  return { server, sock, client, errors };
}

/** A raw connection for sending hand-made frames and reading raw responses. */
async function rawConnect(sock: string): Promise<{ socket: net.Socket; frames: { header: MessageHeader; payload: Buffer }[]; next(): Promise<{ header: MessageHeader; payload: Buffer }> }> {
  const socket = net.connect(sock);
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  const frames: { header: MessageHeader; payload: Buffer }[] = [];
  let wake: (() => void) | undefined;
  const dec = new FrameDecoder({
    message: (header, payload) => {
      frames.push({ header, payload: Buffer.from(payload) });
      wake?.();
    },
    oversized: () => undefined,
  });
  socket.on('data', (b: Buffer) => dec.push(b));
  cleanups.push(() => void socket.destroy());
  return {
    socket,
    frames,
    async next() {
      while (frames.length === 0) {
        await new Promise<void>((r) => {
          wake = r;
          setTimeout(r, 2000);
        });
        if (frames.length === 0 && socket.destroyed) throw new Error('connection closed');
      }
      return frames.shift() as { header: MessageHeader; payload: Buffer };
    },
  };
}

describe('framing and wire messages', () => {
  it('encodes Connect{id:"w1"} on stream 3 exactly as containerd does (reference §10.4)', () => {
    const payload = Buffer.from('0a027731', 'hex'); // ConnectRequest{id:"w1"}
    const body = encodeRequest({ service: TASK, method: 'Connect', payload, timeoutNano: 0, metadata: [] });
    const frame = encodeFrame(3, 1, body);
    const want = Buffer.concat([
      Buffer.from('000000280000000301' + '00', 'hex'),
      Buffer.from('0a17', 'hex'),
      Buffer.from(TASK),
      Buffer.from('1207', 'hex'),
      Buffer.from('Connect'),
      Buffer.from('1a04', 'hex'),
      payload,
    ]);
    expect(frame.equals(want)).toBe(true);
  });

  it('decodes the observed Connect response (payload only, no status on success)', () => {
    const res = decodeResponse(Buffer.from('120808b5910110fa9101', 'hex'));
    expect(res.status).toBeUndefined();
    expect(Buffer.from(res.payload).toString('hex')).toBe('08b5910110fa9101');
    expect(Buffer.from(encodeResponse({ payload: res.payload })).toString('hex')).toBe('120808b5910110fa9101');
  });

  it('round-trips requests with metadata and a negative timeout, and statuses with details', () => {
    const req = {
      service: 's',
      method: 'm',
      payload: Buffer.from([1, 2, 3]),
      timeoutNano: -5,
      metadata: [
        { key: 'a', value: '1' },
        { key: 'a', value: '2' },
      ],
    };
    const back = decodeRequest(encodeRequest(req));
    expect({ ...back, payload: Buffer.from(back.payload) }).toEqual(req);
    const res = decodeResponse(encodeResponse({ status: { code: 5, message: 'x', details: [{ typeUrl: 't', value: Buffer.from([9]) }] }, payload: new Uint8Array(0) }));
    expect(res.status?.code).toBe(5);
    expect(res.status?.message).toBe('x');
    expect(res.status?.details[0]?.typeUrl).toBe('t');
  });

  it('rejects truncated envelopes instead of guessing', () => {
    const good = encodeRequest({ service: 'svc', method: 'm', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] });
    expect(() => decodeRequest(good.subarray(0, good.length - 1))).toThrow();
  });

  it('reassembles frames split at every byte boundary and several per chunk', () => {
    const got: [number, string][] = [];
    const dec = new FrameDecoder({ message: (h, p) => got.push([h.streamId, p.toString()]), oversized: () => undefined });
    const stream = Buffer.concat([encodeFrame(1, 1, Buffer.from('hello')), encodeFrame(3, 1, Buffer.alloc(0)), encodeFrame(5, 2, Buffer.from('world!'))]);
    for (let i = 0; i < stream.length; i++) dec.push(stream.subarray(i, i + 1));
    dec.push(stream);
    expect(got).toEqual([
      [1, 'hello'],
      [3, ''],
      [5, 'world!'],
      [1, 'hello'],
      [3, ''],
      [5, 'world!'],
    ]);
    expect(dec.idle).toBe(true);
  });

  it('skips oversized payloads without buffering them and carries on', () => {
    const seen: string[] = [];
    const dec = new FrameDecoder({ message: (h, p) => seen.push(`msg ${h.streamId} ${p.length}`), oversized: (h) => seen.push(`big ${h.streamId} ${h.length}`) });
    const header = Buffer.alloc(10);
    header.writeUInt32BE(MESSAGE_LENGTH_MAX + 1, 0);
    header.writeUInt32BE(7, 4);
    header[8] = 1;
    dec.push(header);
    for (let left = MESSAGE_LENGTH_MAX + 1; left > 0; left -= 65536) dec.push(Buffer.alloc(Math.min(65536, left)));
    dec.push(encodeFrame(9, 1, Buffer.from('ok')));
    expect(seen).toEqual([`big 7 ${MESSAGE_LENGTH_MAX + 1}`, 'msg 9 2']);
  });
});

describe('error mapping', () => {
  it('uses the same class → code table as the gRPC adapter', () => {
    const samples: Record<ErrorClass, BerthError> = {
      'invalid argument': new InvalidArgumentError('x'),
      'not found': new NotFoundError('x'),
      'already exists': new AlreadyExistsError('x'),
      'failed precondition': new FailedPreconditionError('x'),
      unavailable: new UnavailableError('x'),
      'not implemented': new NotImplementedError('x'),
      'out of range': new OutOfRangeError('x'),
      'data loss': new DataLossError('x'),
      'resource exhausted': new ResourceExhaustedError('x'),
      canceled: new TtrpcStatusError(Code.Canceled, 'x'),
      'deadline exceeded': new TtrpcStatusError(Code.DeadlineExceeded, 'x'),
      unknown: new UnknownError('x'),
    };
    for (const [cls, err] of Object.entries(samples) as [ErrorClass, BerthError][]) {
      expect(err.errorClass).toBe(cls);
      expect(CLASS_CODES[cls]).toBe(grpcCodeOf(err));
    }
  });

  it('maps codes back like errdefs.FromGRPC (message rebased on the class)', () => {
    const nf = errorFromStatus(5, 'process already finished: not found');
    expect(nf).toBeInstanceOf(NotFoundError);
    expect(nf.message).toBe('process already finished: not found');
    const nf2 = errorFromStatus(5, 'task t1 not found');
    expect(nf2.message).toBe('task t1 not found: not found');
    expect(statusOf(nf2)).toEqual({ code: 5, message: 'task t1 not found' });
    expect(errorFromStatus(3, 'bad')).toBeInstanceOf(InvalidArgumentError);
    expect(errorFromStatus(6, 'x')).toBeInstanceOf(AlreadyExistsError);
    expect(errorFromStatus(9, 'x')).toBeInstanceOf(FailedPreconditionError);
    expect(errorFromStatus(14, 'x')).toBeInstanceOf(UnavailableError);
    expect(errorFromStatus(12, 'method X')).toBeInstanceOf(NotImplementedError);
    const unk = errorFromStatus(2, 'cannot delete a running process');
    expect(unk).toBeInstanceOf(UnknownError);
    expect(unk.message).toBe('cannot delete a running process');
    const internal = errorFromStatus(13, 'boom');
    expect(internal).toBeInstanceOf(TtrpcStatusError);
    expect((internal as TtrpcStatusError).code).toBe(13);
    expect(internal.errorClass).toBe('unknown');
    expect(errorFromStatus(4, 'slow').errorClass).toBe('deadline exceeded');
  });
});

describe('TtrpcServer + TtrpcClient', () => {
  it('round-trips typed calls', async () => {
    const { client } = await start();
    const c = await client.call<ConnectResponse__Output>(TASK, 'Connect', { id: 'x1' });
    expect(c).toEqual({ shim_pid: 1234, task_pid: 5678, version: 'v-x1' });
    const s = await client.call<StateResponse__Output>(TASK, 'State', { id: 'a', exec_id: 'e' });
    expect(s).toMatchObject({ id: 'a', exec_id: 'e', pid: 42, status: 'RUNNING', exited_at: { seconds: 1700000000, nanos: 5 } });
  });

  it('creates the socket file 0600 and removes it on close', async () => {
    const { server, sock, client } = await start();
    expect(fs.statSync(sock).mode & 0o777).toBe(0o600);
    expect(fs.statSync(sock).isSocket()).toBe(true);
    expect(fs.readdirSync(path.dirname(sock)).filter((n) => n.startsWith('.ttrpc-'))).toEqual([]);
    client.close();
    await server.close();
    expect(fs.existsSync(sock)).toBe(false);
  });

  it('refuses to listen over an existing file, and replaces a stale socket only when asked', async () => {
    const { sock } = await start();
    const other = new TtrpcServer();
    await expect(other.listen(sock)).rejects.toThrow(/EEXIST/);
    await expect(other.listen(sock, { removeStale: true })).rejects.toThrow(/address already in use/);
    const stale = path.join(dir, 'stale.sock');
    const dead = net.createServer();
    await new Promise<void>((r) => dead.listen(stale, r));
    fs.linkSync(stale, stale + '.keep'); // keep the file after the close unlinks it
    await new Promise<void>((r) => dead.close(() => r()));
    fs.renameSync(stale + '.keep', stale);
    await other.listen(stale, { removeStale: true });
    await other.close();
  });

  it('multiplexes 100 concurrent calls with out-of-order completion', async () => {
    const { client } = await start();
    const ids = Array.from({ length: 100 }, (_, i) => `delay-${(i * 37) % 50}`);
    const results = await Promise.all(ids.map((id) => client.call<StateResponse__Output>(TASK, 'State', { id, exec_id: id })));
    expect(results.map((r) => r.exec_id)).toEqual(ids);
  });

  it('sends odd, increasing stream ids', async () => {
    const seen: number[] = [];
    const sock = path.join(dir, `raw${++seq}.sock`);
    const raw = net.createServer((s) => {
      const dec = new FrameDecoder({
        message: (h) => {
          seen.push(h.streamId);
          s.write(encodeFrame(h.streamId, 2, encodeResponse({ payload: new Uint8Array(0) })));
        },
        oversized: () => undefined,
      });
      s.on('data', (b: Buffer) => dec.push(b));
    });
    await new Promise<void>((r) => raw.listen(sock, r));
    const client = await TtrpcClient.connect(sock);
    cleanups.push(() => {
      client.close();
      raw.close();
    });
    for (let i = 0; i < 3; i++) await client.call(TASK, 'Connect', { id: 'x' });
    await Promise.all([client.call(TASK, 'Connect', { id: 'x' }), client.call(TASK, 'Connect', { id: 'y' })]);
    expect(seen).toEqual([1, 3, 5, 7, 9]);
  });

  it('maps handler errors to status codes and back to classes', async () => {
    const { client } = await start({}, {
      State: async (req: StateRequest__Output) => {
        switch (req.id) {
          case 'nf':
            throw new NotFoundError('task nf');
          case 'ae':
            throw new AlreadyExistsError('process ae');
          case 'inv':
            throw new InvalidArgumentError('id is bad');
          case 'fp':
            throw new FailedPreconditionError('not running');
          case 'unav':
            throw new UnavailableError('busy');
          case 'ni':
            throw new NotImplementedError('no pause');
          case 'plain':
            throw new Error('cannot delete a running process');
          case 'exhausted':
            throw new TtrpcStatusError(Code.ResourceExhausted, 'too much');
          default:
            return {};
        }
      },
    });
    const cases: [string, new (...a: never[]) => Error, number, string][] = [
      ['nf', NotFoundError, 5, 'task nf: not found'],
      ['ae', AlreadyExistsError, 6, 'process ae: already exists'],
      ['inv', InvalidArgumentError, 3, 'id is bad: invalid argument'],
      ['fp', FailedPreconditionError, 9, 'not running: failed precondition'],
      ['unav', UnavailableError, 14, 'busy: unavailable'],
      ['ni', NotImplementedError, 12, 'no pause: not implemented'],
      ['plain', UnknownError, 2, 'cannot delete a running process'],
      ['exhausted', TtrpcStatusError, 8, 'too much'],
    ];
    for (const [id, cls, code, message] of cases) {
      const err = await client.call(TASK, 'State', { id }).catch((e: unknown) => e);
      expect(err, id).toBeInstanceOf(cls);
      expect(statusOf(err), id).toEqual({ code, message });
      expect((err as Error).message, id).toBe(message);
    }
  });

  it('answers unknown services and methods with Unimplemented, worded as Go ttrpc', async () => {
    const { client } = await start();
    const svc = await client.callRaw('no.such.Service', 'Foo', new Uint8Array(0)).catch((e: unknown) => e);
    expect(svc).toBeInstanceOf(NotImplementedError);
    expect(statusOf(svc)).toEqual({ code: 12, message: 'service no.such.Service' });
    const unregistered = await client.call(TASK, 'Pause', { id: 'x' }).catch((e: unknown) => e);
    expect(statusOf(unregistered)).toEqual({ code: 12, message: 'method Pause' });
    const bogus = await client.callRaw(TASK, 'Bogus', new Uint8Array(0)).catch((e: unknown) => e);
    expect(statusOf(bogus)).toEqual({ code: 12, message: 'method Bogus' });
    // The client refuses methods its registry does not know before sending anything.
    await expect(client.call(TASK, 'Bogus', {})).rejects.toThrow(/no unary method Bogus/);
  });

  it('rejects registrations the registry cannot type', () => {
    const s = new TtrpcServer();
    expect(() => s.register('no.such.Service', {})).toThrow();
    expect(() => s.register(TASK, { Bogus: async () => ({}) })).toThrow(/no unary method Bogus/);
    s.register(TASK, {});
    expect(() => s.register(TASK, {})).toThrow(/duplicate service/);
  });

  it('answers an undecodable payload with Internal, a bad envelope and an even stream id with InvalidArgument', async () => {
    const { sock } = await start();
    const raw = await rawConnect(sock);
    // StateRequest field 1 (string) claiming 100 bytes that are not there.
    raw.socket.write(encodeFrame(1, 1, encodeRequest({ service: TASK, method: 'State', payload: Buffer.from([0x0a, 100, 0x41]), timeoutNano: 0, metadata: [] })));
    let f = await raw.next();
    expect(f.header).toMatchObject({ streamId: 1, type: 2 });
    expect(decodeResponse(f.payload).status?.code).toBe(Code.Internal);
    expect(decodeResponse(f.payload).status?.message).toMatch(/^ttrpc: error unmarshalling payload: /);

    raw.socket.write(encodeFrame(3, 1, Buffer.from([0x0a, 50, 0x41])));
    f = await raw.next();
    expect(f.header.streamId).toBe(3);
    expect(decodeResponse(f.payload).status?.code).toBe(Code.InvalidArgument);
    expect(decodeResponse(f.payload).status?.message).toMatch(/^unmarshal request error: /);

    raw.socket.write(encodeFrame(4, 1, encodeRequest({ service: TASK, method: 'Connect', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] })));
    f = await raw.next();
    expect(f.header.streamId).toBe(4);
    expect(decodeResponse(f.payload).status).toMatchObject({ code: Code.InvalidArgument, message: 'StreamID must be odd for client initiated streams' });

    // Responses sent to a server are ignored; the connection still works.
    raw.socket.write(encodeFrame(5, 2, Buffer.alloc(3)));
    raw.socket.write(encodeFrame(7, 1, encodeRequest({ service: TASK, method: 'Connect', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] })));
    f = await raw.next();
    expect(f.header.streamId).toBe(7);
    expect(decodeResponse(f.payload).status).toBeUndefined();
  });

  it('passes metadata, the namespace and the deadline to handlers', async () => {
    const { client } = await start();
    const before = Date.now();
    const r = await client.call<StateResponse__Output>(
      TASK,
      'State',
      { id: 'm' },
      { metadata: { 'X-Trace': ['a', 'b'], single: 'v' }, namespace: 'ns1', timeoutMs: 3000 },
    );
    const seen = JSON.parse(r.bundle) as { md: Record<string, string[]>; ns: string | null; dl: number | null };
    expect(seen.md).toEqual({ 'x-trace': ['a', 'b'], single: ['v'], 'containerd-namespace-ttrpc': ['ns1'] });
    expect(seen.ns).toBe('ns1');
    expect(seen.dl).toBeGreaterThanOrEqual(before + 2900);
    expect(seen.dl).toBeLessThanOrEqual(Date.now() + 3000);
    const plain = await client.call<StateResponse__Output>(TASK, 'State', { id: 'm' });
    expect(JSON.parse(plain.bundle)).toEqual({ md: {}, ns: null, dl: null });
    // An explicit containerd-namespace-ttrpc metadata value wins over the shorthand.
    const both = await client.call<StateResponse__Output>(TASK, 'State', { id: 'm' }, { metadata: { 'containerd-namespace-ttrpc': 'a' }, namespace: 'b' });
    expect(JSON.parse(both.bundle).ns).toBe('a');
  });

  it('refuses oversized requests locally with ResourceExhausted', async () => {
    const { client } = await start();
    const err = await client.call(TASK, 'State', { id: 'x'.repeat(MESSAGE_LENGTH_MAX) }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TtrpcStatusError);
    expect((err as TtrpcStatusError).code).toBe(Code.ResourceExhausted);
    expect((err as Error).message).toMatch(/exceed maximum message size of 4194304/);
    // A request just under the limit goes through.
    const ok = await client.call<StateResponse__Output>(TASK, 'State', { id: 'y'.repeat(MESSAGE_LENGTH_MAX - 1024) });
    expect(ok.id.length).toBe(MESSAGE_LENGTH_MAX - 1024);
  });

  it('server discards an oversized message, answers ResourceExhausted and keeps serving', async () => {
    const { sock } = await start();
    const raw = await rawConnect(sock);
    const header = Buffer.alloc(10);
    header.writeUInt32BE(MESSAGE_LENGTH_MAX + 10, 0);
    header.writeUInt32BE(11, 4);
    header[8] = 1;
    raw.socket.write(header);
    raw.socket.write(Buffer.alloc(MESSAGE_LENGTH_MAX + 10));
    let f = await raw.next();
    expect(f.header.streamId).toBe(11);
    expect(decodeResponse(f.payload).status).toMatchObject({ code: Code.ResourceExhausted, message: `message length ${MESSAGE_LENGTH_MAX + 10} exceed maximum message size of ${MESSAGE_LENGTH_MAX}` });
    raw.socket.write(encodeFrame(13, 1, encodeRequest({ service: TASK, method: 'Connect', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] })));
    f = await raw.next();
    expect(f.header.streamId).toBe(13);
    expect(decodeResponse(f.payload).status).toBeUndefined();
  });

  it('a response over the limit becomes ResourceExhausted on the server', async () => {
    const { client } = await start({}, { State: async () => ({ bundle: 'z'.repeat(MESSAGE_LENGTH_MAX + 1) }) });
    const err = await client.call(TASK, 'State', { id: 'x' }).catch((e: unknown) => e);
    expect(statusOf(err)?.code).toBe(Code.ResourceExhausted);
  });

  it('client fails just the call whose response is oversized', async () => {
    const sock = path.join(dir, `big${++seq}.sock`);
    const raw = net.createServer((s) => {
      const dec = new FrameDecoder({
        message: (h) => {
          if (h.streamId === 1) {
            const hdr = Buffer.alloc(10);
            hdr.writeUInt32BE(MESSAGE_LENGTH_MAX + 1, 0);
            hdr.writeUInt32BE(1, 4);
            hdr[8] = 2;
            s.write(hdr);
            s.write(Buffer.alloc(MESSAGE_LENGTH_MAX + 1));
          } else {
            s.write(encodeFrame(h.streamId, 2, encodeResponse({ payload: Buffer.from('0a0161', 'hex') })));
          }
        },
        oversized: () => undefined,
      });
      s.on('data', (b: Buffer) => dec.push(b));
    });
    await new Promise<void>((r) => raw.listen(sock, r));
    const client = await TtrpcClient.connect(sock);
    cleanups.push(() => {
      client.close();
      raw.close();
    });
    const big = client.call(TASK, 'State', { id: 'x' }).catch((e: unknown) => e);
    const small = client.call<StateResponse__Output>(TASK, 'State', { id: 'y' });
    const err = await big;
    expect((err as TtrpcStatusError).code).toBe(Code.ResourceExhausted);
    expect((await small).id).toBe('a');
  });

  it('times out locally with DeadlineExceeded; the server sees the deadline and its signal aborts', async () => {
    let aborted: Promise<unknown> | undefined;
    const { client } = await start({}, {
      State: (_req: StateRequest__Output, ctx: CallContext) => {
        aborted = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason)));
        return new Promise(() => undefined); // never answers
      },
      Connect: async () => ({ shim_pid: 1 }),
    });
    const t0 = Date.now();
    const err = await client.call(TASK, 'State', { id: 'x' }, { timeoutMs: 150 }).catch((e: unknown) => e);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(err).toBeInstanceOf(TtrpcStatusError);
    expect((err as TtrpcStatusError).code).toBe(Code.DeadlineExceeded);
    expect((err as BerthError).errorClass).toBe('deadline exceeded');
    expect(String(await aborted)).toMatch(/deadline exceeded/);
    // The connection is still usable.
    expect((await client.call<ConnectResponse__Output>(TASK, 'Connect', { id: 'x' })).shim_pid).toBe(1);
  });

  it('cancels a call through an AbortSignal', async () => {
    const { client } = await start({}, { State: () => new Promise(() => undefined) });
    const ac = new AbortController();
    const p = client.call(TASK, 'State', { id: 'x' }, { signal: ac.signal }).catch((e: unknown) => e);
    ac.abort();
    const err = await p;
    expect((err as TtrpcStatusError).code).toBe(Code.Canceled);
  });

  it('rejects every pending call when the peer drops mid-call', async () => {
    const { client, server } = await start({}, { State: () => new Promise(() => undefined) });
    const pending = Array.from({ length: 5 }, () => client.call(TASK, 'State', { id: 'x' }).catch((e: unknown) => e));
    await sleep(50);
    await server.close(); // drops connections with calls in flight
    for (const err of await Promise.all(pending)) {
      expect(err).toBeInstanceOf(TtrpcClosedError);
      expect(err).toBeInstanceOf(UnavailableError);
    }
    await client.waitClosed();
    expect(client.closed).toBe(true);
    await expect(client.call(TASK, 'Connect', { id: 'x' })).rejects.toBeInstanceOf(TtrpcClosedError);
  });

  it('close() fails pending calls with "ttrpc: closed"', async () => {
    const { client } = await start({}, { State: () => new Promise(() => undefined) });
    const p = client.call(TASK, 'State', { id: 'x' }).catch((e: unknown) => e);
    await sleep(20);
    client.close();
    const err = await p;
    expect(err).toBeInstanceOf(TtrpcClosedError);
    expect((err as Error).message).toBe('ttrpc: closed');
  });

  it('server aborts handler signals when the client goes away', async () => {
    let reason: Promise<unknown> | undefined;
    const { client } = await start({}, {
      State: (_r: StateRequest__Output, ctx: CallContext) => {
        reason = new Promise((resolve) => ctx.signal.addEventListener('abort', () => resolve(ctx.signal.reason)));
        return new Promise(() => undefined);
      },
    });
    void client.call(TASK, 'State', { id: 'x' }).catch(() => undefined);
    while (!reason) await sleep(5);
    client.close();
    expect(String(await reason)).toMatch(/connection closed/);
  });

  it('fails to connect with a clear error', async () => {
    const err = await TtrpcClient.connect(path.join(dir, 'nobody-here.sock')).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TtrpcClosedError);
    expect((err as Error).message).toMatch(/ENOENT/);
  });

  it('shutdown finishes in-flight calls, then stops; new connections are refused', async () => {
    let release: (() => void) | undefined;
    const { client, server, sock } = await start({}, {
      State: () =>
        new Promise((resolve) => {
          release = () => resolve({ id: 'done' });
        }),
    });
    const inflight = client.call<StateResponse__Output>(TASK, 'State', { id: 'x' });
    while (!release) await sleep(5);
    const stopping = server.shutdown(5000);
    await sleep(20);
    expect(fs.existsSync(sock)).toBe(false);
    await expect(TtrpcClient.connect(sock, { timeoutMs: 500 })).rejects.toBeInstanceOf(TtrpcClosedError);
    release();
    expect((await inflight).id).toBe('done');
    await stopping;
    await client.waitClosed();
    expect(server.connectionCount).toBe(0);
  });

  it('shutdown drops connections still busy after the grace period', async () => {
    const { client, server } = await start({}, { State: () => new Promise(() => undefined) });
    const p = client.call(TASK, 'State', { id: 'x' }).catch((e: unknown) => e);
    await sleep(20);
    await server.shutdown(100);
    expect(await p).toBeInstanceOf(TtrpcClosedError);
  });

  it('serves an already-connected socket', async () => {
    const server = new TtrpcServer({ peerCheck: 'off' });
    server.register(TASK, { Connect: async () => ({ shim_pid: 7 }) });
    const [a, b] = await socketPair();
    server.serveSocket(a);
    const client = new TtrpcClient(b);
    cleanups.push(async () => {
      client.close();
      await server.close();
    });
    expect((await client.call<ConnectResponse__Output>(TASK, 'Connect', {})).shim_pid).toBe(7);
  });
});

describe('inherited listener', () => {
  it('serves on a listening socket passed as fd 3 (how a shim re-exec hands it over)', async () => {
    const sock = path.join(dir, `fd${++seq}.sock`);
    const l = net.createServer();
    await new Promise<void>((r) => l.listen(sock, r));
    const fd = (l as unknown as { _handle: { fd: number } })._handle.fd;
    // Our net.Server would accept too: hand the socket over, then stop ours (its close
    // unlinks the path, so keep a second name for the same socket).
    fs.linkSync(sock, sock + '.2');
    const script = `
      const { TtrpcServer } = require('./src/ttrpc');
      const s = new TtrpcServer();
      s.register('containerd.task.v2.Task', { Connect: async () => ({ shim_pid: process.pid }) });
      s.listen({ fd: 3 }).then(() => console.log('ready'));
      setTimeout(() => process.exit(0), 20000);
    `;
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script], { cwd: path.join(__dirname, '..', '..'), stdio: ['ignore', 'pipe', 'inherit', fd] });
    cleanups.push(() => void child.kill('SIGKILL'));
    await new Promise<void>((resolve, reject) => {
      child.stdout?.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      child.once('exit', (code) => reject(new Error(`child exited ${code}`)));
    });
    await new Promise<void>((r) => l.close(() => r()));
    const client = await TtrpcClient.connect(sock + '.2');
    cleanups.push(() => client.close());
    const r = await client.call<ConnectResponse__Output>(TASK, 'Connect', {});
    expect(r.shim_pid).toBe(child.pid);
  });
});

describe('peer credentials', () => {
  it('parses ss output: the line whose peer is our socket names the peer holders', () => {
    const out = [
      'u_str ESTAB 0      0       /run/x y.sock 139750            * 139749 users:(("node",pid=21414,fd=21))',
      'u_str ESTAB 0      0                  * 139749    /run/x y.sock 139750 users:(("containerd-shim",pid=777,fd=12),("containerd-shim",pid=777,fd=13),("child",pid=778,fd=3))',
      'u_str LISTEN 0 511 /run/x.sock 139748 * 0 users:(("node",pid=21414,fd=20))',
    ].join('\n');
    expect(findPeerInSs(out, 139750)).toEqual({ peerInode: 139749, pids: [777, 778] });
    expect(findPeerInSs(out, 139749)).toEqual({ peerInode: 139750, pids: [21414] });
    expect(findPeerInSs(out, 1)).toBeUndefined();
  });

  it('accepts a same-user peer (default check)', async () => {
    const { client, errors } = await start();
    expect((await client.call<ConnectResponse__Output>(TASK, 'Connect', { id: 'p' })).shim_pid).toBe(1234);
    expect(errors).toEqual([]);
  });

  it('a refusing check closes the connection before any request is read', async () => {
    const refusals: Error[] = [];
    const { client } = await start({ peerCheck: async () => new Error('nope'), onError: (e) => refusals.push(e) });
    const err = await client.call(TASK, 'Connect', { id: 'p' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TtrpcClosedError);
    expect(refusals.map((e) => e.message)).toEqual(['nope']);
  });

  it.skipIf(process.getuid?.() !== 0)('refuses a peer running as another user (root only: connects as nobody)', async () => {
    const refusals: Error[] = [];
    const { sock } = await start({ socketMode: 0o666, onError: (e) => refusals.push(e) });
    fs.chmodSync(dir, 0o755);
    // A child running as nobody connects and sends a Connect request; the server must hang up without answering.
    const script = `
      const s = require('net').connect(${JSON.stringify(sock)});
      let got = 0;
      s.on('data', (b) => { got += b.length; });
      s.on('connect', () => s.write(Buffer.from(${JSON.stringify(encodeFrame(1, 1, encodeRequest({ service: TASK, method: 'Connect', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] })).toString('hex'))}, 'hex')));
      s.on('close', () => { console.log('closed ' + got); process.exit(0); });
      s.on('error', (e) => { console.log('error ' + e.code); });
      setTimeout(() => { console.log('timeout ' + got); process.exit(0); }, 5000);
    `;
    const out = await new Promise<string>((resolve) => {
      const child = spawn(process.execPath, ['-e', script], { uid: 65534, gid: 65534, stdio: ['ignore', 'pipe', 'inherit'] });
      let text = '';
      child.stdout.on('data', (b: Buffer) => (text += b.toString()));
      child.on('close', () => resolve(text.trim()));
    });
    fs.chmodSync(dir, 0o700);
    expect(out).toMatch(/^(error (ECONNRESET|EPIPE)\n)?closed 0$/); // hung up without answering (RST: request unread; EPIPE: before it was written)
    expect(refusals.length).toBe(1);
    expect(refusals[0]?.message).toMatch(/invalid credentials: peer pid \d+ uid 65534 gid 65534/);
  });

  it('without the native addon (socket tables), an unknown peer is reported instead of let through', async () => {
    const [a, b] = await socketPair();
    b.destroy();
    await sleep(20);
    const err = await checkSameUserBySocketTables(a);
    a.destroy();
    expect(err?.message).toMatch(/cannot determine peer credentials/);
  });

  it.skipIf(!nativeAvailable())('with SO_PEERCRED (native addon), a same-user peer passes', async () => {
    const [a, b] = await socketPair();
    expect((await checkSameUser(a))?.message).toBeUndefined();
    a.destroy();
    b.destroy();
  });
});

describe('startup cost', () => {
  it('loads without @grpc/grpc-js or @grpc/proto-loader', () => {
    const r = spawnSync(
      process.execPath,
      [
        '--require',
        'tsx/cjs',
        '-e',
        "require('./src/ttrpc'); console.log(JSON.stringify(Object.keys(require.cache).filter((k) => k.includes('node_modules')).map((k) => k.split('node_modules/')[1].split('/').slice(0, 2).join('/'))))",
      ],
      { cwd: path.join(__dirname, '..', '..'), encoding: 'utf8' },
    );
    expect(r.status, r.stderr).toBe(0);
    const mods = new Set(JSON.parse(r.stdout.trim().split('\n').pop() as string) as string[]);
    const pkgs = [...mods].filter((m) => !m.startsWith('tsx/') && !m.startsWith('get-tsconfig') && !m.startsWith('resolve-pkg-maps') && !m.startsWith('esbuild'));
    expect(pkgs.some((m) => m.startsWith('@grpc/'))).toBe(false);
    expect(pkgs.some((m) => m.startsWith('protobufjs/'))).toBe(true);
  });
});

function socketPair(): Promise<[net.Socket, net.Socket]> {
  return new Promise((resolve, reject) => {
    const p = path.join(dir, `pair${++seq}.sock`);
    const srv = net.createServer((a) => {
      srv.close();
      resolve([a, b]);
    });
    srv.on('error', reject);
    let b: net.Socket;
    srv.listen(p, () => {
      b = net.connect(p);
    });
  });
}
