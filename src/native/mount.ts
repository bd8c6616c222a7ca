// mount(2)/umount2(2) and containerd's mount semantics on top of them: the fstab-style
// option table, Mount.Mount (propagation, bind + read-only remount, overlay lowerdir
// compaction), mount.All, Unmount and UnmountAll.

import { existsSync } from 'fs';
import { posix } from 'path';
import { NotImplementedError, InvalidArgumentError } from '../errdefs/errors';
import { native, type PathArg } from './binding';
import { isNativeError } from './errors';
import {
  MS_BIND, MS_DIRSYNC, MS_MANDLOCK, MS_NOATIME, MS_NODEV, MS_NODIRATIME, MS_NOEXEC, MS_NOSUID,
  MS_PRIVATE, MS_RDONLY, MS_REC, MS_RELATIME, MS_REMOUNT, MS_SHARED, MS_SILENT, MS_SLAVE,
  MS_STRICTATIME, MS_SYNCHRONOUS, MS_UNBINDABLE,
} from './constants';

/** A containerd mount: what snapshotters emit and `mountAll` consumes. */
export interface Mount {
  type: string;
  source: string;
  /** containerd 2.x: mount at this path below the mountAll target. */
  target?: string;
  options: string[];
}

export interface ParsedMountOptions {
  /** MS_* flags (unsigned). */
  flags: number;
  /** Everything not in the flag table, joined by ',' (filesystem-specific data). */
  data: string;
  /** The "loop" option was given (not supported by mountAll). */
  losetup: boolean;
}

/** mount(2). `chdir`, when given, makes relative paths (source, target, and paths
 * inside `data`, e.g. overlay lowerdirs) resolve from that directory; it is applied
 * on a helper thread with a private cwd, so the process cwd never changes. */
export function mount(
  source: PathArg | null,
  target: PathArg,
  fstype: string | null,
  flags: number,
  data: string | null = null,
  opts: { chdir?: PathArg | null } = {},
): void {
  native().mount(source, target, fstype, flags >>> 0, data === '' ? null : data, opts.chdir ?? null);
}

/** umount2(2). */
export function umount2(target: PathArg, flags = 0): void {
  native().umount2(target, flags);
}

/** umount2(2) on a libuv thread-pool thread: unmounting an overlay syncs its upper
 * filesystem, milliseconds the event loop need not wait for. */
export function umount2Async(target: PathArg, flags = 0): Promise<void> {
  return new Promise((resolve, reject) => {
    native().umount2Async(target, flags, (err) => (err ? reject(err) : resolve()));
  });
}

// containerd's table (mount/mount_linux.go): clear=true removes the flag.
const FLAG_TABLE: ReadonlyMap<string, { clear: boolean; flag: number }> = new Map([
  ['async', { clear: true, flag: MS_SYNCHRONOUS }],
  ['atime', { clear: true, flag: MS_NOATIME }],
  ['bind', { clear: false, flag: MS_BIND }],
  ['defaults', { clear: false, flag: 0 }],
  ['dev', { clear: true, flag: MS_NODEV }],
  ['diratime', { clear: true, flag: MS_NODIRATIME }],
  ['dirsync', { clear: false, flag: MS_DIRSYNC }],
  ['exec', { clear: true, flag: MS_NOEXEC }],
  ['mand', { clear: false, flag: MS_MANDLOCK }],
  ['noatime', { clear: false, flag: MS_NOATIME }],
  ['nodev', { clear: false, flag: MS_NODEV }],
  ['nodiratime', { clear: false, flag: MS_NODIRATIME }],
  ['noexec', { clear: false, flag: MS_NOEXEC }],
  ['nomand', { clear: true, flag: MS_MANDLOCK }],
  ['norelatime', { clear: true, flag: MS_RELATIME }],
  ['nostrictatime', { clear: true, flag: MS_STRICTATIME }],
  ['nosuid', { clear: false, flag: MS_NOSUID }],
  ['rbind', { clear: false, flag: MS_BIND | MS_REC }],
  ['relatime', { clear: false, flag: MS_RELATIME }],
  ['remount', { clear: false, flag: MS_REMOUNT }],
  ['ro', { clear: false, flag: MS_RDONLY }],
  ['rw', { clear: true, flag: MS_RDONLY }],
  ['strictatime', { clear: false, flag: MS_STRICTATIME }],
  ['suid', { clear: true, flag: MS_NOSUID }],
  ['sync', { clear: false, flag: MS_SYNCHRONOUS }],
  // propagation (as runc's table): applied by a separate mount call in mountOne
  ['private', { clear: false, flag: MS_PRIVATE }],
  ['rprivate', { clear: false, flag: MS_PRIVATE | MS_REC }],
  ['shared', { clear: false, flag: MS_SHARED }],
  ['rshared', { clear: false, flag: MS_SHARED | MS_REC }],
  ['slave', { clear: false, flag: MS_SLAVE }],
  ['rslave', { clear: false, flag: MS_SLAVE | MS_REC }],
  ['unbindable', { clear: false, flag: MS_UNBINDABLE }],
  ['runbindable', { clear: false, flag: MS_UNBINDABLE | MS_REC }],
]);

