// Go test programs (test/go/<name>/, package main) built against the containerd 1.6 Go
// client from Debian's /usr/share/gocode (golang-go, golang-github-containerd-containerd-dev):
// GOPATH mode, no modules, no network. Binaries are cached under
// os.tmpdir()/berth-go-cache/<sha256 of the sources + toolchain>/, so only the first run
// on a machine pays for the build (tens of seconds on 2 cores); Go's build cache lives
// there too, so a changed program rebuilds quickly.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './berthd';
import { isAlive, sleep, spawnProcess, stopChild } from './process';

export const GO_BIN = '/usr/bin/go';
export const GOCODE = '/usr/share/gocode';
/** Where test/go programs live. */
export const GO_PROGRAMS_DIR = path.join(REPO_ROOT, 'test', 'go');

/** os.tmpdir()/berth-go-cache: binaries (<sha>/<name>) and Go's build cache (gocache/). */
export function goCacheDir(): string {
  return path.join(fs.realpathSync(os.tmpdir()), 'berth-go-cache');
}

export interface BuildGoOptions {
  /** Kill the build after this long (default 10 min). */
  timeoutMs?: number;
  /** Ignore a cached binary (it is replaced). */
  force?: boolean;
}

/** "basic", "test/go/basic" or an absolute path → the program's directory. */
export function goProgramDir(dir: string): string {
  if (path.isAbsolute(dir)) return dir;
  const fromRepo = path.join(REPO_ROOT, dir);
  if (fs.existsSync(fromRepo)) return fromRepo;
  return path.join(GO_PROGRAMS_DIR, dir);
}

function sourceFiles(dir: string): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && !e.name.endsWith('_test.go'))
    .map((e) => e.name)
    .sort();
}

/** What a cached binary depends on: the sources, the Go toolchain and the Go packages from Debian. */
function cacheKey(dir: string, files: string[]): string {
  const h = crypto.createHash('sha256');
  h.update('berth-go-cache v1\0');
  for (const f of files) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(dir, f)));
    h.update('\0');
  }
  for (const marker of [
    '/usr/lib/go/VERSION',
    path.join(GOCODE, 'src/github.com/containerd/containerd/client.go'),
    path.join(GOCODE, 'src/google.golang.org/grpc/server.go'),
  ]) {
    try {
      const st = fs.statSync(marker);
      h.update(`${marker} ${st.size} ${st.mtimeMs}\0`);
      if (marker.endsWith('VERSION')) h.update(fs.readFileSync(marker));
    } catch {
      h.update(`${marker} missing\0`);
    }
  }
  return h.digest('hex');
}

/** The environment of `go build`: GOPATH mode against /usr/share/gocode, offline, static. */
export function goBuildEnv(gopath: string): NodeJS.ProcessEnv {
  const cache = goCacheDir();
  return {
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? cache,
    GO111MODULE: 'off',
    GOFLAGS: '-mod=mod',
    GOPATH: `${gopath}:${GOCODE}`,
    GOCACHE: path.join(cache, 'gocache'),
    GOPROXY: 'off',
    CGO_ENABLED: '0',
  };
}

const inProcess = new Map<string, Promise<string>>();

/**
 * Compiles the Go program in dir (package main; "basic", "test/go/basic" or an absolute
 * path) and resolves with the path of the binary. Cached across runs by the sha256 of its
 * sources; concurrent callers (other test files) build one at a time and never race.
 */
export function buildGoProgram(dir: string, opts: BuildGoOptions = {}): Promise<string> {
  const abs = goProgramDir(dir);
  const memo = inProcess.get(abs);
  if (memo && !opts.force) return memo;
  const p = buildUncached(abs, opts);
  inProcess.set(abs, p);
  p.catch(() => inProcess.delete(abs));
  return p;
}

