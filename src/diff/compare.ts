// Diff.Diff: a layer tar of what changed from `lower` to `upper`.
//
// writeDiff is containerd's walking differ (continuity fs.Changes double walk +
// archive.ChangeWriter): both trees are walked in Go's filepath.Walk order (pre-order,
// names sorted bytewise) and merged; a path only in upper is an add, only in lower a
// delete (written as `.wh.<name>`; nothing below a deleted or replaced directory), in
// both a modify unless sameFile says equal (same mode/type, owner, rdev, xattrs; for
// non-directories also size and mtime seconds, and content when both mtimes have no
// nanoseconds). Every entry's parent directories are written before it (once), hard
// links within the result become link entries, sockets are skipped. Headers carry
// mode (incl. setuid/setgid/sticky), uid/gid, mtime truncated to seconds, devices'
// major/minor, and as SCHILY.xattr PAX records the xattrs that make sense in a layer
// (security.capability like containerd, plus user.* and other security.* except
// security.selinux; never trusted.*).
//
// writeOverlayDiff is the fast path for an overlayfs upper dir: only upper is walked.
// A 0:0 character device is a deletion (`.wh.<name>`), a directory with
// trusted.overlay.opaque=y gets `.wh..wh..opq` after it, and copied-up entries that
// are still equal to what the lower dirs show are left out — the same tar the double
// walk would produce, without walking the lower layers. Upper dirs that use
// redirect_dir or metacopy are refused (NotImplemented): use writeDiff on mounts.
//
// Both resolve with the size and sha256 of the tar written, after its last byte was
// accepted by `out` (with backpressure); neither ends `out`.

import { createHash } from 'node:crypto';
import { promises as fsp, type BigIntStats } from 'node:fs';
import type { Writable } from 'node:stream';
import { NotImplementedError } from '../errdefs/errors';
import { byteCompare, getXattr, listXattrs } from './fsbytes';
import { goBase, goClean, goDir, goJoin, pathBuffer, toBytePath, type BytePath } from './gopath';
import { TYPE_BLOCK, TYPE_CHAR, TYPE_DIR, TYPE_FIFO, TYPE_LINK, TYPE_REG, TYPE_SYMLINK } from './tarreader';
import { bodyPadding, encodeHeader, END_OF_ARCHIVE, type WriteHeader } from './tarwriter';
import { OVERLAY_OPAQUE_XATTR, WHITEOUT_OPAQUE_DIR, WHITEOUT_PREFIX } from './whiteout';

export interface DiffResult {
  size: number;
  digest: string;
}

export interface DiffOptions {
  /** mtime of whiteout entries (default: now, like containerd; pass one for reproducible tars). */
  whiteoutTime?: Date;
}

const enum Kind {
  Unmodified,
  Add,
  Modify,
  Delete,
}

const B = pathBuffer;

interface Node {
  /** "/a/b" relative to its tree's root. */
  path: BytePath;
  full: BytePath;
  st: BigIntStats;
}

// ------------------------------------------------------------------ output

class TarOut {
  private readonly hash = createHash('sha256');
  size = 0;
  constructor(private readonly out: Writable) {}

  async write(b: Buffer): Promise<void> {
    if (b.length === 0) return;
    this.hash.update(b);
    this.size += b.length;
    if (!this.out.write(b)) await waitDrain(this.out);
  }

  digest(): string {
    return 'sha256:' + this.hash.digest('hex');
  }
}

function waitDrain(out: Writable): Promise<void> {
  return new Promise((resolve, reject) => {
    const onDrain = (): void => {
      out.off('error', onError);
      out.off('close', onClose);
      resolve();
    };
    const onError = (err: Error): void => {
      out.off('drain', onDrain);
      out.off('close', onClose);
      reject(err);
    };
    const onClose = (): void => {
      out.off('drain', onDrain);
      out.off('error', onError);
      reject(new Error('diff output closed'));
    };
    out.once('drain', onDrain);
    out.once('error', onError);
    out.once('close', onClose);
  });
}

// ------------------------------------------------------------------ metadata

const S_IFMT = 0o170000n;
const S_IFSOCK = 0o140000n;

function isSocket(st: BigIntStats): boolean {
  return (st.mode & S_IFMT) === S_IFSOCK;
}

