// berthd's CRI pods and containers, driven with crictl in the CRI test environment
// (private namespaces, loopback registry, CNI bridge): the walk-through kubelet's basic
// calls make, logs in the CRI format, a restart of berthd under running pods, and a CNI
// failure that must leave nothing behind.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrOk, startBerthd, type BerthdHandle } from '../harness';
import { writeContainerConfig, writePodConfig } from '../harness/cri-crictl';
import { CRI_POD_SUBNET, criCniConflist, startCriEnv, type CriEnv } from '../harness/cri-env';

let env: CriEnv;
let berthd: BerthdHandle;

async function crictl(...args: string[]): Promise<string> {
  const r = await env.crictl(berthd.address, args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`crictl ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stdout}${r.stderr}\n--- berthd log tail:\n${tail(berthd.logFile)}`);
  return r.stdout.trim();
}

async function crictlFails(...args: string[]): Promise<string> {
  const r = await env.crictl(berthd.address, args, { timeoutMs: 60_000 });
  expect(r.code, `crictl ${args.join(' ')} should fail: ${r.stdout}`).not.toBe(0);
  return r.stderr;
}

function tail(file: string): string {
  try {
    return fs.readFileSync(file, 'utf8').split('\n').slice(-30).join('\n');
  } catch {
    return '';
  }
}

function inSubnet(ip: string, cidr: string): boolean {
  const [net, bits] = cidr.split('/') as [string, string];
  const n = (a: string): number => a.split('.').reduce((acc, x) => acc * 256 + Number(x), 0);
  const mask = 2 ** 32 - 2 ** (32 - Number(bits));
  return (n(ip) & mask) >>> 0 === (n(net) & mask) >>> 0;
}

async function waitFor(what: string, fn: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await fn()) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`timed out waiting for ${what}`);
}

interface PodInspect {
  status: { id: string; state: string; network: { ip: string }; createdAt: string };
  info?: { runtimeSpec?: { linux?: { namespaces?: Array<{ type: string; path?: string }> } } };
}
interface CtrInspect {
  status: { id: string; state: string; exitCode: number; reason: string; startedAt: string; finishedAt: string; logPath: string };
}

/** Files and mounts in the environment that name a pod: its netns pin, IP allocations, veths. */
async function leftovers(podId: string, ip: string): Promise<string[]> {
  const out: string[] = [];
  const netnsDir = path.join(berthd.state, 'cri', 'netns');
  if (fs.existsSync(netnsDir)) for (const f of fs.readdirSync(netnsDir)) out.push(`netns ${f}`);
  const ipam = path.join(env.cni.dataDir);
  if (fs.existsSync(ipam)) {
    for (const net of fs.readdirSync(ipam)) {
      const dir = path.join(ipam, net);
      if (!fs.statSync(dir).isDirectory()) continue;
      // host-local keeps one file per address it gave out, holding the owner's id.
      for (const f of fs.readdirSync(dir)) {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(f)) continue;
        if (podId === '' || f === ip || fs.readFileSync(path.join(dir, f), 'utf8').includes(podId)) out.push(`ip ${f}`);
      }
    }
  }
  const links = await env.run('ip', ['-o', 'link', 'show', 'type', 'veth']);
  for (const l of links.stdout.trim().split('\n')) if (l.trim() !== '') out.push(`veth ${l.split(':')[1]?.trim()}`);
  const mounts = fs.readFileSync(`/proc/${env.holderPid}/mountinfo`, 'utf8');
  if (podId !== '' && mounts.includes(podId)) out.push('mount naming the pod');
  if (/\/cri\/(netns|sandboxes)\//.test(mounts)) out.push('a pod netns or shm mount');
  for (const d of [path.join(berthd.root, 'cri', 'sandboxes'), path.join(berthd.state, 'cri', 'sandboxes')]) {
    if (fs.existsSync(d)) for (const f of fs.readdirSync(d)) out.push(`dir ${d}/${f}`);
  }
  return out;
}

