// Loader and raw types of the berth_native N-API addon (native/src/berth_native.c).
// The addon is loaded lazily on first use so that pure helpers (parseMountOptions,
// constants) work on machines where it has not been built.

import { existsSync } from 'fs';
import { join } from 'path';

/** Where node-gyp leaves the addon. Resolved from this file's directory, which is
 * src/native under vitest/tsx and dist/native once compiled: both two levels down. */
export const NATIVE_ADDON_PATH = join(__dirname, '..', '..', 'native', 'build', 'Release', 'berth_native.node');

export const NOT_BUILT_MESSAGE = 'berth native addon not built: run npm run build:native (needs g++, make, python3)';

/** A path argument: a string (UTF-8) or a Buffer (raw bytes, for non-UTF-8 names). */
export type PathArg = string | Buffer;

export interface RawWaitResult {
  pid: number;
  code: number;
  status: number;
  exitStatus: number;
}

export interface RawFdWatcher {
  close(): void;
  setEvents(events: number): void;
  ref(): void;
  unref(): void;
}

/** The addon's exports, exactly as the C code defines them. */
export interface NativeBinding {
  mount(source: PathArg | null, target: PathArg, fstype: string | null, flags: number, data: string | null, chdir: PathArg | null): void;
  umount2(target: PathArg, flags: number): void;
  umount2Async(target: PathArg, flags: number, callback: (err: Error | null) => void): void;
  bindNewNetns(target: PathArg, callback: (err: Error | null) => void): void;
  mknod(path: PathArg, mode: number, major: number, minor: number): void;
  lsetxattr(path: PathArg, name: string, value: Buffer | string, flags: number): void;
  lgetxattr(path: PathArg, name: string): Buffer | null;
  llistxattr(path: PathArg): string[];
  lremovexattr(path: PathArg, name: string): void;
  utimensat(path: PathArg, atimeSec: number | bigint, atimeNsec: number, mtimeSec: number | bigint, mtimeNsec: number, flags: number): void;
  prctlSetChildSubreaper(on: boolean): void;
  prctlGetChildSubreaper(): boolean;
  pidfdOpen(pid: number, flags: number): number;
  pidfdSendSignal(pidfd: number, signal: number): void;
  waitidPidfd(pidfd: number, options: number): RawWaitResult | null;
  closeOnExecFrom(minFd: number): number;
  execve(path: string, argv: readonly string[], envp: readonly string[]): never;
  spawn(path: string, argv: readonly string[], envp: readonly string[], stdio: readonly number[]): { pid: number; pidfd: number };
  watchFd(fd: number, callback: (err: Error | null, events: number) => void, events?: number): RawFdWatcher;
  recvFd(socketFd: number): { fd: number; data: Buffer } | null;
  sendFd(socketFd: number, fd: number, data: Buffer | string | null): number;
  socketpair(): [number, number];
  /** A unix stream socket connected to path (non-blocking, close-on-exec), or -1 if the
   * connect would have to wait. */
  connectUnix(path: PathArg): number;
  setns(fd: number, nstype: number): void;
  unshare(flags: number): void;
  pipe(): [number, number];
  setWinsize(fd: number, rows: number, cols: number): void;
  getWinsize(fd: number): { rows: number; cols: number };
  getPeerCred(socketFd: number): { pid: number; uid: number; gid: number };
  /** Saves fds 0-2's status flags and terminal modes (bin/berth, at its start). */
  stdioSave(): void;
  /** Restores what stdioSave saved and _exit(2)s with code (bin/berth's exit). */
  exitNow(code: number): never;
  eventfd(initval?: number, flags?: number): number;
  removeTree(path: PathArg, callback: (err: Error | null) => void): void;
  /** clock_gettime(CLOCK_REALTIME) into out[0] (seconds) and out[1] (nanoseconds). */
  clockRealtime(out: Float64Array): void;
  flockTry(fd: number, exclusive: boolean): boolean;
  setNonBlocking(fd: number, on: boolean): void;
  sendNoWait(fd: number, buffer: Buffer): number;
  /** read(2) into buffer: bytes read, 0 at end of file, -1 for EAGAIN. */
  readNoWait(fd: number, buffer: Buffer): number;
  /** write(2) of buffer: bytes written, -1 for EAGAIN. */
  writeNoWait(fd: number, buffer: Buffer): number;
  constants: Readonly<Record<string, number>>;
}

let cached: NativeBinding | undefined;

/** The loaded addon. Throws a clear error if it has not been built. */
export function native(): NativeBinding {
  if (cached) return cached;
  if (!existsSync(NATIVE_ADDON_PATH)) throw new Error(NOT_BUILT_MESSAGE);
  const mod: { exports: unknown } = { exports: {} };
  try {
    process.dlopen(mod, NATIVE_ADDON_PATH);
  } catch (err) {
    throw new Error(`berth native addon failed to load from ${NATIVE_ADDON_PATH}: ${(err as Error).message}; rebuild with npm run build:native`);
  }
  cached = mod.exports as NativeBinding;
  return cached;
}

/** True if the addon is built and loads. */
export function nativeAvailable(): boolean {
  try {
    native();
    return true;
  } catch {
    return false;
  }
}
