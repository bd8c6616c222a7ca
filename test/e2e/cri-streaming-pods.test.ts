// CRI streaming end to end, as kubectl reaches it through kubelet: Exec, Attach and
// PortForward asked of the runtime's CRI socket, the URLs they answer then driven by
// client-go's SPDY executor and port-forward dialer (test/go-cri/cristream), against berthd
// and containerd 1.6.20's CRI in one CRI environment, each checked on its own and the
// answers compared. Bounded: 100 MiB each way through exec without a terminal on both
// daemons and with a raw-mode terminal on berthd (containerd's loses bytes there: see the
// case), 4 HTTP GETs through port-forward; pods stopped and removed after.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthdHandle, ContainerdHandle } from '../harness';
import { startCriBerthd, startCriContainerd } from '../harness/cri-daemons';
import { startCriEnv, type CriEnv } from '../harness/cri-env';
import { buildGoCriProgram } from '../harness/go-cri';

const LARGE_MB = 100;

let env: CriEnv;
let berthd: BerthdHandle | undefined;
let ctrd: ContainerdHandle | undefined;
let bin: string;

interface Side {
  name: string;
  address: string;
  pod: string;
  main: string;
  attach: string;
}

async function crictl(address: string, ...args: string[]): Promise<string> {
  const r = await env.crictl(address, args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

async function setUp(name: string, address: string): Promise<Side> {
  const logDir = path.join(env.dir, `logs-${name}`);
  fs.mkdirSync(logDir, { recursive: true });
  const write = (file: string, v: unknown): string => {
    const p = path.join(env.dir, `${name}-${file}.json`);
    fs.writeFileSync(p, JSON.stringify(v));
    return p;
  };
  const podFile = write('pod', { metadata: { name: 'stream', namespace: 'berth-stream', uid: `stream-${name}`, attempt: 1 }, log_directory: logDir, linux: {} });
  const mainFile = write('main', { metadata: { name: 'main' }, image: { image: env.images.busybox }, command: ['sleep', '1000'], log_path: 'main.log', linux: {} });
  const attachFile = write('attach', {
    metadata: { name: 'attach' },
    image: { image: env.images.busybox },
    command: ['sh', '-c', 'cat; echo attached >&2'],
    stdin: true,
    stdin_once: true,
    log_path: 'attach.log',
    linux: {},
  });
  const webFile = write('web', { metadata: { name: 'web' }, image: { image: env.images.webServer }, log_path: 'web.log', linux: {} });
  await crictl(address, 'pull', env.images.busybox);
  await crictl(address, 'pull', env.images.webServer);
  const pod = await crictl(address, 'runp', podFile);
  const ids: string[] = [];
  for (const f of [mainFile, attachFile, webFile]) {
    const id = await crictl(address, 'create', pod, f, podFile);
    await crictl(address, 'start', id);
    ids.push(id);
  }
  return { name, address, pod, main: ids[0]!, attach: ids[1]! };
}

async function tearDown(side: Side | undefined): Promise<void> {
  if (!side) return;
  await crictl(side.address, 'stopp', side.pod).catch(() => undefined);
  await crictl(side.address, 'rmp', side.pod).catch(() => undefined);
}

async function cristream(side: Side, args: string[], timeoutMs = 60_000): Promise<Record<string, unknown>> {
  const r = await env.run(bin, ['-endpoint', side.address, ...args], { timeoutMs });
  const lines = r.stdout
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  if (r.code !== 0 || lines.length !== 1) throw new Error(`${side.name}: cristream ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stdout}\n${r.stderr}`);
  return lines[0]!;
}

let b: Side | undefined;
let c: Side | undefined;
const sides = (): Side[] => [c!, b!];

beforeAll(async () => {
  env = await startCriEnv();
  [bin, ctrd, berthd] = await Promise.all([buildGoCriProgram('cristream'), startCriContainerd(env), startCriBerthd(env)]);
  [c, b] = await Promise.all([setUp('containerd', ctrd.address), setUp('berthd', berthd.address)]);
}, 240_000);

afterAll(async () => {
  await Promise.all([tearDown(b), tearDown(c)]);
  await berthd?.cleanup();
  await ctrd?.cleanup();
  await env?.cleanup();
}, 60_000);

describe('CRI streaming through client-go: berthd and containerd 1.6.20', () => {
  it('exec: stdin, stdout, stderr and the exit code', async () => {
    const r = await Promise.all(sides().map((s) => cristream(s, ['-case', 'exec', '-container', s.main])));
    for (const x of r) expect(x).toMatchObject({ stdout: 'hello from stdin\n', stderr: 'to-stderr\n', code: 3, err: 'command terminated with exit code 3' });
    expect(r[1]).toEqual(r[0]);
  }, 60_000);

  it(`exec moves ${LARGE_MB} MiB each way with the sha256 intact, without a terminal`, async () => {
    for (const s of sides()) {
      const r = await cristream(s, ['-case', 'large', '-container', s.main, '-large-mb', String(LARGE_MB)], 120_000);
      expect(r).toMatchObject({ code: 0, err: '', sent: LARGE_MB << 20, received: LARGE_MB << 20 });
      expect(r.receivedSha).toBe(r.sentSha);
      console.log(`${s.name}: exec ${LARGE_MB} MiB each way: ${Number(r.seconds).toFixed(1)} s`);
    }
  }, 240_000);

  it(`exec moves ${LARGE_MB} MiB each way with the sha256 intact, on a terminal in raw mode`, async () => {
    // ~11 s on a busy 2-core machine (a raw terminal hands its data over in 4 KiB reads, the
    // line discipline's buffer, so slower than pipes); 55–95 s while the shim retried writes
    // to a full pty master on a timer instead of waiting for it to be writable.
    const r = await cristream(b!, ['-case', 'large-tty', '-container', b!.main, '-large-mb', String(LARGE_MB)], 250_000);
    expect(r).toMatchObject({ code: 0, err: '', sent: LARGE_MB << 20, received: LARGE_MB << 20 });
    expect(r.receivedSha).toBe(r.sentSha);
    console.log(`berthd: exec on a raw pty ${LARGE_MB} MiB each way: ${Number(r.seconds).toFixed(1)} s`);
    // Not run against containerd 1.6.20: on a raw pty it loses bytes or hangs here (measured
    // in this environment: at 100 MiB 104 770 545 bytes came back and `head -c` waited for the
    // rest of its input until the deadline; at 4 MiB once 4 116 124 bytes and exit 0, once no
    // end within 60 s).
  }, 300_000);

  it('attach: the container reads the client stdin (stdin_once ends it) and its output reaches the client live', async () => {
    const r = await Promise.all(sides().map((s) => cristream(s, ['-case', 'attach', '-container', s.attach])));
    for (const x of r) expect(x).toMatchObject({ stdout: 'attach-in\n', stderr: 'attached\n', err: '' });
    expect(r[1]).toEqual(r[0]);
    // stdin_once: the container's stdin ended with the attach, so it exited.
    for (const s of sides()) {
      let st: { state: string; exitCode: number } = { state: '', exitCode: -1 };
      for (let i = 0; i < 100; i++) {
        st = (JSON.parse(await crictl(s.address, 'inspect', s.attach)) as { status: typeof st }).status;
        if (st.state === 'CONTAINER_EXITED') break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(st).toMatchObject({ state: 'CONTAINER_EXITED', exitCode: 0 });
    }
  }, 60_000);

  it('exec: a client that goes away has its process killed', async () => {
    const r = await Promise.all(sides().map((s) => cristream(s, ['-case', 'abandon', '-container', s.main])));
    for (const x of r) {
      expect(x.stdout).toBe('started\n');
      expect(String(x.err)).toMatch(/context canceled/);
    }
    // The container's main process is a `sleep 1000` too: on berthd it alone must be left.
    // containerd 1.6.20 runs a streamed exec under a context of its own, not the client's: its
    // exec lives on (measured: 2 left), so it is only reported.
    const sleeps = (ps: string): number => ps.split('\n').filter((l) => /sleep 1000\s*$/.test(l)).length;
    const left: Record<string, number> = {};
    for (const s of sides()) {
      let n = -1;
      for (let i = 0; i < 30; i++) {
        n = sleeps(await crictl(s.address, 'exec', '-s', s.main, 'ps'));
        if (n === 1) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      left[s.name] = n;
    }
    console.log(`sleep processes left after the client went away: ${JSON.stringify(left)}`);
    expect(left.berthd).toBe(1);
  }, 60_000);

  it('port-forward reaches a web server in the pod network namespace', async () => {
    const r = await Promise.all(sides().map((s) => cristream(s, ['-case', 'portforward', '-pod', s.pod, '-port', '80', '-conns', '4'])));
    for (const x of r) {
      const bodies = x.bodies as string[];
      expect(bodies).toHaveLength(4);
      for (const body of bodies) expect(body).toMatch(/^200 ./s);
    }
    expect(r[1]).toEqual(r[0]);
  }, 60_000);
});