function isLinked(st: BigIntStats): boolean {
  return !st.isDirectory() && st.nlink > 1n;
}

function isWhiteoutDevice(st: BigIntStats): boolean {
  return st.isCharacterDevice() && st.rdev === 0n;
}

/** Linux major/minor of a dev_t. */
function majorMinor(dev: bigint): [number, number] {
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return [Number(major & 0xffffffffn), Number(minor & 0xffffffffn)];
}

function secFloor(ns: bigint): bigint {
  const s = ns / 1_000_000_000n;
  return ns < 0n && s * 1_000_000_000n !== ns ? s - 1n : s;
}

function nsecPart(ns: bigint): bigint {
  return ns - secFloor(ns) * 1_000_000_000n;
}

/** The xattrs a layer carries (see the file comment), sorted by name. */
function layerXattrs(full: BytePath): Array<[string, Buffer]> {
  const out: Array<[string, Buffer]> = [];
  for (const name of listXattrs(full).sort()) {
    if (!(name.startsWith('user.') || (name.startsWith('security.') && name !== 'security.selinux'))) continue;
    const v = getXattr(full, name);
    if (v !== null) out.push([name, v]);
  }
  return out;
}

function xattrsEqual(a: Array<[string, Buffer]>, b: Array<[string, Buffer]>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    if (a[i]![0] !== b[i]![0] || !a[i]![1].equals(b[i]![1])) return false;
  }
  return true;
}

async function readlinkBytes(full: BytePath): Promise<BytePath> {
  return (await fsp.readlink(B(full), { encoding: 'buffer' })).toString('latin1');
}

async function sameContent(p1: BytePath, p2: BytePath): Promise<boolean> {
  const [f1, f2] = await Promise.all([fsp.open(B(p1), 'r'), fsp.open(B(p2), 'r')]);
  try {
    const b1 = Buffer.allocUnsafe(64 * 1024);
    const b2 = Buffer.allocUnsafe(64 * 1024);
    for (;;) {
      const [r1, r2] = await Promise.all([f1.read(b1, 0, b1.length, null), f2.read(b2, 0, b2.length, null)]);
      if (r1.bytesRead !== r2.bytesRead) return false;
      if (r1.bytesRead === 0) return true;
      if (!b1.subarray(0, r1.bytesRead).equals(b2.subarray(0, r2.bytesRead))) return false;
    }
  } finally {
    await Promise.all([f1.close(), f2.close()]);
  }
}

/** continuity's sameFile (with all layer xattrs compared, not only security.capability). */
async function sameFile(f1: Node, f2: Node): Promise<boolean> {
  const s1 = f1.st;
  const s2 = f2.st;
  if (s1.dev === s2.dev && s1.ino === s2.ino) return true;
  if (s1.mode !== s2.mode || s1.uid !== s2.uid || s1.gid !== s2.gid || s1.rdev !== s2.rdev) return false;
  if (!xattrsEqual(layerXattrs(f1.full), layerXattrs(f2.full))) return false;
  if (!s1.isDirectory()) {
    if (s1.size !== s2.size) return false;
    if (secFloor(s1.mtimeNs) !== secFloor(s2.mtimeNs)) return false;
    const n1 = nsecPart(s1.mtimeNs);
    const n2 = nsecPart(s2.mtimeNs);
    if (n1 === 0n && n2 === 0n) {
      if (s1.isSymbolicLink()) return (await readlinkBytes(f1.full)) === (await readlinkBytes(f2.full));
      if (s1.size === 0n) return true;
      return sameContent(f1.full, f2.full);
    }
    if (n1 !== n2) return false;
  }
  return true;
}

// ------------------------------------------------------------------ ChangeWriter

/** archive.ChangeWriter: turns changes into tar entries. */
class ChangeWriter {
  private readonly whiteoutT: number;
  private readonly inodeSrc = new Map<bigint, string>();
  private readonly inodeRefs = new Map<bigint, string[]>();
  private readonly addedDirs = new Set<string>();

  constructor(private readonly tar: TarOut, private readonly source: BytePath, opts: DiffOptions) {
    this.whiteoutT = Math.floor((opts.whiteoutTime ?? new Date()).getTime() / 1000);
  }

