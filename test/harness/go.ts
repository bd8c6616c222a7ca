// Go test programs (test/go/<name>/, package main) built as packages of one Go module,
// test/go/go.mod, pinned to the containerd 1.6.20 Go client and its dependencies (go.sum is
// committed; modules come from the Go module proxy, once per machine, into Go's module
// cache; scripts/ensure-deps.sh downloads them before the tests run). Every program is built
// inside a copy of that module holding it and test/go/internal (the packages programs
// share), so a program in a test's temp dir sees the same pinned versions and packages. Binaries are cached under os.tmpdir()/berth-go-cache/<sha256 of the
// sources, go.mod, go.sum + toolchain>/, so only the first run on a machine pays for the
// build (tens of seconds on 2 cores); Go's build cache lives there too.
import * as childProcess from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { REPO_ROOT } from './berthd';
import { isAlive, sleep, spawnProcess, stopChild } from './process';

/** Where test/go programs live: the Go module's root. */
export const GO_PROGRAMS_DIR = path.join(REPO_ROOT, 'test', 'go');

/**
 * The Go toolchain: /usr/local/go (the machines' Go), else `go` on PATH, else Debian's
 * golang-go by path. test/go/go.mod says `go 1.19`, so any of them builds it.
 */
export const GO_BIN: string = findGo();

function findGo(): string {
  const candidates = ['/usr/local/go/bin/go'];
  for (const dir of (process.env.PATH ?? '').split(':')) if (dir) candidates.push(path.join(dir, 'go'));
  candidates.push('/usr/lib/go-1.19/bin/go', '/usr/bin/go');
  for (const c of candidates) {
    try {
      fs.accessSync(c, fs.constants.X_OK);
      return c;
    } catch {
      // next
    }
  }
  return '/usr/local/go/bin/go';
}

let goVersionMemo: string | undefined;
/** `go version` of GO_BIN (part of every cache key: another toolchain, another binary). */
function goVersion(): string {
  if (goVersionMemo === undefined) {
    try {
      goVersionMemo = childProcess.execFileSync(GO_BIN, ['version'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' } }).trim();
    } catch {
      goVersionMemo = 'unknown';
    }
  }
  return goVersionMemo;
}

/** os.tmpdir()/berth-go-cache: binaries (<sha>/<name>) and Go's build cache (gocache/). */
export function goCacheDir(): string {
  return path.join(fs.realpathSync(os.tmpdir()), 'berth-go-cache');
}

export interface BuildGoOptions {
  /** Kill the build after this long (default 10 min). */
  timeoutMs?: number;
  /** Ignore a cached binary (it is replaced). */
  force?: boolean;
  /**
   * Build the package's tests (`go test -c`) instead of the program: the binary runs the
   * package's Test functions (flags -test.run, -test.v…). The _test.go files are included.
   */
  test?: boolean;
}

/** "basic", "test/go/basic" or an absolute path → the program's directory. */
export function goProgramDir(dir: string): string {
  if (path.isAbsolute(dir)) return dir;
  const fromRepo = path.join(REPO_ROOT, dir);
  if (fs.existsSync(fromRepo)) return fromRepo;
  return path.join(GO_PROGRAMS_DIR, dir);
}

function sourceFiles(dir: string, withTests: boolean): string[] {
  return fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && !e.name.startsWith('.') && e.name.endsWith('.go') && (withTests || !e.name.endsWith('_test.go')))
    .map((e) => e.name)
    .sort();
}

const MODULE_FILES = ['go.mod', 'go.sum'];
/** test/go/internal: packages the programs share (berth.test/go/internal/...). */
const SHARED_DIR = 'internal';

/** Every file below dir, relative to it, sorted (for the cache key and the copy). */
function filesBelow(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)))
    .sort();
}

/** What a cached binary depends on: the sources, the module's pins and the Go toolchain. */
function cacheKey(dir: string, files: string[], test: boolean): string {
  const h = crypto.createHash('sha256');
  h.update(`berth-go-cache v2 ${test ? 'test' : 'main'}\0`);
  for (const f of files) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(dir, f)));
    h.update('\0');
  }
  const shared = filesBelow(path.join(GO_PROGRAMS_DIR, SHARED_DIR)).map((f) => path.join(SHARED_DIR, f));
  for (const f of [...MODULE_FILES, ...shared]) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(GO_PROGRAMS_DIR, f)));
    h.update('\0');
  }
  h.update(goVersion());
  return h.digest('hex');
}

