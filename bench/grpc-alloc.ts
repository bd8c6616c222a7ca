// Allocation per gRPC call in berthd's own transport (a script, not a test): drives
// src/grpc in-process with the frames a grpc-go client sends for unary Version calls
// (HPACK-indexed headers after the first request, as grpc-go's encoder does; a PING and
// a WINDOW_UPDATE every few requests), through a socket stand-in, and counts what V8's
// GC reports (--trace-gc-nvp) over the measured calls: bytes allocated, bytes surviving a
// scavenge, bytes promoted, scavenges and mark-compacts per 10k calls, and CPU µs/call.
// No sockets, no other process: what it measures is src/grpc + the codec + the handler.
//
//   npx tsx bench/grpc-alloc.ts [--calls 100000] [--batch 100] [--v8 "--optimize-for-size ..."]
//
// --batch is how many requests arrive in one read (1: one call at a time, as 1 × 1;
// 100: a connection with 100 calls in flight, as 10 × 100). --v8 defaults to berthd's flags.
import { spawnSync } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { writeFileSync } from 'node:fs';
import * as inspector from 'node:inspector';
import type * as net from 'node:net';
import { parseArgs } from 'node:util';
import { DAEMON_V8_FLAGS } from '../src/daemon/v8-flags';
import { frame } from '../test/unit/h2-raw';

const { values } = parseArgs({
  options: {
    calls: { type: 'string', default: '100000' },
    batch: { type: 'string', default: '100' },
    v8: { type: 'string' },
    child: { type: 'boolean', default: false },
    /** Writes a sampled allocation profile (.heapprofile, collected objects included) of the measured calls. */
    'heap-sample': { type: 'string' },
  },
});
const CALLS = Number(values.calls);
const BATCH = Number(values.batch);


/** A literal HPACK string (no Huffman). */
function str(s: string): Buffer {
  if (s.length >= 127) throw new Error('long string');
  return Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
}

/** The first request's block: fields added to the dynamic table (literal with incremental
 * indexing, static name index where there is one), as grpc-go sends them. */
const FIRST_BLOCK = Buffer.concat([
  Buffer.from([0x83, 0x86]), // :method POST, :scheme http
  Buffer.from([0x44]), str('/containerd.services.version.v1.Version/Version'), // :path
  Buffer.from([0x41]), str('localhost'), // :authority
  Buffer.from([0x5f]), str('application/grpc'), // content-type (static 31)
  Buffer.from([0x7a]), str('grpc-go/1.53.0'), // user-agent (static 58)
  Buffer.from([0x40]), str('te'), str('trailers'),
]);
/** Later requests: every field indexed (dynamic table newest first: te 62 … :path 66). */
const NEXT_BLOCK = Buffer.from([0x83, 0x86, 0x80 | 66, 0x80 | 65, 0x80 | 64, 0x80 | 63, 0x80 | 62]);
const EMPTY_MESSAGE = Buffer.from([0, 0, 0, 0, 0]);

function request(sid: number, first: boolean): Buffer {
  return Buffer.concat([frame(1, 0x4, sid, first ? FIRST_BLOCK : NEXT_BLOCK), frame(0, 0x1, sid, EMPTY_MESSAGE)]);
}

/** What Http2ServerConnection uses of a net.Socket. */
class FakeSocket extends EventEmitter {
  written = 0;
  writableLength = 0;
  write(d: Buffer): boolean {
    this.written += d.length;
    return true;
  }
  pause(): this {
    return this;
  }
  resume(): this {
    return this;
  }
  end(): this {
    return this;
  }
  destroy(): this {
    this.emit('close');
    return this;
  }
}

/** Sampled allocations, collected objects included: where the bytes are allocated. */
async function startHeapSampling(): Promise<inspector.Session> {
  const session = new inspector.Session();
  session.connect();
  const post = (m: string, p?: object): Promise<unknown> => new Promise((res, rej) => session.post(m, p, (e, r) => (e ? rej(e) : res(r))));
  await post('HeapProfiler.enable');
  await post('HeapProfiler.startSampling', { samplingInterval: 1024, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true });
  return session;
}

async function stopHeapSampling(session: inspector.Session, file: string): Promise<void> {
  const r = await new Promise<{ profile: unknown }>((res, rej) => session.post('HeapProfiler.stopSampling', (e, v) => (e ? rej(e) : res(v as { profile: unknown }))));
  writeFileSync(file, JSON.stringify(r.profile));
  session.disconnect();
}

