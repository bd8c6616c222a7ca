// A private image registry for tests: Debian's docker-registry (distribution 2.8) on
// 127.0.0.1:<free port>, plain HTTP, no auth, storage in a temp dir; images are pushed
// into it from archives with skopeo. Loopback only: nothing here reaches another host.
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as net from 'node:net';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { sleep, spawnProcess, stopChild, type SpawnedProcess } from './process';
import { makeTempRoot } from './tempdir';

export const REGISTRY_BIN = '/usr/bin/docker-registry';
export const SKOPEO_BIN = '/usr/bin/skopeo';

export interface RegistryOptions {
  /** Port to listen on (default: a free one). */
  port?: number;
  /** How long to wait for GET /v2/ (default 20 s). */
  startTimeoutMs?: number;
  /**
   * Command prefix the registry runs under (e.g. nsenter into a private network
   * namespace); the PID is still the registry's when the prefix execs it.
   */
  wrap?: string[];
  /** How GET /v2/ is asked (default: from this process); resolves with the status, 0 when nothing answered. */
  probe?: (url: string) => Promise<number>;
}

export interface RegistryHandle {
  /** "127.0.0.1:PORT": the host part of image references (`${host}/name:tag`). */
  readonly host: string;
  readonly port: number;
  /** "http://127.0.0.1:PORT". */
  readonly url: string;
  readonly pid: number;
  /** Temp dir holding config.yml, storage/, registry.log and skopeo's scratch files. */
  readonly dir: string;
  readonly configPath: string;
  /** Everything the registry printed. */
  logs(): string;
  running(): boolean;
  /** SIGTERM (SIGKILL after timeoutMs) by PID. */
  stop(timeoutMs?: number): Promise<void>;
  /** Stops it and removes its temp dir (storage included). */
  cleanup(): Promise<void>;
}

/** The registry's config.yml. */
export function registryConfig(storageDir: string, port: number): string {
  return `# private docker-registry for berth's tests
version: 0.1
log:
  level: info
  formatter: text
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: ${JSON.stringify(storageDir)}
  delete:
    enabled: true
  redirect:
    disable: true
  maintenance:
    uploadpurging:
      enabled: false
http:
  addr: ${JSON.stringify(`127.0.0.1:${port}`)}
  secret: berth-test-registry
  headers:
    X-Content-Type-Options: [nosniff]
`;
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => (port > 0 ? resolve(port) : reject(new Error('no port'))));
    });
  });
}

