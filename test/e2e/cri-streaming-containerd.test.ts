// The same client-go cases as test/e2e/cri-streaming-go.test.ts, against containerd 1.6.20's
// own streaming server (kubelet's pkg/cri/streaming inside its CRI plugin), with URLs from its
// CRI Exec RPC for a busybox container in the CRI test environment: what berth's server is
// held to is what containerd answers. (berthd's CRI Exec/PortForward are not wired to
// src/cri/streaming yet; once they are, the same program runs against both here.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ContainerdHandle } from '../harness';
import { writeContainerConfig, writePodConfig } from '../harness/cri-crictl';
import { startCriContainerd } from '../harness/cri-daemons';
import { startCriEnv, unixEndpoint, type CriEnv } from '../harness/cri-env';
import { buildGoCriProgram } from '../harness/go-cri';

let env: CriEnv;
let ctrd: ContainerdHandle;
let bin: string;
let ctrId: string;
let podId: string;

async function crictl(...args: string[]): Promise<string> {
  const r = await env.crictl(ctrd.address, args);
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

async function go(args: string[], timeoutMs = 60_000): Promise<Map<string, Record<string, unknown>>> {
  const r = await env.run(bin, ['-cri', unixEndpoint(ctrd.address), '-container', ctrId, '-pod', podId, ...args], { timeoutMs });
  if (r.code !== 0) throw new Error(`streamclient ${args.join(' ')} exited ${r.code ?? r.signal}:\n${r.stderr}\n${r.stdout}`);
  const lines = r.stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  return new Map(lines.map((l) => [String(l.case), l]));
}

describe('client-go against containerd 1.6.20 streaming server (the reference)', () => {
  beforeAll(async () => {
    bin = await buildGoCriProgram('streamclient');
    env = await startCriEnv();
    ctrd = await startCriContainerd(env);
    const pod = writePodConfig(env, 'stream');
    podId = await crictl('runp', pod.file);
    await crictl('pull', env.images.busybox);
    const c = writeContainerConfig(env, 'bb', env.images.busybox, { command: ['sh', '-c', 'exec sleep 1000'] });
    ctrId = await crictl('create', podId, c.file, pod.file);
    await crictl('start', ctrId);
  }, 600_000);

  afterAll(async () => {
    if (podId) await crictl('stopp', podId).catch(() => undefined);
    if (podId) await crictl('rmp', podId).catch(() => undefined);
    await ctrd?.cleanup();
    await env?.cleanup();
  }, 60_000);

  it('exec over SPDY (v4, v3, v2) and WebSocket: the answers berth is held to', async () => {
    const c = await go(['-case', 'exec']);
    expect(c.get('basic')).toMatchObject({ stdout: 'hello from stdin\n', stderr: 'to-stderr\n', code: 0, err: '' });
    expect(c.get('exit0')).toMatchObject({ code: 0, err: '' });
    expect(c.get('exit3')).toMatchObject({ code: 3, err: 'command terminated with exit code 3' });
    expect(c.get('signal')).toMatchObject({ code: 137, err: 'command terminated with exit code 137' });
    for (const p of ['v3.channel.k8s.io', 'v2.channel.k8s.io']) {
      const r = c.get(`protocol ${p}`);
      expect(r?.stdout).toBe(`out-${p}\n`);
      expect(r?.code).toBe(-1);
      expect(String(r?.err)).toContain('exit code 4');
      console.log(`containerd ${p}: ${String(r?.err)}`);
    }
    expect(c.get('websocket v4.channel.k8s.io')).toMatchObject({ stdout: 'ws-out\n', stderr: 'ws-err\n', code: 5 });
    expect(c.get('websocket channel.k8s.io')).toMatchObject({ stdout: 'ws-out\n', stderr: 'ws-err\n' });
    expect(c.get('tty')).toMatchObject({ code: 0 });
    expect(String(c.get('tty')?.stdout)).toMatch(/size 24 80\r?\n[\s\S]*size 40 100/);
    expect(c.get('token reuse')?.first).toBe('');
    expect(String(c.get('token reuse')?.second)).toMatch(/404|not found/i);
    expect(String(c.get('token unknown')?.err)).toMatch(/404|not found/i);
  }, 60_000);

  // Not run here: the same 100 MiB through a raw-mode terminal. On containerd 1.6.20 it is
  // not reliable (in two runs: once 70,006 bytes of output short with exit code 0, once stuck
  // until the 120 s deadline); the berth side of it passes with the sha256 intact.
  it('100 MiB each way through exec with the sha256 intact', async () => {
    const r = (await go(['-case', 'large', '-large-mb', '100'], 120_000)).get('large');
    expect(r).toMatchObject({ code: 0, err: '', received: 100 * 1024 * 1024 });
    expect(r?.receivedSha).toBe(r?.sentSha);
    console.log(`containerd exec 100 MiB each way: ${Number(r?.seconds).toFixed(1)} s`);
  }, 150_000);

  it('a client that stops reading does not stall other sessions', async () => {
    const r = (await go(['-case', 'stalled'])).get('stalled reader');
    expect(r?.otherRuns).toBe(10);
    console.log(`containerd stalled reader: other sessions' worst ${Number(r?.worstSeconds).toFixed(2)} s`);
  }, 60_000);
});