async function child(): Promise<void> {
  // The built code (dist/, what bin/berthd runs: `npm run build` first), not tsx's.
  const { GrpcServer } = require('../dist/grpc/server.js') as typeof import('../src/grpc/server');
  const { prepareAllCodecs, serviceDefinition } = require('../dist/proto/registry.js') as typeof import('../src/proto/registry');
  const { versionService, VERSION_SERVICE } = require('../dist/services/version.js') as typeof import('../src/services/version');
  const { Logger } = require('../dist/log/logger.js') as typeof import('../src/log/logger');
  prepareAllCodecs();
  const server = new GrpcServer({});
  const deps = { log: new Logger('warn', {}, () => undefined), version: { version: 'v1.6.20', revision: 'bench' } };
  server.addService(serviceDefinition(VERSION_SERVICE), versionService(deps as unknown as Parameters<typeof versionService>[0]) as never);
  const sock = new FakeSocket();
  (server as unknown as { accept(s: net.Socket): void }).accept(sock as unknown as net.Socket);
  const preface = Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), frame(4, 0, 0, Buffer.alloc(0))]);
  sock.emit('data', preface);
  let sid = 1;
  const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
  const ping = frame(6, 0, 0, Buffer.alloc(8));
  const windowUpdate = frame(8, 0, 0, Buffer.from([0, 0, 0x10, 0]));
  sock.emit('data', request(sid, true));
  sid += 2;
  await turn();
  // Later requests are all alike but for their stream id: laid out once, and each read
  // copied from it with the ids set, so that the bench itself allocates one buffer a read.
  const next = request(0, false);
  const template = Buffer.concat([...Array.from({ length: BATCH }, () => next), ping, windowUpdate]);
  const run = async (n: number): Promise<void> => {
    for (let done = 0; done < n; done += BATCH) {
      const read = Buffer.allocUnsafe(template.length);
      template.copy(read);
      for (let i = 0; i < BATCH; i++) {
        read.writeUInt32BE(sid, i * next.length + 5); // HEADERS
        read.writeUInt32BE(sid, i * next.length + 9 + NEXT_BLOCK.length + 5); // DATA
        sid += 2;
      }
      sock.emit('data', read);
      await turn();
      await turn();
    }
  };
  await run(Math.min(20_000, CALLS)); // warm-up: code compiled, tables built
  const written0 = sock.written;
  if (global.gc) global.gc();
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  console.log('@@BEGIN');
  const session = values['heap-sample'] !== undefined ? await startHeapSampling() : undefined;
  await run(CALLS);
  if (session) await stopHeapSampling(session, values['heap-sample'] as string);
  console.log('@@END');
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(cpu0);
  const perCall = (sock.written - written0) / CALLS;
  if (perCall < 20) throw new Error(`responses missing: ${perCall} bytes written per call`);
  console.log(`@@RESULT ${JSON.stringify({ ms, cpuUs: cpu.user + cpu.system, bytesOutPerCall: perCall })}`);
}

function parent(): void {
  const v8 = values.v8 !== undefined ? values.v8.split(/\s+/).filter(Boolean) : [...DAEMON_V8_FLAGS];
  const r = spawnSync(process.execPath, [...process.execArgv, ...v8, '--trace-gc-nvp', '--expose-gc', __filename, '--child', '--calls', String(CALLS), '--batch', String(BATCH), ...(values['heap-sample'] ? ['--heap-sample', values['heap-sample']] : [])], {
    encoding: 'utf8',
    maxBuffer: 1 << 30,
  });
  if (r.status !== 0) throw new Error(`child failed: ${r.stderr}\n${r.stdout.slice(-2000)}`);
  const lines = r.stdout.split('\n');
  const begin = lines.indexOf('@@BEGIN');
  const end = lines.indexOf('@@END');
  const res = lines.find((l) => l.startsWith('@@RESULT '));
  if (begin < 0 || end < 0 || !res) throw new Error('child printed no markers');
  let scavenges = 0;
  let markCompacts = 0;
  let allocated = 0;
  let survived = 0;
  let promoted = 0;
  let pauseMs = 0;
  // Each GC line reports what was allocated since the previous GC; the first GC after
  // @@END still counts the tail of the measured calls, so it is included.
  for (const l of lines.slice(begin + 1)) {
    const gc = /gc=(\w+)/.exec(l)?.[1];
    if (!gc) continue;
    const num = (k: string): number => Number(new RegExp(`\\b${k}=([0-9.]+)`).exec(l)?.[1] ?? 0);
    if (gc === 's') scavenges++;
    else markCompacts++;
    allocated += num('allocated');
    survived += num('new_space_survived');
    promoted += num('promoted');
    pauseMs += num('pause');
    if (lines.indexOf(l) > end) break;
  }
  const { ms, cpuUs, bytesOutPerCall } = JSON.parse(res.slice('@@RESULT '.length)) as { ms: number; cpuUs: number; bytesOutPerCall: number };
  const per10k = (x: number): string => ((x * 10_000) / CALLS).toFixed(1);
  console.log(`flags: ${v8.join(' ')}; ${CALLS} calls, ${BATCH} per read`);
  console.log('| calls/s | CPU µs/call | bytes allocated/call | bytes surviving scavenges/call | promoted/call | scavenges/10k | mark-compacts/10k | GC pause ms/10k | bytes out/call |');
  console.log('|---|---|---|---|---|---|---|---|---|');
  console.log(
    `| ${((CALLS / ms) * 1000).toFixed(0)} | ${(cpuUs / CALLS).toFixed(2)} | ${(allocated / CALLS).toFixed(0)} | ${(survived / CALLS).toFixed(0)} | ${(promoted / CALLS).toFixed(0)} | ` +
      `${per10k(scavenges)} | ${per10k(markCompacts)} | ${per10k(pauseMs)} | ${bytesOutPerCall.toFixed(0)} |`,
  );
}

if (values.child) {
  child().catch((err: unknown) => {
    console.error(err);
    process.exit(1);
  });
} else parent();
