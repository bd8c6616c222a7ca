// A private, offline environment for CRI tests: the daemon under test, a loopback image
// registry, critest and crictl all run inside one set of private network, mount and IPC
// namespaces, held open by one `unshare` process and entered with `nsenter`.
//
// Inside:
// - the network namespace has only `lo` (up) and the CNI bridge the pods hang off (a private
//   test range, no masquerade, no interface to the outside): nothing can leave the machine;
// - the mount namespace is rshared below / (critest's rshared propagation spec needs a
//   shared host side), with a tmpfs over /run (containerd 1.6 puts shim sockets in
//   /run/containerd/s and pod network namespaces in /run/netns whatever its state dir) and
//   an overlay over /var/lib whose upper layer is in that tmpfs (libcni's result cache goes
//   to /var/lib/cni): the host's files stay visible, nothing written there reaches the
//   host, and all of it vanishes with the namespace;
// - the IPC namespace is the "host" IPC namespace of hostIPC pods (critest's ipcmk);
// - docker-registry on 127.0.0.1:5000 holds the images critest hard-codes and the sandbox
//   image (test/harness/cri-images.ts), under their upstream repository paths;
// - certs.d/<host>/hosts.toml routes registry.k8s.io, gcr.io and docker.io to it (a
//   `server` and a host entry for the loopback registry: the upstream is never tried).
// cleanup() stops, by PID, every process still in the namespaces (they are all the test's
// own: the daemons, their shims and containers, the registry), then the holder, and
// removes the temp dir.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type ContainerdCriOptions } from './containerd';
import { pushCriTestImages, type CriImageRefs } from './cri-images';
import { criTools } from './cri-tools';
import { isAlive, sleep, spawnProcess, stopPid, type SpawnedProcess, type SpawnProcessOptions } from './process';
import { startRegistry, type RegistryHandle } from './registry';
import { makeTempRoot } from './tempdir';

export const NSENTER_BIN = '/usr/bin/nsenter';
export const UNSHARE_BIN = '/usr/bin/unshare';
/** Where Debian's containernetworking-plugins installs bridge, host-local, portmap, loopback. */
export const CNI_BIN_DIR = '/usr/lib/cni';
/** The registry's address inside the private network namespace (nothing else listens there). */
export const CRI_REGISTRY_HOST = '127.0.0.1:5000';
/**
 * The pods' network: 198.18.0.0/15 is reserved for network benchmark tests (RFC 2544), so
 * it is never a real network this machine talks to; it exists only on the private bridge.
 */
export const CRI_POD_SUBNET = '198.18.0.0/16';
export const CRI_BRIDGE = 'berthcri0';
/** Hosts whose images the environment serves from the loopback registry. */
export const ROUTED_REGISTRY_HOSTS = ['registry.k8s.io', 'gcr.io', 'docker.io'];

export interface CriCniDirs {
  /** The plugins (bridge, host-local, portmap, loopback). */
  binDir: string;
  /** Holds one conflist: bridge (host-local IPAM) + portmap. */
  confDir: string;
  /** host-local's IP allocations (in the temp dir, not /var/lib/cni/networks). */
  dataDir: string;
  subnet: string;
  bridge: string;
}

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

export interface CriEnvRunOptions extends Omit<SpawnProcessOptions, 'cwd'> {
  /** Kill (SIGKILL, by PID) after this long; default 60 s. */
  timeoutMs?: number;
  /** Working directory inside the namespaces. */
  cwd?: string;
}

export interface CrictlOptions extends CriEnvRunOptions {
  /** Image service endpoint when it is not the runtime's. */
  imageEndpoint?: string;
}

