// A private, real containerd 1.6 (/usr/bin/containerd) for a test: the reference daemon
// berth is compared with. Everything it owns lives in one temp dir; it never touches
// /var/lib/containerd or /run/containerd's own root/state/sockets.
//
// Known limits of containerd 1.6's runc shim (not configurable): shim sockets go to
// /run/containerd/s/<sha256 of address+ns+id> (unique per private instance), and runc
// state to /run/containerd/runc/<ns>/<id> unless the task's runc options set a root.
// cleanup() deletes leftover tasks first and then removes exactly those paths of its own.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ctr } from './ctr';
import { startDaemon, type DaemonHandle } from './daemon';
import { makeTempRoot } from './tempdir';

export const CONTAINERD_BIN = '/usr/bin/containerd';

export interface ContainerdOptions {
  /** TOML appended to the generated config (e.g. extra [plugins."…"] tables). */
  extraConfig?: string;
  /** [grpc] tcp_address ("127.0.0.1:<port>"): a plaintext h2c listener, loopback only in tests. */
  tcpAddress?: string;
  /** [metrics] address ("127.0.0.1:<port>"): containerd's Prometheus endpoint (/v1/metrics). */
  metricsAddress?: string;
  /** [metrics] grpc_histogram: the gRPC handling-time histogram. */
  grpcHistogram?: boolean;
  /** Merged over process.env. */
  env?: NodeJS.ProcessEnv;
  /** containerd's --log-level (default 'debug'). */
  logLevel?: 'trace' | 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the socket (default 20 s). */
  startTimeoutMs?: number;
  /**
   * Called once root and state exist, before containerd starts (e.g. to mount a small
   * tmpfs on root); mounts made there are unmounted by cleanup with the rest.
   */
  beforeStart?: (dirs: { root: string; state: string }) => void;
  /** Enable the CRI plugin (disabled otherwise) with these settings. */
  cri?: ContainerdCriOptions;
  /**
   * Command prefix containerd runs under (e.g. nsenter into private namespaces); the prefix
   * must exec containerd, so the PID stopped at cleanup is containerd's own.
   */
  wrap?: string[];
}

/** containerd 1.6's CRI plugin ([plugins."io.containerd.grpc.v1.cri"]) as tests run it. */
export interface ContainerdCriOptions {
  /** sandbox_image, e.g. "registry.k8s.io/pause:3.9" served from a loopback registry. */
  sandboxImage: string;
  /** [cni] bin_dir: the plugins (Debian's containernetworking-plugins: /usr/lib/cni). */
  cniBinDir: string;
  /** [cni] conf_dir: the conflist the pods' networks come from. */
  cniConfDir: string;
  /** [registry] config_path: <host>/hosts.toml files routing registries. */
  registryConfigPath: string;
  /**
   * restrict_oom_score_adj (default true): these machines lack CAP_SYS_RESOURCE, so a
   * container's oom_score_adj must not go below the daemon's (runc fails otherwise).
   */
  restrictOomScoreAdj?: boolean;
}

/** The [plugins."io.containerd.grpc.v1.cri"] tables for ContainerdCriOptions. */
export function containerdCriConfig(cri: ContainerdCriOptions): string {
  const p = '[plugins."io.containerd.grpc.v1.cri"';
  return `  ${p}]
    sandbox_image = ${toml(cri.sandboxImage)}
    restrict_oom_score_adj = ${cri.restrictOomScoreAdj ?? true}
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    enable_tls_streaming = false
    disable_tcp_service = true
    enable_selinux = false
    max_container_log_line_size = 16384
    ${p}.containerd]
      snapshotter = "overlayfs"
      default_runtime_name = "runc"
      ${p}.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
    ${p}.cni]
      bin_dir = ${toml(cri.cniBinDir)}
      conf_dir = ${toml(cri.cniConfDir)}
      max_conf_num = 1
    ${p}.registry]
      config_path = ${toml(cri.registryConfigPath)}
`;
}

export interface ContainerdHandle extends DaemonHandle {
  readonly root: string;
  readonly state: string;
  /** <address>.ttrpc — where shims forward events. */
  readonly ttrpcAddress: string;
  readonly configPath: string;
  /** The temp dir holding everything. */
  readonly dir: string;
  readonly logFile: string;
}

const toml = (s: string): string => JSON.stringify(s);

/** The config used by startContainerd, for a given temp dir. */
export function containerdConfig(dir: string, extra = '', tcpAddress = '', cri?: ContainerdCriOptions, metrics: { address?: string; grpcHistogram?: boolean } = {}): string {
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  const address = path.join(dir, 'containerd.sock');
  return `# private containerd for berth's tests
version = 2
root = ${toml(root)}
state = ${toml(state)}
temp = ${toml(path.join(dir, 'tmp'))}
plugin_dir = ""
disabled_plugins = [
${cri ? '' : '  "io.containerd.grpc.v1.cri",\n'}  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
  "io.containerd.internal.v1.tracing",
]
required_plugins = []
oom_score = 0

[grpc]
  address = ${toml(address)}
  tcp_address = ${toml(tcpAddress)}

[ttrpc]
  address = ${toml(address + '.ttrpc')}

[debug]
  address = ""

[metrics]
  address = ${toml(metrics.address ?? '')}
  grpc_histogram = ${metrics.grpcHistogram === true}

[plugins]
  [plugins."io.containerd.internal.v1.opt"]
    path = ${toml(path.join(dir, 'opt'))}
  [plugins."io.containerd.runtime.v1.linux"]
    runtime_root = ${toml(path.join(state, 'runc-v1'))}
${cri ? containerdCriConfig(cri) : ''}${extra}
`;
}

