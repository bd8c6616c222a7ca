// The layer-apply engine: containerd's archive.Apply (applyNaive + createTarFile +
// mkparent, with the overlay or the "naive" whiteout converter), as a synchronous sink
// for TarReader. It makes blocking syscalls, so apply.ts runs it on a worker thread;
// write() takes the uncompressed tar in chunks of any size, finish() completes it.
//
// Containment: every entry's parent is resolved with RootPath (rootpath.ts) — symlinks
// are followed but clamped inside the root, ".." cannot climb out — and the entry's own
// last component is never followed: whatever exists there (a symlink included) is
// removed and replaced, files are created with O_CREAT|O_EXCL|O_NOFOLLOW, and ownership,
// xattrs and times are set with the l*/f* calls. Hard-link targets go through the same
// clamp; whiteouts that would leave their directory are rejected.

import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { UnknownError } from '../errdefs/errors';
import { fsError } from '../errdefs/fs';
import { isNativeError, S_IFBLK, S_IFCHR, S_IFIFO, XATTR_CREATE } from '../native';
import {
  chmod, createExclusive, lchown, link, listXattrs, getXattr, lstat, lstatNs, mkdir, mknod, readdirSorted,
  removeAll, setTimes, setXattr, symlink, isNotSupported,
} from './fsbytes';
import { fromBytePath, goClean, goDir, goJoin, goSplit, toBytePath, type BytePath } from './gopath';
import { hardlinkRootPath, rootPath } from './rootpath';
import {
  paxXattrs, TarReader, TYPE_BLOCK, TYPE_CHAR, TYPE_DIR, TYPE_FIFO, TYPE_LINK, TYPE_REG, TYPE_SYMLINK,
  type TarHeader, type TarSink, type TarTime,
} from './tarreader';
import { classifyWhiteout, OVERLAY_OPAQUE_XATTR, type WhiteoutKind } from './whiteout';

export interface ApplyLayerOptions {
  /**
   * true: the root is an overlayfs upper dir — `.wh.<name>` becomes a 0:0 character
   * device and `.wh..wh..opq` the xattr trusted.overlay.opaque=y. false: whiteouts
   * delete from the root (`.wh..wh..opq` deletes every entry of the directory that this
   * layer did not unpack).
   */
  overlayWhiteouts: boolean;
  /** Lower dirs, nearest first: implicit parent directories copy owner, mode, times and
   * xattrs from the first of them that has the directory. */
  parents?: string[];
}

export interface ApplyResult {
  /** Bytes of the uncompressed stream, read to EOF. */
  size: number;
  /** sha256 of those bytes ("sha256:<hex>"): the layer's diffID. */
  digest: string;
}

