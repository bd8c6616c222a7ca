// The CRI streaming server (src/cri/streaming) driven by client-go, as kubectl and crictl
// drive containerd's: remotecommand's SPDY executor (v4, v3, v2), its WebSocket executor,
// and the SPDY port-forwarder (test/go-cri/streamclient, built from the cri-tools v1.34.0 pins).
// The runtime behind the server runs real processes (a pty for tty) and port-forwards into a
// network namespace this test makes, through nsenter. Bounded: 100 MiB each way through exec
// (with and without a raw-mode terminal), 32 MiB each way through port-forward, every process
// killed by PID afterwards.
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { StreamingServer } from '../../src/cri/streaming';
import { createNetNS, type NetNS } from '../../src/netns';
import { ProcessRuntime } from '../harness/cri-streaming-runtime';
import { buildGoCriProgram } from '../harness/go-cri';
import { runGoProgram } from '../harness/go';
import { spawnProcess, stopChild, type SpawnedProcess } from '../harness/process';
import { makeTempRoot, type TempRoot } from '../harness/tempdir';

const TOKEN_TTL_MS = 3_000;

let bin: string;
let runtime: ProcessRuntime;
let server: StreamingServer;
let dispenser: http.Server;
let dispenserUrl: string;
let root: TempRoot;
let netns: NetNS | undefined;
let echo: SpawnedProcess | undefined;
const ECHO_PORT = 7777;
const log: string[] = [];

beforeAll(async () => {
  bin = await buildGoCriProgram('streamclient');
  root = makeTempRoot('berth-streaming-');
  runtime = new ProcessRuntime();
  runtime.attachCommands.set('a1', ['sh', '-c', 'cat; echo attached >&2']);
  server = new StreamingServer({ address: '127.0.0.1', port: 0, limits: { tokenTtlMs: TOKEN_TTL_MS }, log: (m) => log.push(m) }, runtime);
  await server.start();
  // What the CRI Exec/PortForward RPCs will do: register the request, hand out the URL.
  dispenser = http.createServer((req, res) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const flag = (n: string): boolean => u.searchParams.get(n) === '1';
    try {
      const url =
        u.pathname === '/exec'
          ? server.getExec({ containerId: 'c1', cmd: JSON.parse(u.searchParams.get('cmd') ?? '[]') as string[], tty: flag('tty'), stdin: flag('stdin'), stdout: flag('stdout'), stderr: flag('stderr') }).url
          : u.pathname === '/attach'
            ? server.getAttach({ containerId: u.searchParams.get('container') ?? '', tty: false, stdin: true, stdout: true, stderr: true }).url
            : server.getPortForward({ podSandboxId: 'pod1', port: [] }).url;
      res.end(url);
    } catch (e) {
      res.writeHead(500).end((e as Error).message);
    }
  });
  await new Promise<void>((r) => dispenser.listen(0, '127.0.0.1', () => r()));
  dispenserUrl = `http://127.0.0.1:${(dispenser.address() as net.AddressInfo).port}`;

  netns = await createNetNS(path.join(root.path, 'netns'));
  runtime.pods.set('pod1', netns.path);
  const up = spawnProcess('nsenter', [`--net=${netns.path}`, 'ip', 'link', 'set', 'lo', 'up']);
  expect((await up.exited).code).toBe(0);
  echo = spawnProcess('nsenter', [`--net=${netns.path}`, 'python3', path.join(__dirname, '..', 'fixtures', 'cri', 'streaming', 'echo_server.py'), String(ECHO_PORT)]);
  for (let i = 0; i < 100 && !echo.stdout().includes('listening'); i++) await new Promise((r) => setTimeout(r, 50));
  expect(echo.stdout()).toContain('listening');
}, 600_000);

afterAll(async () => {
  runtime?.killAll();
  if (echo) await stopChild(echo, { signal: 'SIGKILL', timeoutMs: 5_000 });
  await server?.stop();
  await new Promise<void>((r) => (dispenser ? dispenser.close(() => r()) : r()));
  await netns?.remove();
  await root?.cleanup();
});