/** One GET; resolves with the status code, or 0 when nothing answered. */
export function httpStatus(url: string, timeoutMs = 1_000): Promise<number> {
  return new Promise((resolve) => {
    const req = http.get(url, { timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
  });
}

async function waitForV2(url: string, p: SpawnedProcess, timeoutMs: number, probe: (url: string) => Promise<number>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (p.exitStatus()) {
      const st = await p.exited;
      throw new Error(`docker-registry exited (code ${st.code}, signal ${st.signal}) before ${url}/v2/ answered; output:\n${p.output()}`);
    }
    if ((await probe(`${url}/v2/`)) === 200) return;
    if (Date.now() >= deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${url}/v2/; output so far:\n${p.output()}`);
    }
    await sleep(50);
  }
}

/**
 * Starts `docker-registry serve <tmp>/config.yml` on 127.0.0.1 (a free port unless given)
 * with storage in the temp dir and waits until GET /v2/ answers 200.
 */
export async function startRegistry(opts: RegistryOptions = {}): Promise<RegistryHandle> {
  if (!fs.existsSync(REGISTRY_BIN)) {
    throw new Error(`${REGISTRY_BIN} not found (Debian package docker-registry; run scripts/ensure-deps.sh)`);
  }
  const tmp = makeTempRoot('registry-');
  const storage = path.join(tmp.path, 'storage');
  const configPath = path.join(tmp.path, 'config.yml');
  const logFile = path.join(tmp.path, 'registry.log');
  fs.mkdirSync(storage);
  // Never the system config or env overrides from the caller's environment.
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('REGISTRY_')) env[k] = v;

  let lastErr: unknown;
  for (let attempt = 0; attempt < (opts.port === undefined ? 5 : 1); attempt++) {
    const port = opts.port ?? (await freePort());
    fs.writeFileSync(configPath, registryConfig(storage, port));
    const wrap = opts.wrap ?? [];
    const p = wrap.length > 0 ? spawnProcess(wrap[0]!, [...wrap.slice(1), REGISTRY_BIN, 'serve', configPath], { env, logFile }) : spawnProcess(REGISTRY_BIN, ['serve', configPath], { env, logFile });
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForV2(url, p, opts.startTimeoutMs ?? 20_000, opts.probe ?? ((u) => httpStatus(u)));
    } catch (err) {
      lastErr = err;
      await stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 });
      // Someone took the port between freePort() and the registry's listen(): try another.
      if (/address already in use/.test(p.output())) continue;
      break;
    }
    let cleaned: Promise<void> | undefined;
    const handle: RegistryHandle = {
      host: `127.0.0.1:${port}`,
      port,
      url,
      pid: p.pid,
      dir: tmp.path,
      configPath,
      logs: () => p.output(),
      running: () => p.exitStatus() === undefined,
      async stop(timeoutMs = 10_000): Promise<void> {
        await stopChild(p, { timeoutMs });
      },
      cleanup(): Promise<void> {
        cleaned ??= (async () => {
          await stopChild(p, { timeoutMs: 10_000 });
          await tmp.cleanup();
        })();
        return cleaned;
      },
    };
    return handle;
  }
  await tmp.cleanup();
  throw lastErr instanceof Error ? lastErr : new Error(String(lastErr));
}

export type ArchiveKind = 'oci' | 'docker';

/** 'oci' for an OCI image layout tar (has oci-layout), 'docker' for a `docker save` tar (has manifest.json). */
export async function archiveKind(archivePath: string): Promise<ArchiveKind> {
  const extract = tarStream.extract();
  const input = fs.createReadStream(archivePath);
  try {
    const found = await new Promise<ArchiveKind | undefined>((resolve, reject) => {
      let docker = false;
      extract.on('entry', (h, stream, next) => {
        const name = path.posix.normalize(h.name);
        if (name === 'oci-layout') {
          resolve('oci');
          input.destroy();
          extract.destroy();
          return;
        }
        if (name === 'manifest.json') docker = true;
        stream.on('end', () => next());
        stream.resume();
      });
      extract.on('finish', () => resolve(docker ? 'docker' : undefined));
      extract.on('error', reject);
      input.on('error', reject);
      input.pipe(extract);
    });
    if (!found) throw new Error(`${archivePath} is neither an OCI layout (oci-layout) nor a docker save archive (manifest.json)`);
    return found;
  } finally {
    input.destroy();
  }
}

export interface PushOptions {
  /** Default: detected from the archive. */
  kind?: ArchiveKind;
  /** skopeo --format: the manifest type pushed (default: the source's). */
  format?: 'oci' | 'v2s2';
  /** Kill skopeo after this long (default 120 s). */
  timeoutMs?: number;
  /** Command prefix skopeo runs under (e.g. nsenter into the registry's network namespace). */
  wrap?: string[];
}

export interface PushResult {
  /** "127.0.0.1:PORT/name:tag". */
  ref: string;
  stdout: string;
  stderr: string;
}

/**
 * Pushes an image archive into the registry as `name:tag` (a path below the registry, e.g.
 * "library/busybox:1"): `skopeo copy --dest-tls-verify=false oci-archive:<file>
 * docker://127.0.0.1:PORT/name:tag` (docker-archive: for `docker save` tars). skopeo runs
 * with --insecure-policy (no signature policy), an empty registries.conf, registries.d and
 * auth file, and its scratch files and blob info cache in the registry's temp dir (it
 * writes nothing outside it). Throws with skopeo's output unless it exits 0.
 */
export async function pushArchive(
  registry: Pick<RegistryHandle, 'host' | 'dir'>,
  archivePath: string,
  nameTag: string,
  opts: PushOptions = {},
): Promise<PushResult> {
  if (!fs.existsSync(SKOPEO_BIN)) throw new Error(`${SKOPEO_BIN} not found (Debian package skopeo; run scripts/ensure-deps.sh)`);
  if (/^[^/]*[.:]/.test(nameTag) && nameTag.includes('/')) {
    throw new Error(`pushArchive wants a repository path below the registry ("name:tag"), not a full reference: ${nameTag}`);
  }
  const kind = opts.kind ?? (await archiveKind(archivePath));
  const scratch = path.join(registry.dir, 'skopeo');
  const tmpdir = path.join(scratch, 'tmp');
  fs.mkdirSync(tmpdir, { recursive: true });
  const registriesConf = path.join(scratch, 'registries.conf');
  const authFile = path.join(scratch, 'auth.json');
  if (!fs.existsSync(registriesConf)) fs.writeFileSync(registriesConf, 'unqualified-search-registries = []\n');
  if (!fs.existsSync(authFile)) fs.writeFileSync(authFile, '{"auths":{}}\n');
  const ref = `${registry.host}/${nameTag}`;
  const registriesD = path.join(scratch, 'registries.d');
  fs.mkdirSync(registriesD, { recursive: true });
  const args = ['--insecure-policy', '--registries.d', registriesD, '--tmpdir', tmpdir, 'copy', '--retry-times', '0', '--dest-tls-verify=false', '--dest-authfile', authFile];
  if (opts.format) args.push('--format', opts.format);
  args.push(`${kind === 'oci' ? 'oci-archive' : 'docker-archive'}:${path.resolve(archivePath)}`, `docker://${ref}`);
  const home = path.join(scratch, 'home');
  for (const d of ['data', 'config', 'run']) fs.mkdirSync(path.join(home, d), { recursive: true, mode: 0o700 });
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    CONTAINERS_REGISTRIES_CONF: registriesConf,
    REGISTRY_AUTH_FILE: authFile,
    TMPDIR: tmpdir,
    // As root, skopeo keeps a blob info cache in /var/lib/containers/cache. containers/image
    // takes its "rootless" UID from this variable; with a non-zero one the cache goes to
    // $XDG_DATA_HOME/containers/cache, i.e. into the temp dir, like everything else.
    _CONTAINERS_ROOTLESS_UID: String(process.getuid?.() || 1),
    HOME: home,
    XDG_DATA_HOME: path.join(home, 'data'),
    XDG_CONFIG_HOME: path.join(home, 'config'),
    XDG_RUNTIME_DIR: path.join(home, 'run'),
  };
  const wrap = opts.wrap ?? [];
  const p = wrap.length > 0 ? spawnProcess(wrap[0]!, [...wrap.slice(1), SKOPEO_BIN, ...args], { env }) : spawnProcess(SKOPEO_BIN, args, { env });
  const timer = setTimeout(() => void stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 }), opts.timeoutMs ?? 120_000);
  const st = await p.exited;
  clearTimeout(timer);
  if (st.code !== 0) {
    throw new Error(`skopeo ${args.join(' ')}: exit ${st.code ?? st.signal}\n${p.output()}`);
  }
  return { ref, stdout: p.stdout(), stderr: p.stderr() };
}
