// Runtime name → shim binary, as containerd's ShimManager.resolveRuntimePath, plus berth's
// [runtimes] table and its default of berth's own shim for the runc and berth runtimes.
//
// Order:
//   1. [runtimes."<name>"] shim = "…" in the config (absolute path, or a name on PATH);
//   2. an absolute path is used as is (it must exist);
//   3. io.containerd.runc.v2, io.containerd.berth.v1 and the legacy
//      io.containerd.runtime.v1.linux (legacy-linux.ts) → <repo>/bin/containerd-shim-berth-v1;
//   4. io.containerd.<name>.<version> → containerd-shim-<name>-<version> on PATH, then in
//      the directory of berthd's own executable (<repo>/bin).
import { accessSync, constants, statSync } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError, UnknownError } from '../errdefs/errors';
import { LEGACY_LINUX_RUNTIME } from './legacy-linux';

/** Repository (or install) root: dist/runtime/ → ../.. */
export const INSTALL_ROOT = path.resolve(__dirname, '..', '..');
/** Where berth's executables live (bin/berthd, bin/containerd-shim-berth-v1). */
export const BIN_DIR = path.join(INSTALL_ROOT, 'bin');
export const BERTH_SHIM_BINARY = path.join(BIN_DIR, 'containerd-shim-berth-v1');
/** berthd's own launcher, passed to shims as -publish-binary (it implements `publish`). */
export const BERTHD_BINARY = path.join(BIN_DIR, 'berthd');

/** Runtime names that run berth's shim unless the config maps them elsewhere. */
export const BERTH_SHIM_RUNTIMES: readonly string[] = ['io.containerd.runc.v2', 'io.containerd.berth.v1', LEGACY_LINUX_RUNTIME];

/** containerd's shim.BinaryName: the last two dot-separated parts; '' if there are fewer. */
export function shimBinaryName(runtime: string): string {
  const parts = runtime.split('.');
  if (parts.length < 2) return '';
  return `containerd-shim-${parts[parts.length - 2]}-${parts[parts.length - 1]}`;
}

function isExecutableFile(p: string): boolean {
  try {
    if (!statSync(p).isFile()) return false;
    accessSync(p, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** exec.LookPath for a bare name. */
export function lookPath(name: string, envPath = process.env.PATH ?? ''): string | undefined {
  for (const dir of envPath.split(':')) {
    const p = path.join(dir === '' ? '.' : dir, name);
    if (isExecutableFile(p)) return path.resolve(p);
  }
  return undefined;
}

export interface ResolverOptions {
  /** The config's [runtimes] table: runtime name → shim (absolute path or name on PATH). */
  runtimes?: Readonly<Record<string, { shim: string }>>;
  /** berth's shim binary (default BERTH_SHIM_BINARY). */
  berthShim?: string;
  /** Fallback directory after PATH (default BIN_DIR, containerd: its own executable's dir). */
  selfDir?: string;
  /** PATH to search (default process.env.PATH at each lookup). */
  envPath?: () => string;
}

export class RuntimeResolver {
  private readonly cache = new Map<string, string>();

  constructor(private readonly opts: ResolverOptions = {}) {}

  /**
   * The absolute path of the shim binary for a runtime name or path. Errors read like
   * containerd's (they end up in "failed to start shim: failed to resolve runtime path: …").
   */
  resolve(runtime: string): string {
    if (runtime === '') throw new InvalidArgumentError('no runtime name');
    const cached = this.cache.get(runtime);
    if (cached !== undefined) return cached;
    const resolved = this.resolveUncached(runtime);
    // Configured and absolute paths are cheap and may be replaced on disk: cache names only.
    if (!path.isAbsolute(runtime) && this.opts.runtimes?.[runtime] === undefined) this.cache.set(runtime, resolved);
    return resolved;
  }

  private resolveUncached(runtime: string): string {
    const envPath = this.opts.envPath?.() ?? process.env.PATH ?? '';
    const configured = this.opts.runtimes?.[runtime];
    if (configured) {
      const shim = configured.shim;
      if (path.isAbsolute(shim)) {
        if (!isExecutableFile(shim)) throw new UnknownError(`runtime "${runtime}": configured shim ${shim}: file does not exist or is not executable`);
        return shim;
      }
      const found = lookPath(shim, envPath);
      if (!found) throw new UnknownError(`runtime "${runtime}" binary not installed "${shim}": file does not exist`);
      return found;
    }
    if (path.isAbsolute(runtime)) {
      try {
        statSync(runtime);
      } catch (err) {
        throw new UnknownError(`invalid custom binary path: stat ${runtime}: ${errnoText(err)}`);
      }
      return runtime;
    }
    if (BERTH_SHIM_RUNTIMES.includes(runtime)) {
      const shim = this.opts.berthShim ?? BERTH_SHIM_BINARY;
      if (!isExecutableFile(shim)) throw new UnknownError(`runtime "${runtime}" binary not installed "${shim}": file does not exist`);
      return shim;
    }
    const name = shimBinaryName(runtime);
    if (name === '') {
      throw new UnknownError(
        `invalid runtime name ${runtime}, correct runtime name should be either format like \`io.containerd.runc.v1\` or a full path to the binary`,
      );
    }
    const onPath = lookPath(name, envPath);
    if (onPath) return onPath;
    const beside = path.join(this.opts.selfDir ?? BIN_DIR, name);
    if (isExecutableFile(beside)) return beside;
    throw new UnknownError(`runtime "${runtime}" binary not installed "${name}": file does not exist`);
  }
}

function errnoText(err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return 'no such file or directory';
  if (code === 'EACCES') return 'permission denied';
  return (err as Error).message;
}