async function go(args: string[], timeoutMs = 60_000): Promise<Map<string, Record<string, unknown>>> {
  const r = await runGoProgram(bin, ['-dispenser', dispenserUrl, ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`streamclient ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stderr}\n${r.stdout}\nserver log:\n${log.join('\n')}`);
  return new Map(r.lines.map((l) => [String(l.case), l]));
}

describe('CRI streaming server with client-go', () => {
  it('exec and attach over SPDY (v4, v3, v2) and WebSocket: streams, exit codes, tty resize, single-use tokens', async () => {
    const c = await go(['-case', 'exec']);
    expect(c.get('basic')).toMatchObject({ stdout: 'hello from stdin\n', stderr: 'to-stderr\n', code: 0, err: '' });
    expect(c.get('attach')).toMatchObject({ stdout: 'attach-in\n', stderr: 'attached\n', code: 0, err: '' });
    expect(c.get('attach unknown')?.err).toBe('Internal error occurred: error attaching to container: container nope not found');
    expect(c.get('exit0')).toMatchObject({ code: 0, err: '' });
    // client-go turns the ExitCode cause into a CodeExitError with its own text.
    expect(c.get('exit3')).toMatchObject({ code: 3, err: 'command terminated with exit code 3' });
    expect(c.get('signal')).toMatchObject({ code: 137, err: 'command terminated with exit code 137' });
    // v3/v2 carry no exit code: the failure arrives as text.
    for (const p of ['v3.channel.k8s.io', 'v2.channel.k8s.io']) {
      const r = c.get(`protocol ${p}`);
      expect(r?.stdout).toBe(`out-${p}\n`);
      expect(r?.code).toBe(-1);
      expect(String(r?.err)).toContain('exit code 4');
    }
    expect(c.get('websocket v4.channel.k8s.io')).toMatchObject({ stdout: 'ws-out\n', stderr: 'ws-err\n', code: 5 });
    // channel.k8s.io (v1) reports failures as text; client-go's v1 reader does not wait for it
    // (it checks for an error without blocking once output ends), so only the output is asserted.
    expect(c.get('websocket channel.k8s.io')).toMatchObject({ stdout: 'ws-out\n', stderr: 'ws-err\n' });
    const tty = c.get('tty');
    expect(tty).toMatchObject({ code: 0 });
    expect(String(tty?.stdout)).toMatch(/size 24 80\r?\n[\s\S]*size 40 100/);
    const reuse = c.get('token reuse');
    expect(reuse?.first).toBe('');
    expect(String(reuse?.second)).toMatch(/404|not found/i);
    expect(String(c.get('token unknown')?.err)).toMatch(/404|not found/i);
  }, 60_000);

  it('refuses an expired token', async () => {
    const c = await go(['-case', 'expiry', '-expiry-wait', `${TOKEN_TTL_MS + 500}ms`]);
    expect(String(c.get('token expired')?.err)).toMatch(/404|not found/i);
  }, 30_000);

  it('moves 100 MiB each way through exec with the sha256 intact', async () => {
    const r = (await go(['-case', 'large', '-large-mb', '100'], 120_000)).get('large');
    expect(r).toMatchObject({ code: 0, err: '', sent: 100 * 1024 * 1024, received: 100 * 1024 * 1024 });
    expect(r?.receivedSha).toBe(r?.sentSha);
    console.log(`exec 100 MiB each way: ${Number(r?.seconds).toFixed(1)} s`);
  }, 150_000);

  it('moves 100 MiB each way through exec on a terminal in raw mode (stty raw -echo) with the sha256 intact', async () => {
    const r = (await go(['-case', 'large-tty', '-large-mb', '100'], 120_000)).get('large tty');
    expect(r).toMatchObject({ code: 0, err: '', sent: 100 * 1024 * 1024, received: 100 * 1024 * 1024 });
    expect(r?.receivedSha).toBe(r?.sentSha);
    console.log(`exec on a raw pty 100 MiB each way: ${Number(r?.seconds).toFixed(1)} s`);
  }, 150_000);

  it('a client that stops reading does not stall other sessions', async () => {
    const r = (await go(['-case', 'stalled'])).get('stalled reader');
    expect(r?.otherRuns).toBe(10);
    // A stalled session would hold them until their 30 s deadline; 5 s leaves room for a busy machine.
    expect(Number(r?.worstSeconds)).toBeLessThan(5);
    // The stalled session's buffers stay bounded: the daemon holds at most its limits.
  }, 60_000);

  it('port-forwards into the pod network namespace: concurrent connections and a large transfer', async () => {
    const c = await go(['-case', 'portforward', '-pf-port', String(ECHO_PORT), '-pf-conns', '8', '-pf-large-mb', '32'], 90_000);
    const replies = c.get('portforward concurrent')?.replies as string[];
    expect(replies).toEqual(Array.from({ length: 8 }, (_, i) => `connection ${i} says hello\n`));
    const large = c.get('portforward large');
    expect(large).toMatchObject({ err: '', sent: 32 * 1024 * 1024, received: 32 * 1024 * 1024 });
    expect(large?.receivedSha).toBe(large?.sentSha);
    console.log(`port-forward 32 MiB each way: ${Number(large?.seconds).toFixed(1)} s`);
  }, 90_000);
});