export interface CriEnv {
  /** Temp dir holding everything of the environment. */
  readonly dir: string;
  /** PID of the holder process whose namespaces everything enters. */
  readonly holderPid: number;
  /** Command prefix that runs a command inside the namespaces: nsenter --target … -- */
  readonly wrap: string[];
  readonly registry: RegistryHandle;
  readonly images: CriImageRefs;
  readonly cni: CriCniDirs;
  /** <host>/hosts.toml files (containerd's registry config_path format). */
  readonly registryConfigPath: string;
  /** Settings for startContainerd({ cri }) in this environment. */
  containerdCri(): ContainerdCriOptions;
  /** berthd's [cri] section for this environment (issue 13's keys). */
  berthdCriToml(): string;
  /** Spawns a command inside the namespaces (the PID is the command's: nsenter execs it). */
  spawn(command: string, args: string[], opts?: CriEnvRunOptions): SpawnedProcess;
  /** Runs a command inside the namespaces to its end; never rejects on exit≠0. */
  run(command: string, args: string[], opts?: CriEnvRunOptions): Promise<RunResult>;
  /** crictl against a CRI endpoint (a unix socket path or unix:// URL), inside the namespaces. */
  crictl(endpoint: string, args: string[], opts?: CrictlOptions): Promise<RunResult>;
  /** Stops everything in the namespaces by PID, the holder, and removes the temp dir. */
  cleanup(): Promise<void>;
}

export interface CriEnvOptions {
  /** Build and push the test images (default true). */
  images?: boolean;
}

/** `unix://<path>` for a socket path (kept as is when already a URL). */
export function unixEndpoint(address: string): string {
  return address.includes('://') ? address : `unix://${address}`;
}

/** The bridge + portmap conflist of the environment's pod network. */
export function criCniConflist(cni: Omit<CriCniDirs, 'binDir' | 'confDir'>): string {
  return (
    JSON.stringify(
      {
        cniVersion: '1.0.0',
        name: 'berth-cri-test',
        plugins: [
          {
            type: 'bridge',
            bridge: cni.bridge,
            isGateway: true,
            ipMasq: false, // no NAT: pod traffic has nowhere to go but the bridge
            hairpinMode: true,
            ipam: {
              type: 'host-local',
              ranges: [[{ subnet: cni.subnet }]],
              routes: [{ dst: '0.0.0.0/0' }],
              dataDir: cni.dataDir,
            },
          },
          { type: 'portmap', capabilities: { portMappings: true } },
        ],
      },
      null,
      2,
    ) + '\n'
  );
}

/** hosts.toml routing one upstream host to the loopback registry over plain HTTP. */
export function loopbackHostsToml(registryHost: string): string {
  const url = `http://${registryHost}`;
  return `# routes this host's images to the test's loopback registry; the upstream is never tried
server = ${JSON.stringify(url)}

[host.${JSON.stringify(url)}]
  capabilities = ["pull", "resolve"]
`;
}

/**
 * Script the holder runs: set the namespaces up, say "ready", then sleep until killed.
 * Nothing is created on the host: /var/lib/cni exists only in the overlay (a mount point
 * made on the host would be shared by concurrent environments, and removing it in one
 * would detach the others' mounts).
 */
const HOLDER_SCRIPT = `set -e
ip link set lo up
mount --make-rshared /
mount -t tmpfs -o mode=0755,size=256m berth-cri-run /run
mkdir -p /run/netns /run/containerd /run/berth /run/.berth-cri/var-lib /run/.berth-cri/var-lib-work
mount -t overlay -o lowerdir=/var/lib,upperdir=/run/.berth-cri/var-lib,workdir=/run/.berth-cri/var-lib-work berth-cri-var-lib /var/lib
mkdir -p /var/lib/cni
echo ready
exec sleep infinity
`;

/** Inode of a process's namespace of a kind ("net"), or undefined when it is gone. */
function nsInode(pid: number | 'self', kind: string): string | undefined {
  try {
    return fs.readlinkSync(`/proc/${pid}/ns/${kind}`);
  } catch {
    return undefined;
  }
}