  async handleChange(k: Kind, p: BytePath, st: BigIntStats | null): Promise<void> {
    if (k === Kind.Delete) {
      const wh = goJoin(goDir(p), WHITEOUT_PREFIX + goBase(p));
      await this.writeMarker(wh.startsWith('/') ? wh.slice(1) : wh);
      return;
    }
    if (st === null || isSocket(st)) return;
    const source = goJoin(this.source, p);
    let name = p.startsWith('/') ? goClean(p).slice(1) : p;
    if (st.isDirectory() && !name.endsWith('/')) name += '/';
    const hdr = await this.header(name, st, source);
    if (hdr === null) return;

    let additionalLinks: string[] | undefined;
    if (isLinked(st)) {
      const src = this.inodeSrc.get(st.ino);
      if (src !== undefined) {
        hdr.typeflag = TYPE_LINK;
        hdr.linkname = src;
        hdr.size = 0;
      } else {
        if (k === Kind.Unmodified) {
          const refs = this.inodeRefs.get(st.ino) ?? [];
          refs.push(name);
          this.inodeRefs.set(st.ino, refs);
          return;
        }
        this.inodeSrc.set(st.ino, name);
        additionalLinks = this.inodeRefs.get(st.ino);
        this.inodeRefs.delete(st.ino);
      }
    } else if (k === Kind.Unmodified) {
      return;
    }

    await this.includeParents(hdr);
    await this.tar.write(encodeHeader(hdr));
    if (hdr.typeflag === TYPE_REG && hdr.size > 0) await this.copyBody(source, hdr.size);

    if (additionalLinks) {
      const linkSource = hdr.name;
      for (const extra of additionalLinks) {
        const l: WriteHeader = { ...hdr, name: extra, typeflag: TYPE_LINK, linkname: linkSource, size: 0 };
        await this.includeParents(l);
        await this.tar.write(encodeHeader(l));
      }
    }
  }

  /** `.wh..wh..opq` for the directory p ("/a/b"), written right after the directory. */
  async writeOpaque(p: BytePath): Promise<void> {
    await this.writeMarker(goJoin(p, WHITEOUT_OPAQUE_DIR).slice(1));
  }

  private async writeMarker(name: string): Promise<void> {
    const hdr: WriteHeader = { name, typeflag: TYPE_REG, mode: 0, uid: 0, gid: 0, size: 0, mtime: this.whiteoutT };
    await this.includeParents(hdr);
    await this.tar.write(encodeHeader(hdr));
  }

  private async header(name: string, st: BigIntStats, source: BytePath): Promise<WriteHeader | null> {
    let typeflag: number;
    let linkname: string | undefined;
    let size = 0;
    if (st.isFile()) {
      typeflag = TYPE_REG;
      size = Number(st.size);
    } else if (st.isDirectory()) typeflag = TYPE_DIR;
    else if (st.isSymbolicLink()) {
      typeflag = TYPE_SYMLINK;
      linkname = await readlinkBytes(source);
    } else if (st.isCharacterDevice()) typeflag = TYPE_CHAR;
    else if (st.isBlockDevice()) typeflag = TYPE_BLOCK;
    else if (st.isFIFO()) typeflag = TYPE_FIFO;
    else return null;
    const hdr: WriteHeader = {
      name,
      typeflag,
      mode: Number(st.mode & 0o7777n),
      uid: Number(st.uid),
      gid: Number(st.gid),
      size,
      mtime: Number(secFloor(st.mtimeNs)),
    };
    if (linkname !== undefined) hdr.linkname = linkname;
    if (typeflag === TYPE_CHAR || typeflag === TYPE_BLOCK) [hdr.devmajor, hdr.devminor] = majorMinor(st.rdev);
    const xattrs = layerXattrs(source);
    if (xattrs.length > 0) hdr.xattrs = xattrs;
    return hdr;
  }

  private async includeParents(hdr: WriteHeader): Promise<void> {
    const name = hdr.name.replace(/\/+$/, '');
    const fname = goJoin(this.source, name);
    const parent = goDir(name);
    const pname = goJoin(this.source, parent);
    if (fname !== this.source && pname !== this.source && !this.addedDirs.has(parent)) {
      this.addedDirs.add(parent);
      const st = await fsp.lstat(B(pname), { bigint: true });
      await this.handleChange(Kind.Modify, parent, st);
    }
    if (hdr.typeflag === TYPE_DIR) this.addedDirs.add(name);
  }