describe('CRI pods and containers on berthd', () => {
  beforeAll(async () => {
    env = await startCriEnv();
    const config = path.join(env.dir, 'berthd.toml');
    fs.writeFileSync(config, env.berthdCriToml());
    berthd = await startBerthd({ config, wrap: env.wrap, logLevel: 'debug' });
    await crictl('pull', env.images.busybox);
  }, 180_000);

  afterAll(async () => {
    await berthd?.cleanup();
    await env?.cleanup();
  }, 60_000);

  it('walks through runp, create, start, ps, exec -s, logs, stats, stop, rm, stopp, rmp', async () => {
    const pod = writePodConfig(env, 'walk', { hostname: 'walker', labels: { app: 'walk' } });
    const podId = await crictl('runp', pod.file);
    const inspect = JSON.parse(await crictl('inspectp', podId)) as PodInspect;
    expect(inspect.status.state).toBe('SANDBOX_READY');
    expect(inSubnet(inspect.status.network.ip, CRI_POD_SUBNET)).toBe(true);
    expect(await crictl('pods', '-q', '--label', 'app=walk')).toBe(podId);
    expect(await crictl('pods', '-q', '--id', podId.slice(0, 8))).toBe(podId);

    const c = writeContainerConfig(env, 'bb', env.images.busybox, {
      command: ['sh', '-c', 'echo hello from busybox; echo to stderr >&2; exec sleep 1000'],
      env: [{ key: 'GREETING', value: 'hi' }],
    });
    const ctrId = await crictl('create', podId, c.file, pod.file);
    expect(JSON.parse(await crictl('inspect', ctrId)).status.state).toBe('CONTAINER_CREATED');
    await crictl('start', ctrId);
    expect(await crictl('ps', '-q', '--state', 'Running', '--pod', podId)).toBe(ctrId);
    expect(await crictl('exec', '-s', ctrId, 'sh', '-c', 'echo $GREETING; hostname')).toBe('hi\nwalker');
    // The container shares the pod's network namespace (same eth0 address).
    expect(await crictl('exec', '-s', ctrId, 'sh', '-c', "ip -4 -o addr show eth0 | awk '{print $4}' | cut -d/ -f1")).toBe(inspect.status.network.ip);
    // A failing command's exit code comes back as it is.
    const r = await env.crictl(berthd.address, ['exec', '-s', ctrId, 'sh', '-c', 'exit 7']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/command 'sh -c exit 7' exited with 7/);

    await waitFor('the log lines', async () => (await crictl('logs', ctrId)).includes('hello from busybox'));
    const logPath = (JSON.parse(await crictl('inspect', ctrId)) as CtrInspect).status.logPath;
    const raw = fs.readFileSync(logPath, 'utf8');
    expect(raw).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z stdout F hello from busybox$/m);
    expect(raw).toMatch(/^\S+ stderr F to stderr$/m);

    const stats = JSON.parse(await crictl('stats', '-o', 'json', ctrId)) as { stats: Array<{ attributes: { id: string }; memory: { workingSetBytes: { value: string } } }> };
    expect(stats.stats[0]?.attributes.id).toBe(ctrId);
    expect(Number(stats.stats[0]?.memory.workingSetBytes.value)).toBeGreaterThan(0);

    // UpdateContainerResources reaches the running task's cgroup and the status.
    await crictl('update', '--memory', String(96 * 1024 * 1024), ctrId);
    const res = (JSON.parse(await crictl('inspect', ctrId)) as { status: { resources: { linux: { memoryLimitInBytes: string } } } }).status.resources.linux;
    expect(Number(res.memoryLimitInBytes)).toBe(96 * 1024 * 1024);
    const limit = await crictl('exec', '-s', ctrId, 'sh', '-c', 'cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max');
    expect(Number(limit)).toBe(96 * 1024 * 1024);

    await crictl('stop', '--timeout', '1', ctrId);
    const stopped = (JSON.parse(await crictl('inspect', ctrId)) as CtrInspect).status;
    expect(stopped.state).toBe('CONTAINER_EXITED');
    // sleep ignores nothing: SIGTERM ends it (exit 143 from the shell's exec'd sleep is a signal: 128+15).
    expect(stopped.exitCode).toBe(143);
    expect(stopped.reason).toBe('Error');
    await crictl('rm', ctrId);
    expect(await crictl('ps', '-a', '-q')).toBe('');

    // While the pod exists, the leftover check sees its pieces (so it can fail).
    const kinds = new Set((await leftovers(podId, inspect.status.network.ip)).map((l) => l.split(' ')[0]));
    expect([...kinds].sort()).toEqual(['a', 'dir', 'ip', 'mount', 'netns', 'veth']);
    await crictl('stopp', podId);
    expect((JSON.parse(await crictl('inspectp', podId)) as PodInspect).status.state).toBe('SANDBOX_NOTREADY');
    // Stopped: the network is gone (IP, veth, netns), the pod's files stay until rmp.
    expect(JSON.parse(await crictl('inspectp', podId)).status.network.ip).toBe('');
    expect((await leftovers(podId, inspect.status.network.ip)).filter((l) => !l.startsWith('dir '))).toEqual([]);
    await crictl('rmp', podId);
    expect(await crictl('pods', '-q')).toBe('');
    expect(await leftovers(podId, inspect.status.network.ip)).toEqual([]);
  });

  it('reports a completed container, ExecSync timeouts and unknown ids as containerd does', async () => {
    const pod = writePodConfig(env, 'done');
    const podId = await crictl('runp', pod.file);
    try {
      const c = writeContainerConfig(env, 'once', env.images.busybox, { command: ['sh', '-c', 'printf "no newline"'] });
      const ctrId = await crictl('create', podId, c.file, pod.file);
      await crictl('start', ctrId);
      await waitFor('exit', async () => (JSON.parse(await crictl('inspect', ctrId)) as CtrInspect).status.state === 'CONTAINER_EXITED');
      const st = (JSON.parse(await crictl('inspect', ctrId)) as CtrInspect).status;
      expect(st.exitCode).toBe(0);
      expect(st.reason).toBe('Completed');
      expect(fs.readFileSync(st.logPath, 'utf8')).toMatch(/^\S+ stdout P no newline\n$/);
      expect(await crictlFails('start', ctrId)).toMatch(/container is in CONTAINER_EXITED state/);

      const s = writeContainerConfig(env, 'sleeper', env.images.busybox, { command: ['sleep', '1000'] });
      const sleeper = await crictl('create', podId, s.file, pod.file);
      await crictl('start', sleeper);
      const t0 = Date.now();
      expect(await crictlFails('exec', '-s', '--timeout', '1', sleeper, 'sleep', '30')).toMatch(/timeout 1s exceeded: context deadline exceeded/);
      expect(Date.now() - t0).toBeLessThan(10_000);
      expect(await crictlFails('inspect', 'ffffffffffff')).toMatch(/not found/i);
    } finally {
      await crictl('stopp', podId);
      await crictl('rmp', podId);
    }
  });

  it('survives berthd restarts (clean stop, then SIGKILL) under running pods and containers, reporting them as before', async () => {
    const pod = writePodConfig(env, 'keep', { labels: { app: 'keep' } });
    const podId = await crictl('runp', pod.file);
    const ticker = writeContainerConfig(env, 'ticker', env.images.busybox, { command: ['sh', '-c', 'i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done'] });
    const tickId = await crictl('create', podId, ticker.file, pod.file);
    await crictl('start', tickId);
    const once = writeContainerConfig(env, 'done', env.images.busybox, { command: ['sh', '-c', 'exit 3'] });
    const onceId = await crictl('create', podId, once.file, pod.file);
    await crictl('start', onceId);
    const late = writeContainerConfig(env, 'late', env.images.busybox, { command: ['sleep', '2'] });
    const lateId = await crictl('create', podId, late.file, pod.file);
    const created = writeContainerConfig(env, 'created', env.images.busybox, { command: ['true'] });
    const createdId = await crictl('create', podId, created.file, pod.file);
    await waitFor('the one-shot container to exit', async () => (JSON.parse(await crictl('inspect', onceId)) as CtrInspect).status.state === 'CONTAINER_EXITED');

    const snapshot = async (): Promise<unknown> => {
      const p = (JSON.parse(await crictl('inspectp', podId)) as PodInspect).status;
      const cs = await Promise.all(
        [tickId, onceId, createdId].map(async (id) => {
          const st = (JSON.parse(await crictl('inspect', id)) as CtrInspect).status;
          return { id: st.id, state: st.state, exitCode: st.exitCode, reason: st.reason, startedAt: st.startedAt, finishedAt: st.finishedAt, logPath: st.logPath };
        }),
      );
      return { pod: { id: p.id, state: p.state, ip: p.network.ip, createdAt: p.createdAt }, containers: cs, pods: await crictl('pods', '-q'), ps: (await crictl('ps', '-a', '-q')).split('\n').sort() };
    };
    const before = await snapshot();

    for (const how of ['stop', 'kill'] as const) {
      if (how === 'stop') await berthd.stop();
      else await berthd.kill();
      if (how === 'kill') {
        // What a crash in the middle of RunPodSandbox can leave: a pod's files and /dev/shm
        // mount and a pinned netns, with no record. The next start removes them.
        const orphan = 'f'.repeat(64);
        const shm = path.join(berthd.state, 'cri', 'sandboxes', orphan, 'shm');
        fs.mkdirSync(shm, { recursive: true });
        fs.mkdirSync(path.join(berthd.root, 'cri', 'sandboxes', orphan), { recursive: true });
        expect((await env.run('mount', ['-t', 'tmpfs', 'shm', shm])).code).toBe(0);
        const pin = path.join(berthd.state, 'cri', 'netns', 'cni-orphan');
        fs.writeFileSync(pin, '');
        expect((await env.run('unshare', [`--net=${pin}`, 'true'])).code).toBe(0);
        await berthd.restart();
        expect(fs.existsSync(path.join(berthd.state, 'cri', 'sandboxes', orphan))).toBe(false);
        expect(fs.existsSync(path.join(berthd.root, 'cri', 'sandboxes', orphan))).toBe(false);
        expect(fs.existsSync(pin)).toBe(false);
        expect(fs.readFileSync(`/proc/${env.holderPid}/mountinfo`, 'utf8')).not.toContain(orphan);
        await berthd.stop();
      }
      if (how === 'stop') {
        // Start the short one first so that it exits while berthd is down.
        await berthd.restart();
        await crictl('start', lateId);
        await berthd.stop();
        await new Promise((r) => setTimeout(r, 2500));
      }
      await berthd.restart();
      expect(await snapshot(), `after ${how}`).toEqual(before);
      // The ticker's output still reaches its log after the restart.
      const logPath = (JSON.parse(await crictl('inspect', tickId)) as CtrInspect).status.logPath;
      const count = (): number => fs.readFileSync(logPath, 'utf8').split('\n').filter((l) => / stdout F tick \d+$/.test(l)).length;
      const n = count();
      await waitFor(`log lines after ${how}`, async () => count() >= n + 3);
      expect(await crictl('exec', '-s', tickId, 'echo', 'alive')).toBe('alive');
    }
    // The container that exited while berthd was down is reported exited, with its code.
    const lateSt = (JSON.parse(await crictl('inspect', lateId)) as CtrInspect).status;
    expect(lateSt.state).toBe('CONTAINER_EXITED');
    expect(lateSt.exitCode).toBe(0);
    expect(lateSt.reason).toBe('Completed');

    const ip = (JSON.parse(await crictl('inspectp', podId)) as PodInspect).status.network.ip;
    await crictl('stopp', podId);
    await crictl('rmp', podId);
    expect(await crictl('pods', '-q')).toBe('');
    expect(await leftovers(podId, ip)).toEqual([]);
  }, 120_000);

  it('rolls back a RunPodSandbox whose CNI ADD fails: no netns, veth, IP, snapshot, record or file left', async () => {
    const conf = path.join(env.cni.confDir, '10-berth-cri-test.conflist');
    const good = fs.readFileSync(conf, 'utf8');
    // The bridge plugin runs (veth made, address taken), then a plugin that does not exist fails the ADD.
    const broken = JSON.parse(criCniConflist(env.cni)) as { plugins: Array<Record<string, unknown>> };
    broken.plugins.push({ type: 'berth-no-such-plugin' });
    fs.writeFileSync(conf, JSON.stringify(broken));
    try {
      const pod = writePodConfig(env, 'broken');
      expect(await crictlFails('runp', pod.file)).toMatch(/failed to setup network for sandbox/);
    } finally {
      fs.writeFileSync(conf, good);
    }
    expect(await crictl('pods', '-q')).toBe('');
    expect(await leftovers('', '')).toEqual([]);
    const records = await ctrOk(berthd.address, ['containers', 'ls', '-q'], { namespace: 'k8s.io' });
    expect(records.stdout.trim()).toBe('');
    const snaps = await ctrOk(berthd.address, ['snapshots', 'ls'], { namespace: 'k8s.io' });
    expect(snaps.stdout).not.toMatch(/Active/);
    // The pause task is created while the network is set up: it is gone too, bundle and all.
    const tasks = await ctrOk(berthd.address, ['tasks', 'ls', '-q'], { namespace: 'k8s.io' });
    expect(tasks.stdout.trim()).toBe('');
    const bundles = path.join(berthd.state, 'tasks', 'k8s.io');
    expect(fs.existsSync(bundles) ? fs.readdirSync(bundles) : []).toEqual([]);
    // And the network works again for the next pod.
    const ok = writePodConfig(env, 'after-broken');
    const podId = await crictl('runp', ok.file);
    await crictl('stopp', podId);
    await crictl('rmp', podId);
  });
});