function run(cmd: string, args: string[], timeoutMs = 15_000): Promise<number> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: timeoutMs }, (err) => {
      resolve(err ? (typeof err.code === 'number' ? err.code : 1) : 0);
    });
  });
}

interface Bundle {
  ns: string;
  id: string;
  dir: string;
}

/** Task bundles (runtime v2) that exist under a containerd state dir. */
function listBundles(state: string): Bundle[] {
  const base = path.join(state, 'io.containerd.runtime.v2.task');
  const out: Bundle[] = [];
  let nss: string[] = [];
  try {
    nss = fs.readdirSync(base);
  } catch {
    return out;
  }
  for (const ns of nss) {
    let ids: string[] = [];
    try {
      ids = fs.readdirSync(path.join(base, ns));
    } catch {
      continue;
    }
    for (const id of ids) out.push({ ns, id, dir: path.join(base, ns, id) });
  }
  return out;
}

const SHIM_SOCKET = /^unix:\/\/(\/run\/containerd\/s\/[0-9a-f]{64})$/;

/**
 * Starts /usr/bin/containerd with a generated config (root, state, temp, opt, gRPC and
 * ttrpc sockets all in one temp dir; CRI disabled unless opts.cri; no debug listener, a
 * metrics listener only with metricsAddress) and waits
 * until its gRPC socket accepts connections.
 */
export async function startContainerd(opts: ContainerdOptions = {}): Promise<ContainerdHandle> {
  const tmp = makeTempRoot('ctrd-');
  const dir = tmp.path;
  const root = path.join(dir, 'root');
  const state = path.join(dir, 'state');
  const address = path.join(dir, 'containerd.sock');
  const configPath = path.join(dir, 'config.toml');
  const logFile = path.join(dir, 'containerd.log');
  for (const d of [root, state, path.join(dir, 'tmp'), path.join(dir, 'opt')]) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(configPath, containerdConfig(dir, opts.extraConfig, opts.tcpAddress, opts.cri, { address: opts.metricsAddress, grpcHistogram: opts.grpcHistogram }));
  opts.beforeStart?.({ root, state });

  // Shim sockets and runc state dirs outside the temp dir that belong to this instance,
  // collected while the bundles still exist.
  const outside = new Set<string>();
  const collectOutside = (): void => {
    for (const b of listBundles(state)) {
      try {
        const m = SHIM_SOCKET.exec(fs.readFileSync(path.join(b.dir, 'address'), 'utf8').trim());
        if (m?.[1]) outside.add(m[1]);
      } catch {
        // no shim address (yet)
      }
    }
  };

  const env: NodeJS.ProcessEnv = { ...process.env, ...opts.env };
  // runc and the shims are found through PATH; make sure the sbin dirs are there.
  env.PATH = [env.PATH ?? '', '/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin']
    .filter((p) => p !== '')
    .join(':');

  const daemon = await startDaemon({
    name: 'containerd',
    command: opts.wrap?.[0] ?? CONTAINERD_BIN,
    args: [...(opts.wrap?.slice(1) ?? []), ...(opts.wrap?.length ? [CONTAINERD_BIN] : []), '--config', configPath, '--log-level', opts.logLevel ?? 'debug'],
    env,
    address,
    tempRoot: tmp,
    mountDirs: [root, state],
    logFile,
    startTimeoutMs: opts.startTimeoutMs,
    beforeStop: async (h) => {
      collectOutside();
      // Let containerd kill and delete leftover tasks itself: that also removes the runc
      // state, the shim, its socket and the rootfs mount.
      for (const b of listBundles(state)) {
        await ctr(h.address, ['tasks', 'delete', '--force', b.id], { namespace: b.ns, timeoutMs: 15_000 });
      }
    },
    afterStop: async () => {
      collectOutside();
      // Whatever survived (containerd was killed, a delete failed): runc state of our
      // containers, then shim sockets. Only paths provably ours are touched.
      for (const b of listBundles(state)) {
        const runcRoot = path.join('/run/containerd/runc', b.ns);
        const stateJson = path.join(runcRoot, b.id, 'state.json');
        try {
          if (fs.readFileSync(stateJson, 'utf8').includes(b.dir)) {
            await run(fs.existsSync('/usr/sbin/runc') ? '/usr/sbin/runc' : 'runc', ['--root', runcRoot, 'delete', '--force', b.id]);
          }
        } catch {
          // no runc state for it
        }
      }
      for (const sock of outside) fs.rmSync(sock, { force: true });
    },
  });
  const extra: Omit<ContainerdHandle, keyof DaemonHandle> = {
    root,
    state,
    ttrpcAddress: address + '.ttrpc',
    configPath,
    dir,
    logFile,
  };
  return Object.assign(daemon, extra);
}