  private async copyBody(source: BytePath, size: number): Promise<void> {
    const fh = await fsp.open(B(source), 'r');
    try {
      let left = size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(left, 256 * 1024));
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) throw new Error(`short write copying ${Buffer.from(source, 'latin1').toString('utf8')}`);
        await this.tar.write(bytesRead === buf.length ? buf : buf.subarray(0, bytesRead));
        left -= bytesRead;
      }
    } finally {
      await fh.close();
    }
    await this.tar.write(bodyPadding(size));
  }
}

// ------------------------------------------------------------------ walking

async function readdirSorted(dir: BytePath): Promise<BytePath[]> {
  const names = await fsp.readdir(B(dir), { encoding: 'buffer' });
  return names.map((n) => n.toString('latin1')).sort(byteCompare);
}

/** filepath.Walk below root (root itself excluded): pre-order, names sorted. */
async function* walkTree(root: BytePath): AsyncGenerator<Node> {
  async function* rec(rel: BytePath): AsyncGenerator<Node> {
    for (const n of await readdirSorted(rel === '' ? root : root + rel)) {
      const path = rel + '/' + n;
      const full = root + path;
      const st = await fsp.lstat(B(full), { bigint: true });
      yield { path, full, st };
      if (st.isDirectory()) yield* rec(path);
    }
  }
  yield* rec('');
}

/** continuity's directoryCompare: bytewise with "/" sorting before everything. */
function directoryCompare(a: string, b: string): number {
  const l = Math.min(a.length, b.length);
  for (let i = 0; i < l; i++) {
    let c1 = a.charCodeAt(i);
    let c2 = b.charCodeAt(i);
    if (c1 === 0x2f) c1 = 0;
    if (c2 === 0x2f) c2 = 0;
    if (c1 !== c2) return c1 < c2 ? -1 : 1;
  }
  return a.length - b.length;
}

function rootOf(dir: string): BytePath {
  return goClean(toBytePath(dir));
}

/** The double-walking differ: lower → upper changes as an OCI layer tar into `out`. */
export async function writeDiff(lower: string, upper: string, out: Writable, opts: DiffOptions = {}): Promise<DiffResult> {
  const a = rootOf(lower);
  const b = rootOf(upper);
  const tar = new TarOut(out);
  const cw = new ChangeWriter(tar, b, opts);
  const w1 = walkTree(a);
  const w2 = walkTree(b);
  const next = async (w: AsyncGenerator<Node>): Promise<Node | null> => {
    const r = await w.next();
    return r.done ? null : r.value;
  };
  let f1 = await next(w1);
  let f2 = await next(w2);
  let rmdir = '';
  while (f1 !== null || f2 !== null) {
    let k: Kind;
    let p: BytePath;
    let st: BigIntStats | null = null;
    const cmp = f1 === null ? 1 : f2 === null ? -1 : directoryCompare(f1.path, f2.path);
    if (cmp > 0) {
      // only in upper
      k = Kind.Add;
      p = f2!.path;
      rmdir = '';
      st = f2!.st;
      f2 = await next(w2);
    } else if (cmp < 0) {
      // only in lower
      k = Kind.Delete;
      p = f1!.path;
      if (rmdir !== '' && f1!.path.startsWith(rmdir)) {
        f1 = await next(w1);
        continue;
      } else if (f1!.st.isDirectory()) rmdir = f1!.path + '/';
      else rmdir = '';
      f1 = await next(w1);
    } else {
      k = Kind.Modify;
      p = f2!.path;
      const same = await sameFile(f1!, f2!);
      if (f1!.st.isDirectory() && !f2!.st.isDirectory()) rmdir = f1!.path + '/';
      else rmdir = '';
      st = f2!.st;
      f1 = await next(w1);
      f2 = await next(w2);
      if (same) {
        if (!isLinked(st)) continue;
        k = Kind.Unmodified;
      }
    }
    await cw.handleChange(k, p, st);
  }
  await tar.write(END_OF_ARCHIVE);
  return { size: tar.size, digest: tar.digest() };
}

// ------------------------------------------------------------------ overlay

