// The same pod and container, with a config that touches most of what CRI turns into an OCI
// spec, on berthd and on containerd 1.6.20's CRI plugin in one CRI environment: the pause
// and container specs (ids and daemon paths masked), the statuses, and what the container
// sees from inside must be the same.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BerthdHandle, ContainerdHandle } from '../harness';
import { startCriBerthd, startCriContainerd } from '../harness/cri-daemons';
import { startCriEnv, type CriEnv } from '../harness/cri-env';
import { CriClient, type CriCallError } from './cri-grpc';

let env: CriEnv;
let berthd: BerthdHandle;
let ctrd: ContainerdHandle;

interface Side {
  name: string;
  address: string;
}

async function crictl(side: Side, ...args: string[]): Promise<string> {
  const r = await env.crictl(side.address, args, { timeoutMs: 60_000 });
  if (r.code !== 0) throw new Error(`${side.name}: crictl ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stdout}${r.stderr}`);
  return r.stdout.trim();
}

/** Masks what differs by design: ids, netns and state paths, times, the pod IP. */
function mask(v: unknown, ids: Record<string, string>): unknown {
  let text = JSON.stringify(v);
  for (const [id, name] of Object.entries(ids)) text = text.split(id).join(name);
  text = text
    .replace(/"[^"]*\/netns\/cni-[0-9a-f-]+"/g, '"<netns>"')
    .replace(/"[^"]*\/sandboxes\/(<[a-z]+>)\/(hostname|hosts|resolv\.conf|shm)"/g, '"<sandbox-dir>/$1/$2"')
    .replace(/"\/proc\/\d+\/ns\/(\w+)"/g, '"/proc/<pid>/ns/$1"');
  return JSON.parse(text) as unknown;
}

interface RunResult {
  pod: unknown;
  podStatus: unknown;
  ctr: unknown;
  ctrStatus: unknown;
  inside: string;
}

async function runOn(side: Side, hostDir: string): Promise<RunResult> {
  const logDir = path.join(env.dir, `logs-${side.name}`);
  fs.mkdirSync(logDir, { recursive: true });
  const podCfg = {
    metadata: { name: 'pair', namespace: 'berth-pair', uid: 'pair-uid', attempt: 1 },
    hostname: 'pairhost',
    log_directory: logDir,
    dns_config: { servers: ['198.18.0.53'], searches: ['pair.local'], options: ['ndots:2'] },
    labels: { app: 'pair' },
    annotations: { 'example.com/note': 'kept' },
    linux: { cgroup_parent: '/berth-pair', sysctls: { 'net.ipv4.ip_forward': '1' }, security_context: { supplemental_groups: [1234] } },
  };
  const ctrCfg = {
    metadata: { name: 'main', attempt: 2 },
    image: { image: env.images.busybox },
    command: ['sh', '-c'],
    args: ['echo started; exec sleep 1000'],
    working_dir: '/tmp',
    envs: [{ key: 'FOO', value: 'bar' }, { key: 'PATH', value: '/bin:/usr/bin' }],
    mounts: [
      { container_path: '/data-ro', host_path: hostDir, readonly: true },
      { container_path: '/data-rw', host_path: hostDir },
    ],
    labels: { tier: 'main' },
    annotations: { 'example.com/c': 'yes' },
    log_path: 'main.log',
    linux: {
      resources: { cpu_shares: 512, cpu_quota: 50000, cpu_period: 100000, memory_limit_in_bytes: 64 * 1024 * 1024, oom_score_adj: 500 },
      security_context: {
        run_as_user: { value: 1000 },
        run_as_group: { value: 1000 },
        supplemental_groups: [2000],
        capabilities: { add_capabilities: ['NET_ADMIN'], drop_capabilities: ['CHOWN'] },
        masked_paths: ['/proc/kcore'],
        readonly_paths: ['/proc/sys'],
        no_new_privs: true,
      },
    },
  };
  const podFile = path.join(env.dir, `pod-${side.name}.json`);
  const ctrFile = path.join(env.dir, `ctr-${side.name}.json`);
  fs.writeFileSync(podFile, JSON.stringify(podCfg));
  fs.writeFileSync(ctrFile, JSON.stringify(ctrCfg));
  await crictl(side, 'pull', env.images.busybox);
  const podId = await crictl(side, 'runp', podFile);
  const ctrId = await crictl(side, 'create', podId, ctrFile, podFile);
  await crictl(side, 'start', ctrId);
  const pod = JSON.parse(await crictl(side, 'inspectp', podId)) as { status: Record<string, unknown>; info: { runtimeSpec: unknown } };
  const ctr = JSON.parse(await crictl(side, 'inspect', ctrId)) as { status: Record<string, unknown>; info: { runtimeSpec: unknown } };
  const inside = await crictl(side, 'exec', '-s', ctrId, 'sh', '-c', 'id; pwd; hostname; echo $FOO $PATH $HOSTNAME; cat /etc/resolv.conf; grep -E "^Cap(Eff|Bnd)|^NoNewPrivs" /proc/self/status; cat /proc/self/oom_score_adj; touch /data-ro/x 2>&1 | sed "s/.*: //"; mount | grep -E " /(data-r[ow]|dev/shm|etc/hosts) " | cut -d" " -f3,6 | sort');
  const ids = { [podId]: '<pod>', [ctrId]: '<ctr>', [logDir]: '<logs>' };
  const ps = pod.status;
  const cs = ctr.status;
  const result: RunResult = {
    pod: mask(pod.info.runtimeSpec, ids),
    podStatus: mask({ state: ps.state, metadata: ps.metadata, labels: ps.labels, annotations: ps.annotations, linux: ps.linux }, ids),
    ctr: mask(ctr.info.runtimeSpec, ids),
    ctrStatus: mask(
      { state: cs.state, metadata: cs.metadata, labels: cs.labels, annotations: cs.annotations, mounts: cs.mounts, logPath: cs.logPath, resources: cs.resources, image: cs.image },
      ids,
    ),
    inside,
  };
  await crictl(side, 'stopp', podId);
  await crictl(side, 'rmp', podId);
  return result;
}