function parentPid(pid: number): number | undefined {
  try {
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; ppid follows the last ")".
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

/**
 * PIDs (other than the holder) that belong to the environment: those in the holder's
 * network namespace (daemons, shims, registry, host-network pods), and their descendants
 * (containers in pods' own network namespaces, whose parent is a shim).
 */
function pidsOfEnvironment(holderPid: number): number[] {
  const target = nsInode(holderPid, 'net');
  if (!target || target === nsInode('self', 'net')) return [];
  const parents = new Map<number, number | undefined>();
  const ours = new Set<number>();
  for (const e of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === holderPid) continue;
    if (nsInode(pid, 'net') === target) ours.add(pid);
    else parents.set(pid, parentPid(pid));
  }
  for (let grew = true; grew; ) {
    grew = false;
    for (const [pid, ppid] of parents) {
      if (ppid !== undefined && ours.has(ppid)) {
        ours.add(pid);
        parents.delete(pid);
        grew = true;
      }
    }
  }
  return [...ours];
}

/** Waits for a line on a process's stdout (or its exit). */
async function waitForLine(p: SpawnedProcess, line: string, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.stdout().split('\n').includes(line)) return;
    if (p.exitStatus()) throw new Error(`namespace holder exited before it was ready:\n${p.output()}`);
    if (Date.now() > deadline) throw new Error(`namespace holder not ready after ${timeoutMs} ms:\n${p.output()}`);
    await sleep(20);
  }
}