interface LowerEntry {
  node: Node;
  /** Lower directories merged at this path (nearest first), when it is a directory. */
  dirs: BytePath[];
}

function isOpaque(full: BytePath): boolean {
  const v = getXattr(full, OVERLAY_OPAQUE_XATTR);
  return v !== null && v.toString() === 'y';
}

async function lstatMaybe(full: BytePath): Promise<BigIntStats | null> {
  try {
    return await fsp.lstat(B(full), { bigint: true });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return null;
    throw err;
  }
}

/** What the lower layers show at `name` inside the merged directory `dirs`. */
async function findLower(dirs: BytePath[], path: BytePath, name: BytePath): Promise<LowerEntry | null> {
  for (let i = 0; i < dirs.length; i++) {
    const full = dirs[i] + '/' + name;
    const st = await lstatMaybe(full);
    if (st === null) continue;
    if (isWhiteoutDevice(st)) return null;
    const entry: LowerEntry = { node: { path, full, st }, dirs: [] };
    if (!st.isDirectory()) return entry;
    entry.dirs.push(full);
    if (isOpaque(full)) return entry;
    for (let j = i + 1; j < dirs.length; j++) {
      const f2 = dirs[j] + '/' + name;
      const s2 = await lstatMaybe(f2);
      if (s2 === null) continue;
      if (!s2.isDirectory()) break;
      entry.dirs.push(f2);
      if (isOpaque(f2)) break;
    }
    return entry;
  }
  return null;
}

function checkOverlayFeatures(full: BytePath, st: BigIntStats): void {
  const names = listXattrs(full);
  if (st.isDirectory() && names.includes('trusted.overlay.redirect')) {
    throw new NotImplementedError(`overlay diff: ${Buffer.from(full, 'latin1').toString('utf8')} uses redirect_dir`);
  }
  if (!st.isDirectory() && names.includes('trusted.overlay.metacopy')) {
    throw new NotImplementedError(`overlay diff: ${Buffer.from(full, 'latin1').toString('utf8')} is a metacopy`);
  }
}

/**
 * The diff of an overlayfs upper dir against its lower dirs (nearest first), without
 * walking the lower trees.
 */
export async function writeOverlayDiff(upperdir: string, lowerdirs: string[], out: Writable, opts: DiffOptions = {}): Promise<DiffResult> {
  const upper = rootOf(upperdir);
  const lowers = lowerdirs.map(rootOf);
  const tar = new TarOut(out);
  const cw = new ChangeWriter(tar, upper, opts);

  const rec = async (rel: BytePath, lowerDirs: BytePath[]): Promise<void> => {
    for (const name of await readdirSorted(rel === '' ? upper : upper + rel)) {
      const p = rel + '/' + name;
      const full = upper + p;
      const st = await fsp.lstat(B(full), { bigint: true });
      if (isWhiteoutDevice(st)) {
        await cw.handleChange(Kind.Delete, p, null);
        continue;
      }
      checkOverlayFeatures(full, st);
      const lower = await findLower(lowerDirs, p, name);
      const node: Node = { path: p, full, st };
      if (st.isDirectory()) {
        const lowerDir = lower !== null && lower.node.st.isDirectory();
        // Opaque only matters where a lower directory would show through (the kernel
        // also marks directories that replace a non-directory).
        const opaque = lowerDir && isOpaque(full);
        const same = lowerDir && (await sameFile(lower.node, node));
        if (!same || opaque) await cw.handleChange(lower ? Kind.Modify : Kind.Add, p, st);
        if (opaque) await cw.writeOpaque(p);
        await rec(p, opaque || !lowerDir ? [] : lower.dirs);
        continue;
      }
      if (lower !== null && (await sameFile(lower.node, node))) {
        if (isLinked(st)) await cw.handleChange(Kind.Unmodified, p, st);
        continue;
      }
      await cw.handleChange(lower ? Kind.Modify : Kind.Add, p, st);
    }
  };
  const existingLowers: BytePath[] = [];
  for (const l of lowers) if ((await lstatMaybe(l))?.isDirectory()) existingLowers.push(l);
  await rec('', existingLowers);
  await tar.write(END_OF_ARCHIVE);
  return { size: tar.size, digest: tar.digest() };
}