/** Something the layer asked for that cannot be done (containerd's wording). */
export class ApplyError extends UnknownError {
  readonly code: string | undefined;
  constructor(message: string, cause?: unknown) {
    super(cause === undefined ? message : `${message}: ${errText(cause)}`);
    this.code = isNativeError(cause) ? cause.code : undefined;
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const MIN_TIME: TarTime = { sec: 0, nsec: 0 };
// time.Unix(0, 1<<63-1): the largest time utimensat gets from Go's os.Chtimes.
const MAX_SEC = 9223372036;
const MAX_NSEC_AT_MAX_SEC = 854775807;

function boundTime(t: TarTime): TarTime {
  if (t.sec < 0) return MIN_TIME;
  if (t.sec > MAX_SEC || (t.sec === MAX_SEC && t.nsec > MAX_NSEC_AT_MAX_SEC)) return MIN_TIME;
  return t;
}

function latestTime(a: TarTime | null, m: TarTime): TarTime {
  if (a === null) return m;
  return a.sec < m.sec || (a.sec === m.sec && a.nsec < m.nsec) ? m : a;
}

let usernsCache: boolean | undefined;
/** containerd's userns.RunningInUserNS: uid_map is not the full identity range. */
export function runningInUserNS(): boolean {
  if (usernsCache !== undefined) return usernsCache;
  try {
    const line = fs.readFileSync('/proc/self/uid_map', 'utf8').split('\n')[0] ?? '';
    const [a, b, c] = line.trim().split(/\s+/).map(Number);
    usernsCache = !(a === 0 && b === 0 && c === 4294967295);
  } catch {
    usernsCache = false;
  }
  return usernsCache;
}

interface OpenFile {
  fd: number;
  path: BytePath;
  h: TarHeader;
}

interface DirTimes {
  name: BytePath;
  atime: TarTime | null;
  mtime: TarTime;
}

/** Is `base` a plain name that goJoin would keep as is? */
function plainName(base: string): boolean {
  return base !== '' && base !== '.' && base !== '..';
}

export class LayerApplier implements TarSink {
  private readonly root: BytePath;
  private readonly parents: BytePath[];
  private readonly overlay: boolean;
  private readonly reader: TarReader;
  private readonly hash: Hash = createHash('sha256');
  private size = 0;
  /** Parent dir as named in the tar ("usr/bin/") → its resolved, existing directory.
   * Valid while nothing is removed: creating entries cannot change how an existing
   * directory resolves, removing (or replacing) can, so every removal clears it. */
  private readonly dirCache = new Map<string, BytePath>();
  /** Paths unpacked from this layer (naive opaque whiteouts keep them). */
  private readonly unpacked: Set<BytePath> | null;
  private readonly dirs: DirTimes[] = [];
  private file: OpenFile | null = null;
  private readonly skipDevices = runningInUserNS();
  private failed = false;

  constructor(root: string, opts: ApplyLayerOptions) {
    this.root = goClean(toBytePath(root));
    this.parents = (opts.parents ?? []).map((p) => goClean(toBytePath(p)));
    this.overlay = opts.overlayWhiteouts;
    this.unpacked = this.overlay ? null : new Set();
    this.reader = new TarReader(this);
  }

  /** Feeds the next bytes of the uncompressed tar. Throws on the first failure. */
  write(chunk: Buffer): void {
    this.hash.update(chunk);
    this.size += chunk.length;
    if (this.failed || this.reader.ended) return;
    try {
      this.reader.write(chunk);
    } catch (err) {
      this.failed = true;
      this.closeFile();
      throw err;
    }
  }

  /** The stream is at EOF: checks the archive ended cleanly, applies directory times. */
  finish(): ApplyResult {
    this.reader.finish();
    for (const d of this.dirs) {
      const path = rootPath(this.root, d.name);
      this.chtimes(path, d.atime, d.mtime);
    }
    return { size: this.size, digest: 'sha256:' + this.hash.digest('hex') };
  }

  /** Releases what a failed apply holds open. */
  abort(): void {
    this.failed = true;
    this.closeFile();
  }

  // ------------------------------------------------------------------ TarSink

  entry(h: TarHeader): void {
    const name = goClean(h.name);
    if (this.skipDevices && (h.typeflag === TYPE_CHAR || h.typeflag === TYPE_BLOCK)) return;

    const [pdir, base] = goSplit(name);
    const ppath = this.resolveParent(pdir, base);
    const path = plainName(base) ? (ppath === '/' ? '/' + base : ppath + '/' + base) : goJoin(ppath, goJoin('/', base));
    if (path === this.root) return;

    const wh = classifyWhiteout(path);
    if (wh.kind !== 'none') {
      try {
        this.convertWhiteout(h, wh);
      } catch (err) {
        throw new ApplyError(`failed to convert whiteout file ${JSON.stringify(fromBytePath(h.name))}`, err);
      }
      return;
    }

    if (h.typeflag === TYPE_REG) {
      this.beginFile(h, path);
      this.unpacked?.add(path);
      return;
    }

    // Anything at the path is replaced, except a directory by a directory (merged).
    const existing = lstat(path);
    if (existing && !(existing.isDirectory() && h.typeflag === TYPE_DIR)) this.remove(path);

    let isLinkEntry = false;
    let isSymlink = false;
    const mode = h.mode & 0o7777;
    switch (h.typeflag) {
      case TYPE_DIR:
        if (!(existing && existing.isDirectory())) {
          mkdir(path, mode & 0o777);
          chmod(path, mode);
        }
        break;
      case TYPE_CHAR:
        mknod(path, mode | S_IFCHR, h.devmajor, h.devminor);
        break;
      case TYPE_BLOCK:
        mknod(path, mode | S_IFBLK, h.devmajor, h.devminor);
        break;
      case TYPE_FIFO:
        mknod(path, mode | S_IFIFO, 0, 0);
        break;
      case TYPE_LINK: {
        const target = hardlinkRootPath(this.root, h.linkname, (dir) => this.resolveDir(dir));
        link(target, path);
        isLinkEntry = true;
        break;
      }
      case TYPE_SYMLINK:
        symlink(h.linkname, path);
        isSymlink = true;
        break;
      default:
        throw new ApplyError(`unhandled tar header type ${h.typeflag}`);
    }

    this.lchownEntry(path, h);
    this.setXattrs(path, h, () => {
      if (h.typeflag === TYPE_DIR) return true;
      if (!isLinkEntry) return false;
      const st = lstat(path);
      return st !== undefined && (st.isFile() || st.isDirectory());
    });
    // lchmod: chmod unless it is a symlink (a hard link may link a symlink).
    if (isLinkEntry) isSymlink = lstat(path)?.isSymbolicLink() ?? false;
    if (!isSymlink) chmod(path, mode);
    this.chtimes(path, h.atime, h.mtime);

    if (h.typeflag === TYPE_DIR) this.dirs.push({ name, atime: h.atime, mtime: h.mtime });
    this.unpacked?.add(path);
  }

  data(chunk: Buffer): void {
    const f = this.file;
    if (f === null) return;
    let off = 0;
    try {
      while (off < chunk.length) off += fs.writeSync(f.fd, chunk, off, chunk.length - off);
    } catch (err) {
      // A write names no file in Node's error; containerd's names it ("write <path>: no
      // space left on device"), and so must ours for a full disk.
      throw fsError(err, 'write', fromBytePath(f.path));
    }
  }

  end(): void {
    const f = this.file;
    if (f === null) return;
    const { fd, path, h } = f;
    try {
      try {
        fs.fchownSync(fd, h.uid, h.gid);
      } catch (err) {
        throw new ApplyError(`failed to Lchown ${JSON.stringify(fromBytePath(path))} for UID ${h.uid}, GID ${h.gid}`, err);
      }
      this.setXattrs(path, h, () => true);
      fs.fchmodSync(fd, h.mode & 0o7777);
      const a = boundTime(latestTime(h.atime, h.mtime));
      const m = boundTime(h.mtime);
      if (a.nsec === 0 && m.nsec === 0) fs.futimesSync(fd, a.sec, m.sec);
      else setTimes(path, a.sec, a.nsec, m.sec, m.nsec);
    } finally {
      this.file = null;
      fs.closeSync(fd);
    }
  }

  // ------------------------------------------------------------------ entries

  private beginFile(h: TarHeader, path: BytePath): void {
    const perm = h.mode & 0o777;
    let fd: number;
    try {
      try {
        fd = createExclusive(path, perm);
      } catch (err) {
        if (!isNativeError(err, 'EEXIST')) throw err;
        // Something is there (a file, a directory, a symlink — never followed): replace it.
        this.remove(path);
        fd = createExclusive(path, perm);
      }
    } catch (err) {
      throw fsError(err, 'open', fromBytePath(path));
    }
    this.file = { fd, path, h };
  }

  private closeFile(): void {
    const f = this.file;
    if (f === null) return;
    this.file = null;
    try {
      fs.closeSync(f.fd);
    } catch {
      // already failed
    }
  }

  private remove(path: BytePath): void {
    this.dirCache.clear();
    removeAll(path);
  }

  private lchownEntry(path: BytePath, h: TarHeader): void {
    try {
      lchown(path, h.uid, h.gid);
    } catch (err) {
      throw new ApplyError(`failed to Lchown ${JSON.stringify(fromBytePath(path))} for UID ${h.uid}, GID ${h.gid}`, err);
    }
  }

  /** SCHILY.xattr.* records. trusted.* is refused (ignored, like ENOTSUP); EPERM on
   * user.* is ignored for what is neither a regular file nor a directory. */
  private setXattrs(path: BytePath, h: TarHeader, regOrDir: () => boolean): void {
    if (h.pax === null) return;
    for (const [key, value] of paxXattrs(h)) {
      if (key.startsWith('trusted.')) continue;
      try {
        setXattr(path, key, value, 0);
      } catch (err) {
        if (isNotSupported(err)) continue;
        if (isNativeError(err, 'EPERM') && key.startsWith('user.') && !regOrDir()) continue;
        throw new ApplyError(`failed to setxattr ${JSON.stringify(fromBytePath(path))} for key ${JSON.stringify(key)}`, err);
      }
    }
  }

  private chtimes(path: BytePath, atime: TarTime | null, mtime: TarTime): void {
    const a = boundTime(latestTime(atime, mtime));
    const m = boundTime(mtime);
    try {
      setTimes(path, a.sec, a.nsec, m.sec, m.nsec);
    } catch (err) {
      throw new ApplyError(`failed call to UtimesNanoAt for ${fromBytePath(path)}`, err);
    }
  }

  // ------------------------------------------------------------------ whiteouts

  private convertWhiteout(h: TarHeader, wh: Exclude<WhiteoutKind, { kind: 'none' }>): void {
    if (this.overlay) {
      if (wh.kind === 'opaque') {
        setXattr(wh.dir, OVERLAY_OPAQUE_XATTR, Buffer.from('y'), 0);
      } else {
        mknod(wh.target, S_IFCHR, 0, 0);
        lchown(wh.target, h.uid, h.gid);
      }
      return;
    }
    if (wh.kind === 'opaque') {
      if (!lstat(wh.dir)) throw Object.assign(new Error(`lstat ${fromBytePath(wh.dir)}: no such file or directory`), { code: 'ENOENT' });
      this.dirCache.clear();
      this.removeNotUnpacked(wh.dir);
    } else {
      this.remove(wh.target);
    }
  }

  private removeNotUnpacked(dir: BytePath): void {
    let names: BytePath[];
    try {
      names = readdirSorted(dir);
    } catch (err) {
      if (isNativeError(err, 'ENOENT')) return;
      throw err;
    }
    for (const n of names) {
      const p = dir === '/' ? '/' + n : dir + '/' + n;
      if (!this.unpacked!.has(p)) removeAll(p);
      else if (lstat(p)?.isDirectory()) this.removeNotUnpacked(p);
    }
  }

  // ------------------------------------------------------------------ parents

  /** RootPath of a parent dir named in the tar, created if missing (mkparent). */
  private resolveParent(pdir: string, base: string): BytePath {
    const cached = this.dirCache.get(pdir);
    if (cached !== undefined) return cached;
    let ppath: BytePath;
    try {
      ppath = rootPath(this.root, pdir);
    } catch (err) {
      throw new ApplyError('failed to get root path', err);
    }
    if (ppath !== this.root) {
      // base is "" only for names that clean to "/": they resolve to the root and are skipped.
      this.mkparent(base === '' ? goDir(goJoin(ppath, '/')) : ppath);
    }
    this.dirCache.set(pdir, ppath);
    return ppath;
  }

  /** RootPath of a directory for hard-link targets (cached like parents, not created). */
  private resolveDir(dir: string): BytePath {
    const cached = this.dirCache.get(dir);
    if (cached !== undefined) return cached;
    try {
      return rootPath(this.root, dir);
    } catch (err) {
      throw new ApplyError('failed to get root path', err);
    }
  }

  private mkparent(path: BytePath): void {
    const st = lstat(path);
    if (st) {
      if (st.isDirectory()) return;
      throw new ApplyError(`mkparent ${fromBytePath(path)}: not a directory`);
    }
    let i = path.length;
    const rootLen = this.root.length;
    while (i > rootLen && path.charCodeAt(i - 1) !== 0x2f) i--;
    if (i > rootLen + 1) this.mkparent(path.slice(0, i - 1));

    try {
      mkdir(path, 0o755);
      chmod(path, 0o755);
    } catch (err) {
      if (lstat(path)?.isDirectory()) return;
      throw err;
    }

    const rel = path.slice(rootLen);
    for (const p of this.parents) {
      const ppath = rootPath(p, rel);
      const pst = lstatNs(ppath);
      if (!pst) continue;
      if (!pst.isDirectory()) break; // replaced: do not copy attributes
      copyDirInfo(pst, path);
      copyUpXattrs(path, ppath);
      return;
    }
  }
}

/** Owner, mode and times of a lower layer's directory onto the one just created. */
function copyDirInfo(st: fs.BigIntStats, path: BytePath): void {
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  try {
    lchown(path, uid, gid);
  } catch (err) {
    const cur = lstat(path);
    if (!(isNativeError(err, 'EPERM') && cur && cur.uid === uid && cur.gid === gid)) {
      throw new ApplyError(`failed to chown ${fromBytePath(path)}`, err);
    }
  }
  chmod(path, Number(st.mode) & 0o7777);
  const split = (ns: bigint): [number, number] => {
    const sec = ns / 1_000_000_000n;
    let nsec = ns % 1_000_000_000n;
    let s = sec;
    if (nsec < 0n) {
      nsec += 1_000_000_000n;
      s -= 1n;
    }
    return [Number(s), Number(nsec)];
  };
  const [as, an] = split(st.atimeNs);
  const [ms, mn] = split(st.mtimeNs);
  setTimes(path, as, an, ms, mn);
}

/** Every xattr but trusted.* of `src` onto `dst`, never replacing one already set. */
function copyUpXattrs(dst: BytePath, src: BytePath): void {
  for (const name of listXattrs(src)) {
    if (name.startsWith('trusted.')) continue;
    const value = getXattr(src, name);
    if (value === null) continue;
    try {
      setXattr(dst, name, value, XATTR_CREATE);
    } catch (err) {
      if (isNotSupported(err) || isNativeError(err, 'ENODATA') || isNativeError(err, 'EEXIST')) continue;
      throw new ApplyError(`failed to set xattr ${JSON.stringify(name)} on ${fromBytePath(dst)}`, err);
    }
  }
}