/** Starts the environment: namespaces, CNI config, registry with the test images, hosts.toml. */
export async function startCriEnv(opts: CriEnvOptions = {}): Promise<CriEnv> {
  for (const bin of [NSENTER_BIN, UNSHARE_BIN, path.join(CNI_BIN_DIR, 'bridge'), path.join(CNI_BIN_DIR, 'portmap')]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} not found; run scripts/ensure-deps.sh`);
  }
  const tmp = makeTempRoot('cri-env-');
  const dir = tmp.path;
  // No --fork: unshare execs sh in the new namespaces, so the holder's PID is the one
  // every nsenter targets and the one cleanup stops.
  const holder = spawnProcess(UNSHARE_BIN, ['--net', '--mount', '--ipc', '--propagation', 'private', '--', '/bin/sh', '-c', HOLDER_SCRIPT]);
  let registry: RegistryHandle | undefined;
  const wrap = [NSENTER_BIN, '--target', String(holder.pid), '--net', '--mount', '--ipc', '--'];
  // A working directory is entered by a shell inside (then exec'd away, so the PID stays
  // the command's): nsenter --wd opens the directory before it enters the mount namespace,
  // which leaves the process a cwd outside its root ("(unreachable)/…" to getcwd).
  const wrapIn = (cwd?: string): string[] => (cwd ? [...wrap, '/bin/sh', '-c', 'cd -- "$0" && exec "$@"', cwd] : wrap);

  const cleanup = async (): Promise<void> => {
    const errors: string[] = [];
    if (registry) await registry.cleanup().catch((e: unknown) => errors.push(`registry: ${String(e)}`));
    // What is left inside is the test's own (daemons, shims, containers): stop them by PID.
    for (let round = 0; round < 3; round++) {
      const pids = isAlive(holder.pid) ? pidsOfEnvironment(holder.pid) : [];
      if (pids.length === 0) break;
      await Promise.all(pids.map((pid) => stopPid(pid, 3_000).catch(() => undefined)));
    }
    if (holder.exitStatus() === undefined) {
      try {
        process.kill(holder.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    await holder.exited;
    await tmp.cleanup().catch((e: unknown) => errors.push(`remove ${dir}: ${String(e)}`));
    if (errors.length > 0) throw new Error(`CRI environment cleanup: ${errors.join('; ')}`);
  };

  const spawn = (command: string, args: string[], o: CriEnvRunOptions = {}): SpawnedProcess => {
    const { cwd, timeoutMs: _t, ...rest } = o;
    const w = wrapIn(cwd);
    return spawnProcess(w[0]!, [...w.slice(1), command, ...args], rest);
  };
  const run = async (command: string, args: string[], o: CriEnvRunOptions = {}): Promise<RunResult> => {
    const p = spawn(command, args, o);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        // gone
      }
    }, o.timeoutMs ?? 60_000);
    const st = await p.exited;
    clearTimeout(timer);
    return { code: st.code, signal: st.signal, stdout: p.stdout(), stderr: p.stderr(), timedOut };
  };

  try {
    await waitForLine(holder, 'ready', 15_000);

    const cni: CriCniDirs = {
      binDir: CNI_BIN_DIR,
      confDir: path.join(dir, 'cni', 'net.d'),
      dataDir: path.join(dir, 'cni', 'ipam'),
      subnet: CRI_POD_SUBNET,
      bridge: CRI_BRIDGE,
    };
    fs.mkdirSync(cni.confDir, { recursive: true });
    fs.mkdirSync(cni.dataDir, { recursive: true });
    fs.writeFileSync(path.join(cni.confDir, '10-berth-cri-test.conflist'), criCniConflist(cni));

    const registryConfigPath = path.join(dir, 'certs.d');
    for (const host of ROUTED_REGISTRY_HOSTS) {
      fs.mkdirSync(path.join(registryConfigPath, host), { recursive: true });
      fs.writeFileSync(path.join(registryConfigPath, host, 'hosts.toml'), loopbackHostsToml(CRI_REGISTRY_HOST));
    }

    // The registry listens on the namespace's loopback; whether it answers is asked from
    // inside too (node, entered into the network namespace only).
    const probe = async (url: string): Promise<number> => {
      const r = await run(process.execPath, ['-e', `require('http').get(${JSON.stringify(url)}, (r) => { console.log(r.statusCode); r.resume(); }).on('error', () => console.log(0))`], { timeoutMs: 10_000 });
      return Number(r.stdout.trim()) || 0;
    };
    registry = await startRegistry({ port: Number(CRI_REGISTRY_HOST.split(':')[1]), wrap, probe });

    const images: CriImageRefs =
      opts.images === false
        ? { pause: 'registry.k8s.io/pause:3.9', busybox: '', webServer: '', httpd: '', all: [] }
        : await pushCriTestImages(registry, { wrap, scratchDir: path.join(dir, 'image-archives') });

    const env: CriEnv = {
      dir,
      holderPid: holder.pid,
      wrap,
      registry,
      images,
      cni,
      registryConfigPath,
      containerdCri: () => ({
        sandboxImage: images.pause,
        cniBinDir: cni.binDir,
        cniConfDir: cni.confDir,
        registryConfigPath,
        restrictOomScoreAdj: true,
      }),
      berthdCriToml: () =>
        `[cri]
  enabled = true
  sandbox_image = ${JSON.stringify(images.pause)}
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [cri.cni]
    bin_dir = ${JSON.stringify(cni.binDir)}
    conf_dir = ${JSON.stringify(cni.confDir)}
  [cri.registry]
    config_path = ${JSON.stringify(registryConfigPath)}
`,
      spawn,
      run,
      crictl: async (endpoint: string, args: string[], o: CrictlOptions = {}): Promise<RunResult> => {
        const tools = criTools();
        const runtime = unixEndpoint(endpoint);
        const image = unixEndpoint(o.imageEndpoint ?? endpoint);
        // A config file of its own, so crictl never reads /etc/crictl.yaml.
        const config = path.join(dir, `crictl-${Buffer.from(runtime + image).toString('hex').slice(-32)}.yaml`);
        if (!fs.existsSync(config)) {
          fs.writeFileSync(config, `runtime-endpoint: ${runtime}\nimage-endpoint: ${image}\ntimeout: 60\ndebug: false\npull-image-on-create: false\n`);
        }
        return run(tools.crictl, ['--config', config, '--runtime-endpoint', runtime, '--image-endpoint', image, ...args], o);
      },
      cleanup,
    };
    return env;
  } catch (err) {
    await cleanup().catch(() => undefined);
    throw err;
  }
}