/**
 * Parse fstab-style options into mount(2) flags and data, as containerd does.
 * Options later in the list win ("ro","rw" → rw). Unknown options are data, in order.
 * Difference from containerd: "defaults" is a no-op (containerd passes it on as data
 * because its flag value is 0).
 */
export function parseMountOptions(options: readonly string[]): ParsedMountOptions {
  let flags = 0;
  let losetup = false;
  const data: string[] = [];
  for (const o of options) {
    const f = FLAG_TABLE.get(o);
    if (f) {
      flags = f.clear ? flags & ~f.flag : flags | f.flag;
    } else if (o === 'loop') {
      losetup = true;
    } else {
      data.push(o);
    }
  }
  return { flags: flags >>> 0, data: data.join(','), losetup };
}

const PROPAGATION = MS_SHARED | MS_PRIVATE | MS_SLAVE | MS_UNBINDABLE;

function byteSize(options: readonly string[]): number {
  let n = 0;
  for (const o of options) n += Buffer.byteLength(o);
  return n;
}

/** Go's path.Dir: everything before the last '/', cleaned ("a/b/" → "a/b"). */
function goDir(p: string): string {
  const dir = p.slice(0, p.lastIndexOf('/') + 1);
  if (dir === '') return '.';
  const clean = posix.normalize(dir);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

function longestCommonPrefix(strs: readonly string[]): string {
  if (strs.length === 0) return '';
  let min = strs[0]!;
  let max = strs[0]!;
  for (const s of strs) {
    if (s < min) min = s;
    if (s > max) max = s;
  }
  let i = 0;
  while (i < min.length && i < max.length && min[i] === max[i]) i++;
  return min.slice(0, i);
}

/**
 * containerd's trick for overlay mounts whose options approach the one-page limit of
 * mount(2) data: find the common parent of all lowerdirs, make them relative to it, and
 * mount from that directory. Returns chdir=null (options unchanged) when it does not
 * apply. The compacted lowerdir option moves to the end, as in containerd.
 */
export function compactLowerdirOption(options: readonly string[]): { chdir: string | null; options: string[] } {
  const idx = options.findIndex((o) => o.startsWith('lowerdir='));
  if (idx === -1) return { chdir: null, options: [...options] };
  const dirs = options[idx]!.slice('lowerdir='.length).split(':');
  if (dirs.length === 1) return { chdir: null, options: [...options] };
  const common = longestCommonPrefix(dirs);
  if (common === '') return { chdir: null, options: [...options] };
  // Snapshot ids are digits ("…/snapshots/1" and "…/snapshots/12" share "…/snapshots/1"):
  // step back to the parent directory.
  let dir = goDir(common);
  if (dir === '/' || dir === '.') return { chdir: null, options: [...options] };
  dir += '/';
  const rel = dirs.map((d) => d.slice(dir.length));
  const out = options.filter((_, i) => i !== idx);
  out.push(`lowerdir=${rel.join(':')}`);
  return { chdir: dir, options: out };
}

function pageSize(): number {
  return native().constants['PAGE_SIZE'] ?? 4096;
}

/** containerd's Mount.Mount: mount one containerd mount at `target`. */
export function mountOne(m: Mount, target: string): void {
  if (m.type.startsWith('fuse.') || m.type.startsWith('fuse3.')) {
    throw new NotImplementedError(`mount type ${m.type} (fuse helper)`);
  }
  const pagesize = pageSize();
  let chdir: string | null = null;
  let options = m.options;
  // stay clear of the one-page limit of mount(2) data (512 bytes of slack, as containerd)
  if (m.type === 'overlay' && byteSize(options) >= pagesize - 512) {
    ({ chdir, options } = compactLowerdirOption(options));
  }
  const { flags, data, losetup } = parseMountOptions(options);
  if (Buffer.byteLength(data) >= pagesize) throw new InvalidArgumentError('mount options is too long');
  if (losetup) throw new NotImplementedError(`mount ${m.source} on ${target}: loop option`);

  const oflags = (flags & ~PROPAGATION) >>> 0;
  // A plain remount without data changes flags only (the last call below does that for
  // bind mounts); a remount with data must call mount (moby/moby#34077).
  if ((flags & MS_REMOUNT) === 0 || data !== '') {
    mount(m.source, target, m.type, oflags, data, { chdir });
  }
  if ((flags & PROPAGATION) !== 0) {
    mount('', target, '', (flags & (PROPAGATION | MS_REC | MS_SILENT)) >>> 0, null);
  }
  const bindRO = MS_BIND | MS_RDONLY;
  if ((oflags & bindRO) === bindRO) {
    // a bind mount ignores MS_RDONLY on creation: remount it read-only
    mount('', target, '', (oflags | MS_REMOUNT) >>> 0, null);
  }
}

/** Resolve a mount's sub-target below `root` lexically ("..", absolute paths stay inside). */
function subTarget(root: string, sub: string | undefined): string {
  if (!sub) return root;
  return posix.join(root, posix.normalize(`/${sub}`));
}

/**
 * containerd's mount.All: mount each in order at `target` (or target/m.target).
 * Like containerd, a failure leaves earlier mounts in place: callers unmountAll.
 */
export function mountAll(mounts: readonly Mount[], target: string): void {
  for (const m of mounts) mountOne(m, subTarget(target, m.target));
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** containerd's Unmount: umount2, retrying EBUSY (50 × 50 ms); EINVAL (not a mount
 * point) is not an error. */
export async function unmount(target: string, flags = 0): Promise<void> {
  try {
    await unmountRetry(target, flags);
  } catch (err) {
    if (isNativeError(err, 'EINVAL')) return;
    throw err;
  }
}

async function unmountRetry(target: string, flags: number, offLoop = false): Promise<void> {
  for (let i = 0; i < 50; i++) {
    try {
      if (offLoop) await umount2Async(target, flags);
      else umount2(target, flags);
      return;
    } catch (err) {
      if (!isNativeError(err, 'EBUSY')) throw err;
      await sleep(50);
    }
  }
  const err = new Error(`failed to unmount target ${target}: EBUSY: Device or resource busy`) as Error & { code: string };
  err.code = 'EBUSY';
  throw err;
}

/** containerd's UnmountAll: unmount repeatedly until `target` is no longer a mount
 * point (EINVAL), undoing stacked mounts. No-op for '' or a missing path. offLoop: each
 * umount2 runs on the thread pool (umount2Async) instead of blocking the event loop. */
export async function unmountAll(target: string, flags = 0, opts: { offLoop?: boolean } = {}): Promise<void> {
  if (target === '' || !existsSync(target)) return;
  for (;;) {
    try {
      await unmountRetry(target, flags, opts.offLoop);
    } catch (err) {
      if (isNativeError(err, 'EINVAL')) return;
      throw err;
    }
  }
}