async function buildUncached(dir: string, opts: BuildGoOptions): Promise<string> {
  if (!fs.existsSync(GO_BIN)) throw new Error(`${GO_BIN} not found (Debian package golang-go; run scripts/ensure-deps.sh)`);
  if (!fs.existsSync(path.join(GOCODE, 'src/github.com/containerd/containerd/client.go'))) {
    throw new Error(`containerd Go sources not in ${GOCODE} (Debian package golang-github-containerd-containerd-dev)`);
  }
  const files = sourceFiles(dir);
  if (!files.some((f) => f.endsWith('.go'))) throw new Error(`no Go files in ${dir}`);
  const name = path.basename(dir);
  const cache = goCacheDir();
  const key = cacheKey(dir, files);
  const outDir = path.join(cache, key);
  const bin = path.join(outDir, name);
  fs.mkdirSync(cache, { recursive: true });
  if (!opts.force && fs.existsSync(bin)) return bin;

  // One build at a time per machine: concurrent builds on 2 cores would each compile the
  // same dependencies; one after the other, the second reuses Go's build cache.
  const lock = path.join(cache, 'build.lock');
  const deadline = Date.now() + (opts.timeoutMs ?? 600_000) + 30_000;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, 'pid'), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    // Another process is building (this or another program): wait for it, or take over if it died.
    if (!opts.force && fs.existsSync(bin)) return bin;
    let owner = NaN;
    try {
      owner = Number(fs.readFileSync(path.join(lock, 'pid'), 'utf8'));
    } catch {
      // lock dir just created, pid not written yet
    }
    let age = 0;
    try {
      age = Date.now() - fs.statSync(lock).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    if ((Number.isInteger(owner) && owner > 0 && !isAlive(owner)) || (Number.isNaN(owner) && age > 10_000)) {
      fs.rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for another build of ${dir} (lock ${lock})`);
    await sleep(200);
  }

  const work = fs.mkdtempSync(path.join(cache, `work-${name}-`));
  try {
    if (!opts.force && fs.existsSync(bin)) return bin;
    const pkgDir = path.join(work, 'src', name);
    fs.mkdirSync(pkgDir, { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(dir, f), path.join(pkgDir, f));
    const tmpBin = path.join(work, name);
    const p = spawnProcess(GO_BIN, ['build', '-o', tmpBin, '.'], { cwd: pkgDir, env: goBuildEnv(work) });
    const timer = setTimeout(() => void stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 }), opts.timeoutMs ?? 600_000);
    const st = await p.exited;
    clearTimeout(timer);
    if (st.code !== 0) {
      throw new Error(`go build of ${dir} failed (exit ${st.code ?? st.signal}):\n${p.output()}`);
    }
    fs.mkdirSync(outDir, { recursive: true });
    fs.renameSync(tmpBin, bin); // atomic: readers see the whole binary or none
    return bin;
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

export interface GoRunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout's lines parsed as JSON (lines that are not JSON are skipped). */
  lines: Array<Record<string, unknown>>;
  timedOut: boolean;
}

export interface GoRunOptions {
  /** Kill the program (SIGKILL, by PID) after this long; default 60 s. */
  timeoutMs?: number;
  env?: NodeJS.ProcessEnv;
  input?: string | Buffer;
}

/** Runs a built Go program and collects its output; never rejects on exit≠0. */
export async function runGoProgram(bin: string, args: string[], opts: GoRunOptions = {}): Promise<GoRunResult> {
  const p = spawnProcess(bin, args, { env: { ...process.env, ...opts.env }, input: opts.input });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    void stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 });
  }, opts.timeoutMs ?? 60_000);
  const st = await p.exited;
  clearTimeout(timer);
  const lines: Array<Record<string, unknown>> = [];
  for (const line of p.stdout().split('\n')) {
    if (!line.startsWith('{')) continue;
    try {
      lines.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      // not JSON
    }
  }
  return { code: st.code, signal: st.signal, stdout: p.stdout(), stderr: p.stderr(), lines, timedOut };
}