/**
 * The environment of `go build`: module mode with the committed go.sum (-mod=readonly: a
 * build never rewrites go.mod), this machine's toolchain only (GOTOOLCHAIN=local: never
 * download another), static binaries. GOPROXY and the module cache are the machine's.
 */
export function goBuildEnv(): NodeJS.ProcessEnv {
  const cache = goCacheDir();
  return {
    ...process.env,
    PATH: process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin',
    HOME: process.env.HOME ?? cache,
    GO111MODULE: 'on',
    GOFLAGS: '-mod=readonly -buildvcs=false',
    GOCACHE: path.join(cache, 'gocache'),
    GOTOOLCHAIN: 'local',
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
  if (!fs.existsSync(GO_BIN)) throw new Error(`${GO_BIN} not found (Go; run scripts/ensure-deps.sh)`);
  const test = opts.test === true;
  const files = sourceFiles(dir, test);
  if (!files.some((f) => f.endsWith('.go'))) throw new Error(`no Go files in ${dir}`);
  const name = path.basename(dir) + (test ? '.test' : '');
  const cache = goCacheDir();
  const key = cacheKey(dir, files, test);
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
    // A copy of the module with this one package in it: the program builds with the pinned
    // versions whether it lives in test/go or in a test's temp dir.
    for (const f of MODULE_FILES) fs.copyFileSync(path.join(GO_PROGRAMS_DIR, f), path.join(work, f));
    fs.cpSync(path.join(GO_PROGRAMS_DIR, SHARED_DIR), path.join(work, SHARED_DIR), { recursive: true });
    const pkgDir = path.join(work, 'prog');
    fs.mkdirSync(pkgDir, { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(dir, f), path.join(pkgDir, f));
    const tmpBin = path.join(work, name);
    const args = test ? ['test', '-c', '-o', tmpBin, './prog'] : ['build', '-o', tmpBin, './prog'];
    const p = spawnProcess(GO_BIN, args, { cwd: work, env: goBuildEnv() });
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

/**
 * Where the Go module cache holds `modulePath` at the version test/go/go.mod pins (its
 * sources, .proto files included), downloading it first if needed; undefined when Go or
 * the module is not available. Synchronous: test files call it while they are collected.
 */
export function goModuleDirSync(modulePath: string, moduleDir: string = GO_PROGRAMS_DIR): string | undefined {
  try {
    const out = childProcess.execFileSync(GO_BIN, ['mod', 'download', '-json', modulePath], {
      cwd: moduleDir,
      env: goBuildEnv(),
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 300_000,
    });
    const info = JSON.parse(out) as { Dir?: string; Error?: string };
    return info.Dir && fs.existsSync(info.Dir) ? info.Dir : undefined;
  } catch {
    return undefined;
  }
}

/**
 * A program of a Go module other than test/go (its own go.mod and go.sum, e.g. test/go-cri,
 * test/go-transfer): `go build ./<name>` inside moduleDir, cached under
 * goCacheDir()/<prefix>-<sha256 of the program's sources, go.mod, go.sum and the
 * toolchain>/<name>, so only the first run on a machine pays for the build. `goCache`: a Go
 * build cache to use instead of the default (one that already compiled the module's
 * dependencies with the same flags).
 */
export async function buildGoModuleProgram(moduleDir: string, name: string, opts: { prefix: string; goCache?: string; timeoutMs?: number }): Promise<string> {
  const dir = path.join(moduleDir, name);
  const h = crypto.createHash('sha256');
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.go')).sort()) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(dir, f)));
  }
  for (const f of MODULE_FILES) h.update(fs.readFileSync(path.join(moduleDir, f)));
  h.update(goVersion());
  const outDir = path.join(goCacheDir(), `${opts.prefix}-${h.digest('hex').slice(0, 32)}`);
  const bin = path.join(outDir, name);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  const env = opts.goCache !== undefined && fs.existsSync(opts.goCache) ? { ...goBuildEnv(), GOCACHE: opts.goCache } : goBuildEnv();
  const p = spawnProcess(GO_BIN, ['build', '-o', tmp, `./${name}`], { cwd: moduleDir, env });
  const timer = setTimeout(() => void stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 }), opts.timeoutMs ?? 600_000);
  const st = await p.exited;
  clearTimeout(timer);
  if (st.code !== 0) throw new Error(`go build of ${path.relative(REPO_ROOT, dir)} failed (exit ${st.code ?? st.signal}):\n${p.output()}`);
  fs.renameSync(tmp, bin);
  return bin;
}