describe('CRI pods side by side: berthd and containerd 1.6.20', () => {
  let b: RunResult;
  let c: RunResult;

  beforeAll(async () => {
    env = await startCriEnv();
    ctrd = await startCriContainerd(env);
    berthd = await startCriBerthd(env);
    const hostDir = path.join(env.dir, 'volume');
    fs.mkdirSync(hostDir, { recursive: true });
    c = await runOn({ name: 'containerd', address: ctrd.address }, hostDir);
    b = await runOn({ name: 'berthd', address: berthd.address }, hostDir);
  }, 240_000);

  afterAll(async () => {
    await berthd?.cleanup();
    await ctrd?.cleanup();
    await env?.cleanup();
  }, 60_000);

  it('builds the same pause container spec', () => {
    expect(b.pod).toEqual(c.pod);
  });

  it('builds the same container spec', () => {
    expect(b.ctr).toEqual(c.ctr);
    // The specs compared are the real thing, not two empty answers.
    const spec = b.ctr as { process: { args: string[]; user: { uid: number } }; linux: { resources: { memory: { limit: number } }; namespaces: unknown[] } };
    expect(spec.process.args).toEqual(['sh', '-c', 'echo started; exec sleep 1000']);
    expect(spec.process.user.uid).toBe(1000);
    expect(spec.linux.resources.memory.limit).toBe(64 * 1024 * 1024);
    expect(spec.linux.namespaces).toContainEqual({ type: 'network', path: '/proc/<pid>/ns/net' });
  });

  it('reports the same pod and container status', () => {
    expect(b.podStatus).toEqual(c.podStatus);
    expect(b.ctrStatus).toEqual(c.ctrStatus);
  });

  it('answers Stop/Remove of unknown ids: OK on berthd as the CRI asks (containerd 1.6.20: NotFound for the two Stops)', async () => {
    const answer = async (cri: CriClient, method: string, req: object): Promise<string> => {
      try {
        await cri.runtimeCall(method, req);
        return 'OK';
      } catch (err) {
        return `code ${(err as CriCallError).code}`;
      }
    };
    const calls = async (address: string): Promise<Record<string, string>> => {
      const cri = new CriClient(address);
      try {
        // critest's Idempotence specs use a fresh UUID each; an id prefix of nothing known.
        const id = crypto.randomUUID();
        return {
          StopPodSandbox: await answer(cri, 'StopPodSandbox', { pod_sandbox_id: id }),
          RemovePodSandbox: await answer(cri, 'RemovePodSandbox', { pod_sandbox_id: id }),
          StopContainer: await answer(cri, 'StopContainer', { container_id: id, timeout: 0 }),
          RemoveContainer: await answer(cri, 'RemoveContainer', { container_id: id }),
        };
      } finally {
        cri.close();
      }
    };
    expect(await calls(berthd.address)).toEqual({ StopPodSandbox: 'OK', RemovePodSandbox: 'OK', StopContainer: 'OK', RemoveContainer: 'OK' });
    expect(await calls(ctrd.address)).toEqual({ StopPodSandbox: 'code 5', RemovePodSandbox: 'OK', StopContainer: 'code 5', RemoveContainer: 'OK' });
  });

  it('GetContainerEvents: a stream on berthd (test/e2e/cri-events-stats.test.ts has its events), Unimplemented on containerd 1.6.20', async () => {
    const open = async (address: string): Promise<string> => {
      const cri = new CriClient(address);
      try {
        const s = cri.runtimeStream('GetContainerEvents', {}, () => undefined);
        const early = await Promise.race([s.ended, new Promise<'open'>((r) => setTimeout(() => r('open'), 1000))]);
        s.cancel();
        return early === 'open' ? 'open' : early === null ? 'ended OK' : `code ${early.code}`;
      } finally {
        cri.close();
      }
    };
    expect(await open(berthd.address)).toBe('open');
    expect(await open(ctrd.address)).toBe('code 12');
  });

  it('gives the container the same view from inside', () => {
    expect(b.inside).toEqual(c.inside);
    expect(b.inside).toContain('uid=1000 gid=1000');
    expect(b.inside).toContain('search pair.local');
  });
});
