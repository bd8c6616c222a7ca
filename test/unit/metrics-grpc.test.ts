// gRPC server metrics (src/metrics/grpc-server.ts) counted by berth's own gRPC server and
// driven by grpc-js's client: what go-grpc-prometheus counts for unary calls (OK and
// errors, sent only on success), server streams (one received, one sent per message),
// bidi streams (each message), server-side deadlines and client resets; every method's series from
// the start; the handling-time histogram; and the text promtool reads without a finding.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  credentials,
  makeGenericClientConstructor,
  status,
  type Client,
  type ClientDuplexStream,
  type ClientReadableStream,
  type ServerDuplexStream,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceDefinition,
  type ServiceError,
  type sendUnaryData,
  type UntypedServiceImplementation,
} from '@grpc/grpc-js';
import { GrpcServer } from '../../src/grpc/server';
import { encodeText } from '../../src/metrics/exposition';
import { GRPC_CODE_NAMES, GrpcServerMetrics } from '../../src/metrics/grpc-server';
import { promtoolCheck } from '../harness/prometheus';
import { RawConn, T, block, callHeaders, frame, grpcMessage, u32 } from './h2-raw';

const id = (b: Buffer): Buffer => b;
const method = (name: string, requestStream: boolean, responseStream: boolean) => ({
  path: `/test.v1.Probe/${name}`,
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
  Unserved: method('Unserved', false, false),
} as unknown as ServiceDefinition;

const impl: UntypedServiceImplementation = {
  Echo: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb(null, call.request),
  Fail: (_call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => cb({ code: status.NOT_FOUND, details: 'nope' } as ServiceError),
  Slow: (call: ServerUnaryCall<Buffer, Buffer>, cb: sendUnaryData<Buffer>) => {
    const t = setTimeout(() => cb(null, Buffer.from('late')), 3000);
    call.on('cancelled', () => clearTimeout(t));
  },
  Many: (call: ServerWritableStream<Buffer, Buffer>) => {
    for (let i = 0; i < call.request.readUInt8(0); i++) call.write(Buffer.from([i]));
    call.end();
  },
  Chat: (call: ServerDuplexStream<Buffer, Buffer>) => {
    void (async () => {
      for await (const m of call as AsyncIterable<Buffer>) call.write(m);
      call.write(Buffer.from('bye'));
      call.end();
    })();
  },
};

let dir: string;
let sock: string;
let server: GrpcServer;
let metrics: GrpcServerMetrics;
let client: Client & Record<string, (...args: unknown[]) => unknown>;

function unary(name: string, req: Buffer, opts: { deadline?: number } = {}): Promise<ServiceError | null> {
  return new Promise((resolve) => {
    (client[name] as (r: Buffer, o: object, cb: (e: ServiceError | null) => void) => void)(req, opts, (err) => resolve(err));
  });
}

/** The value of one line of the text, found by family and labels. */
function value(text: string, family: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${family}{${labels}} `));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

const L = (m: string, type = 'unary'): string => `grpc_method="${m}",grpc_service="test.v1.Probe",grpc_type="${type}"`;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-grpc-metrics-'));
  metrics = new GrpcServerMetrics({ handlingTimeHistogram: true });
  server = new GrpcServer({ observer: metrics });
  server.addService(DEF, impl);
  sock = path.join(dir, 's.sock');
  await server.listen(sock);
  const Ctor = makeGenericClientConstructor(DEF, 'Probe');
  client = new Ctor(`unix://${sock}`, credentials.createInsecure()) as typeof client;
});

afterAll(() => {
  client?.close();
  server?.forceShutdown();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('gRPC server metrics', () => {
  it('has every method and every code at zero before any call, as go-grpc-prometheus pre-registers them', () => {
    const text = encodeText(metrics.families());
    for (const m of ['Echo', 'Fail', 'Slow', 'Unserved']) {
      expect(value(text, 'grpc_server_started_total', L(m))).toBe(0);
      for (const code of GRPC_CODE_NAMES) expect(value(text, 'grpc_server_handled_total', `grpc_code="${code}",${L(m)}`)).toBe(0);
      expect(value(text, 'grpc_server_handling_seconds_count', L(m))).toBe(0);
    }
    expect(value(text, 'grpc_server_started_total', L('Many', 'server_stream'))).toBe(0);
    expect(value(text, 'grpc_server_started_total', L('Chat', 'bidi_stream'))).toBe(0);
    expect(GRPC_CODE_NAMES).toHaveLength(17);
  });

  it('counts unary calls: started, received, handled by code, sent only on success', async () => {
    for (let i = 0; i < 3; i++) expect(await unary('Echo', Buffer.from('x'))).toBeNull();
    expect((await unary('Fail', Buffer.from('x')))?.code).toBe(status.NOT_FOUND);
    const text = encodeText(metrics.families());
    expect(value(text, 'grpc_server_started_total', L('Echo'))).toBe(3);
    expect(value(text, 'grpc_server_msg_received_total', L('Echo'))).toBe(3);
    expect(value(text, 'grpc_server_msg_sent_total', L('Echo'))).toBe(3);
    expect(value(text, 'grpc_server_handled_total', `grpc_code="OK",${L('Echo')}`)).toBe(3);
    expect(value(text, 'grpc_server_started_total', L('Fail'))).toBe(1);
    expect(value(text, 'grpc_server_msg_received_total', L('Fail'))).toBe(1);
    expect(value(text, 'grpc_server_msg_sent_total', L('Fail'))).toBe(0);
    expect(value(text, 'grpc_server_handled_total', `grpc_code="NotFound",${L('Fail')}`)).toBe(1);
    expect(value(text, 'grpc_server_handled_total', `grpc_code="OK",${L('Fail')}`)).toBe(0);
    // A method the server has no handler for is answered Unimplemented before any handler: not counted.
    expect((await unary('Unserved', Buffer.from('x')))?.code).toBe(status.UNIMPLEMENTED);
    expect(value(encodeText(metrics.families()), 'grpc_server_started_total', L('Unserved'))).toBe(0);
  });

  it('counts stream messages each way', async () => {
    await new Promise<void>((resolve, reject) => {
      const s = (client.Many as (r: Buffer) => ClientReadableStream<Buffer>)(Buffer.from([5]));
      s.on('data', () => undefined);
      s.on('error', reject);
      s.on('end', resolve);
    });
    const echoed = await new Promise<number>((resolve, reject) => {
      const s = (client.Chat as () => ClientDuplexStream<Buffer, Buffer>)();
      let n = 0;
      s.on('data', () => n++);
      s.on('error', reject);
      s.on('end', () => resolve(n));
      for (const m of ['a', 'b', 'c']) s.write(Buffer.from(m));
      s.end();
    });
    expect(echoed).toBe(4);
    const text = encodeText(metrics.families());
    expect(value(text, 'grpc_server_started_total', L('Many', 'server_stream'))).toBe(1);
    expect(value(text, 'grpc_server_msg_received_total', L('Many', 'server_stream'))).toBe(1);
    expect(value(text, 'grpc_server_msg_sent_total', L('Many', 'server_stream'))).toBe(5);
    expect(value(text, 'grpc_server_handled_total', `grpc_code="OK",${L('Many', 'server_stream')}`)).toBe(1);
    expect(value(text, 'grpc_server_started_total', L('Chat', 'bidi_stream'))).toBe(1);
    expect(value(text, 'grpc_server_msg_received_total', L('Chat', 'bidi_stream'))).toBe(3);
    expect(value(text, 'grpc_server_msg_sent_total', L('Chat', 'bidi_stream'))).toBe(4);
    expect(value(text, 'grpc_server_handled_total', `grpc_code="OK",${L('Chat', 'bidi_stream')}`)).toBe(1);
  });

  it('counts an expired deadline as DeadlineExceeded and a client reset as Canceled, once each', async () => {
    // A hand-driven client: grpc-js would reset the stream itself at its deadline, racing the server's timer.
    const c = await RawConn.open(sock);
    try {
      const call = (stream: number, extra: Array<[string, string]>): void =>
        c.send(frame(T.HEADERS, 4, stream, block(callHeaders('/test.v1.Probe/Slow', extra))), frame(T.DATA, 1, stream, grpcMessage(Buffer.from('x'))));
      call(1, [['grpc-timeout', '100m']]);
      expect((await c.status(1)).code).toBe(String(status.DEADLINE_EXCEEDED));
      call(3, []);
      const started = Date.now();
      while (value(encodeText(metrics.families()), 'grpc_server_started_total', L('Slow')) !== 2 && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 10));
      c.send(frame(T.RST_STREAM, 0, 3, u32(8 /* CANCEL */)));
      const handledSlow = (t: string): number => GRPC_CODE_NAMES.reduce((n, code) => n + (value(t, 'grpc_server_handled_total', `grpc_code="${code}",${L('Slow')}`) ?? 0), 0);
      let text = '';
      for (let i = 0; i < 100; i++) {
        text = encodeText(metrics.families());
        if (handledSlow(text) === 2) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(value(text, 'grpc_server_started_total', L('Slow'))).toBe(2);
      expect(value(text, 'grpc_server_handled_total', `grpc_code="DeadlineExceeded",${L('Slow')}`)).toBe(1);
      expect(value(text, 'grpc_server_handled_total', `grpc_code="Canceled",${L('Slow')}`)).toBe(1);
      expect(handledSlow(text)).toBe(2);
    } finally {
      c.close();
    }
  });

  it('times calls into the handling-time histogram', async () => {
    const text = encodeText(metrics.families());
    const count = value(text, 'grpc_server_handling_seconds_count', L('Slow'));
    expect(count).toBe(2);
    // The call that ran into its 100 ms deadline took that long (the cancelled one was cut
    // short, or not: it waited for the test to see it started).
    expect(value(text, 'grpc_server_handling_seconds_bucket', `${L('Slow')},le="0.05"`)).toBeLessThanOrEqual(1);
    expect(value(text, 'grpc_server_handling_seconds_bucket', `${L('Slow')},le="+Inf"`)).toBe(2);
    expect(value(text, 'grpc_server_handling_seconds_sum', L('Slow'))).toBeGreaterThan(0.08);
    expect(value(text, 'grpc_server_handling_seconds_count', L('Echo'))).toBe(3);
    expect(value(text, 'grpc_server_handling_seconds_bucket', `${L('Echo')},le="10"`)).toBe(3);
  });

  it('writes text promtool reads without a finding', () => {
    const r = promtoolCheck(encodeText(metrics.families()));
    expect(r.findings).toEqual([]);
    expect(r.status).toBe(0);
  });

  it('leaves the histogram out unless asked, as containerd without grpc_histogram', () => {
    const plain = new GrpcServerMetrics({ handlingTimeHistogram: false });
    const stats = plain.method('a.B', 'C', 'unary');
    stats.handled(0, stats.started());
    const text = encodeText(plain.families());
    expect(text).not.toContain('grpc_server_handling_seconds');
    expect(value(text, 'grpc_server_handled_total', 'grpc_code="OK",grpc_method="C",grpc_service="a.B",grpc_type="unary"')).toBe(1);
    // A code outside grpc-go's list is counted under grpc-go's name for it.
    stats.handled(42, stats.started());
    expect(value(encodeText(plain.families()), 'grpc_server_handled_total', 'grpc_code="Code(42)",grpc_method="C",grpc_service="a.B",grpc_type="unary"')).toBe(1);
  });
});
