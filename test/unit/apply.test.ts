// Layer apply (src/diff) against the real kernel: layers built with test/fixtures/images.ts
// (and hand-made tars for what the fixture builder cannot express) are applied as root
// into a private tmpfs, and every path is compared with what the layer says.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import * as zlib from 'node:zlib';
import * as tarStream from 'tar-stream';
import { beforeEach, describe, expect, it } from 'vitest';
import { useTmpfsBase } from './tmpfs-base';
import { applyLayer, decompress, LayerApplier, type ApplyLayerOptions } from '../../src/diff';
import { lgetxattr, lsetxattr, MNT_DETACH, mountAll, umount2 } from '../../src/native';
import {
  buildLayer, opaqueWhiteout, readTar, whiteout, type Layer, type LayerEntry, type TarEntry,
} from '../fixtures/images';

const tmpfsBase = useTmpfsBase('berth-apply-', '512m');
let n = 0;

function freshDir(name = 'root'): string {
  const d = join(tmpfsBase(), `${name}-${++n}`);
  fs.mkdirSync(d);
  return d;
}

function chunked(buf: Buffer, size = 64 * 1024): Readable {
  return Readable.from(
    (function* () {
      for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
    })(),
    { objectMode: false },
  );
}

async function apply(root: string, tar: Buffer, opts: ApplyLayerOptions = { overlayWhiteouts: false }) {
  return applyLayer(root, chunked(tar), opts);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

function clean(name: string): string {
  return name.split('/').filter((s) => s !== '' && s !== '.').join('/');
}

/** Every path below root (relative), sorted. */
function listTree(root: string): string[] {
  const out: string[] = [];
  const rec = (rel: string): void => {
    for (const e of fs.readdirSync(join(root, rel)).sort()) {
      const p = rel ? `${rel}/${e}` : e;
      out.push(p);
      if (fs.lstatSync(join(root, p)).isDirectory()) rec(p);
    }
  };
  rec('');
  return out;
}

/** Checks every entry of a layer against the applied tree. */
function expectMatchesLayer(root: string, entries: TarEntry[]): void {
  const byName = new Map<string, TarEntry>();
  for (const e of entries) byName.set(clean(e.name), e);
  for (const [name, e] of byName) {
    const p = join(root, name);
    const st = fs.lstatSync(p, { bigint: true });
    const where = `${name} (${e.type})`;
    switch (e.type) {
      case 'file':
        expect(st.isFile(), where).toBe(true);
        expect(Number(st.size), where).toBe(e.size);
        expect(sha(fs.readFileSync(p)), where).toBe(sha(e.content));
        break;
      case 'directory':
        expect(st.isDirectory(), where).toBe(true);
        break;
      case 'symlink':
        expect(st.isSymbolicLink(), where).toBe(true);
        expect(fs.readlinkSync(p), where).toBe(e.linkname);
        break;
      case 'link': {
        const target = fs.lstatSync(join(root, clean(e.linkname!)), { bigint: true });
        expect(st.ino, where).toBe(target.ino);
        expect(st.nlink, where).toBe(target.nlink);
        expect(Number(st.nlink), where).toBeGreaterThanOrEqual(2);
        break;
      }
      case 'character-device':
      case 'block-device': {
        expect(e.type === 'character-device' ? st.isCharacterDevice() : st.isBlockDevice(), where).toBe(true);
        const rdev = Number(st.rdev);
        expect([(rdev >> 8) & 0xfff, (rdev & 0xff) | ((rdev >> 12) & ~0xff)], where).toEqual([e.devmajor, e.devminor]);
        break;
      }
      case 'fifo':
        expect(st.isFIFO(), where).toBe(true);
        break;
      default:
        throw new Error(`unexpected type ${e.type}`);
    }
    expect([Number(st.uid), Number(st.gid)], where).toEqual([e.uid, e.gid]);
    if (e.type !== 'symlink') expect(Number(st.mode) & 0o7777, where).toBe(e.mode & 0o7777);
    expect(st.mtimeNs, where).toBe(BigInt(e.mtime) * 1_000_000_000n);
    for (const [k, v] of Object.entries(e.xattrs)) {
      expect(lgetxattr(p, k)?.toString(), `${where} xattr ${k}`).toBe(v);
    }
  }
}

const ALL_TYPES: LayerEntry[] = [
  { path: 'bin', type: 'dir', mode: 0o755 },
  { path: 'bin/busybox', type: 'file', mode: 0o755, content: 'ELF...' },
  { path: 'bin/su', type: 'file', mode: 0o4755, content: 'su', uid: 0, gid: 0 },
  { path: 'bin/wall', type: 'file', mode: 0o2755, content: 'wall', uid: 0, gid: 5 },
  { path: 'bin/sh', type: 'symlink', linkname: 'busybox' },
  { path: 'bin/abs', type: 'symlink', linkname: '/bin/busybox' },
  { path: 'bin/dangling', type: 'symlink', linkname: '../nowhere/at/all' },
  { path: 'bin/ls', type: 'hardlink', linkname: 'bin/busybox' },
  { path: 'bin/cat', type: 'hardlink', linkname: 'bin/busybox' },
  { path: 'tmp', type: 'dir', mode: 0o1777 },
  { path: 'root', type: 'dir', mode: 0o700, uid: 0, gid: 0 },
  { path: 'home/user', type: 'dir', mode: 0o2750, uid: 1000, gid: 1001, mtime: 1_600_000_000 },
  { path: 'home/user/.profile', type: 'file', mode: 0o600, uid: 1000, gid: 1001, content: 'export A=1\n', mtime: 1_500_000_000 },
  { path: 'home/user/empty', type: 'file', mode: 0o640, uid: 1000, gid: 1001 },
  { path: 'dev/null', type: 'char', mode: 0o666, devmajor: 1, devminor: 3 },
  { path: 'dev/big', type: 'char', mode: 0o600, devmajor: 300, devminor: 70000 },
  { path: 'dev/loop0', type: 'block', mode: 0o660, gid: 6, devmajor: 7, devminor: 0 },
  { path: 'run/initctl', type: 'fifo', mode: 0o600 },
  { path: 'etc/attrs', type: 'file', content: 'x', xattrs: { 'user.mime': 'text/plain', 'user.empty': '' } },
  { path: 'etc/dir-attrs', type: 'dir', xattrs: { 'user.dir': 'yes' } },
  { path: 'etc/old', type: 'file', content: 'old', mtime: 0 },
];

describe('applyLayer: entry types and metadata', () => {
  it('applies every entry type with mode, owner, size, content, link target, nlink, mtime and xattrs', async () => {
    const layer = await buildLayer(ALL_TYPES);
    const root = freshDir();
    const r = await apply(root, layer.tar);
    expect(r).toEqual({ size: layer.tar.length, digest: layer.diffID });
    const entries = await readTar(layer.tar);
    expectMatchesLayer(root, entries);
    // implicit parents: created 0755 root:root
    for (const d of ['home', 'dev', 'run', 'etc']) {
      const st = fs.lstatSync(join(root, d));
      expect(st.isDirectory()).toBe(true);
      expect(st.mode & 0o7777).toBe(0o755);
    }
    // nothing else was created
    const expected = new Set<string>();
    for (const e of entries) {
      const parts = clean(e.name).split('/');
      for (let i = 1; i <= parts.length; i++) expected.add(parts.slice(0, i).join('/'));
    }
    expect(listTree(root)).toEqual([...expected].sort());
    expect(fs.lstatSync(join(root, 'bin/busybox')).nlink).toBe(3);
  });

  it('streams large files and returns the digest and size of the uncompressed stream', async () => {
    const big = Buffer.alloc(5 * 1024 * 1024 + 123);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) & 0xff;
    const layer = await buildLayer([{ path: 'data/big.bin', type: 'file', content: big }]);
    const root = freshDir();
    const r = await applyLayer(root, chunked(layer.tar, 4093), { overlayWhiteouts: true });
    expect(r).toEqual({ size: layer.tar.length, digest: layer.diffID });
    expect(sha(fs.readFileSync(join(root, 'data/big.bin')))).toBe(sha(big));
  });

  it('hashes the whole stream, including what follows the end-of-archive marker', async () => {
    const layer = await buildLayer([{ path: 'a', type: 'file', content: 'a' }]);
    const padded = Buffer.concat([layer.tar, Buffer.alloc(10240), Buffer.from('trailing junk')]);
    const root = freshDir();
    const r = await apply(root, padded);
    expect(r.size).toBe(padded.length);
    expect(r.digest).toBe('sha256:' + sha(padded));
    expect(fs.readFileSync(join(root, 'a'), 'utf8')).toBe('a');
  });

  it('gives the same result for any chunking of the stream, in the worker and in-thread', async () => {
    const layer = await buildLayer([
      ...ALL_TYPES,
      { path: 'x/' + 'long-'.repeat(40) + 'name', type: 'file', content: 'long' },
    ]);
    const entries = await readTar(layer.tar);
    for (const size of [1, 7, 511, 512, 513, 1000, 1 << 20]) {
      const root = freshDir();
      const a = new LayerApplier(root, { overlayWhiteouts: false });
      for (let i = 0; i < layer.tar.length; i += size) a.write(layer.tar.subarray(i, i + size));
      expect(a.finish()).toEqual({ size: layer.tar.length, digest: layer.diffID });
      expectMatchesLayer(root, entries);
    }
    const root = freshDir();
    await applyLayer(root, chunked(layer.tar, 3), { overlayWhiteouts: false, inThread: true });
    expectMatchesLayer(root, entries);
  });

  it('runs applies in parallel', async () => {
    const layers = await Promise.all([0, 1, 2, 3].map((i) => buildLayer([{ path: `f${i}`, type: 'file', content: `${i}`.repeat(1000 * (i + 1)) }])));
    const roots = layers.map(() => freshDir());
    const results = await Promise.all(layers.map((l, i) => apply(roots[i]!, l.tar)));
    results.forEach((r, i) => {
      expect(r.digest).toBe(layers[i]!.diffID);
      expect(fs.readFileSync(join(roots[i]!, `f${i}`), 'utf8')).toBe(`${i}`.repeat(1000 * (i + 1)));
    });
  });
});

// ------------------------------------------------------------------ hand-made tars

type PackHeader = Partial<tarStream.Header> & { name: string; pax?: Record<string, string> };

async function packRaw(entries: Array<{ header: PackHeader; body?: Buffer | string } | Buffer>): Promise<Buffer> {
  // Buffers are raw 512-byte-aligned blocks inserted as is.
  const parts: Buffer[] = [];
  for (const e of entries) {
    if (Buffer.isBuffer(e)) {
      parts.push(e);
      continue;
    }
    const pack = tarStream.pack();
    const chunks: Buffer[] = [];
    const done = new Promise<void>((resolve) => {
      pack.on('data', (c: unknown) => chunks.push(c as Buffer));
      pack.on('end', () => resolve());
    });
    const h: PackHeader = { mode: 0o644, mtime: new Date(1_577_836_800_000), uid: 0, gid: 0, ...e.header };
    await new Promise<void>((resolve, reject) => {
      const cb = (err?: Error | null): void => (err ? reject(err) : resolve());
      if (e.body !== undefined) pack.entry(h, typeof e.body === 'string' ? Buffer.from(e.body) : e.body, cb);
      else pack.entry(h, cb);
    });
    pack.finalize();
    await done;
    const all = Buffer.concat(chunks);
    parts.push(all.subarray(0, all.length - 1024)); // drop the end marker
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

/** One raw header block (ustar or GNU magic) with a correct checksum. */
function rawHeader(f: { name: string; type: string; size?: number; mode?: number; mtime?: number; linkname?: string; gnu?: boolean }): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, 100, 'latin1');
  b.write((f.mode ?? 0o644).toString(8).padStart(7, '0') + '\0', 100, 'latin1');
  b.write('0000000\0', 108, 'latin1');
  b.write('0000000\0', 116, 'latin1');
  b.write((f.size ?? 0).toString(8).padStart(11, '0') + '\0', 124, 'latin1');
  b.write((f.mtime ?? 1_577_836_800).toString(8).padStart(11, '0') + '\0', 136, 'latin1');
  b.write(f.type, 156, 1, 'latin1');
  if (f.linkname) b.write(f.linkname, 157, 100, 'latin1');
  if (f.gnu) b.write('ustar  \0', 257, 'latin1');
  else b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 'latin1');
  return b;
}

function rawBody(data: Buffer | string): Buffer {
  const d = typeof data === 'string' ? Buffer.from(data, 'latin1') : data;
  return Buffer.concat([d, Buffer.alloc((512 - (d.length % 512)) % 512)]);
}

function paxRecords(recs: Array<[string, Buffer | string]>): Buffer {
  return Buffer.concat(
    recs.map(([k, v]) => {
      const body = Buffer.concat([Buffer.from(` ${k}=`), Buffer.isBuffer(v) ? v : Buffer.from(v), Buffer.from('\n')]);
      let len = body.length + String(body.length).length;
      if (String(len).length !== String(body.length).length) len = body.length + String(len).length;
      return Buffer.concat([Buffer.from(String(len)), body]);
    }),
  );
}

function paxEntry(recs: Array<[string, Buffer | string]>, type = 'x'): Buffer {
  const data = paxRecords(recs);
  return Buffer.concat([rawHeader({ name: 'PaxHeaders/x', type, size: data.length }), rawBody(data)]);
}

describe('applyLayer: tar format', () => {
  it('applies PAX times with nanoseconds (atime = the later of atime and mtime)', async () => {
    const tar = await packRaw([
      { header: { name: 'ns', type: 'file', pax: { mtime: '1577836800.123456789', atime: '1577836900.5' } }, body: 'ns' },
      { header: { name: 'older-atime', type: 'file', pax: { mtime: '1577836800.987654321', atime: '1000' } }, body: '' },
      { header: { name: 'd', type: 'directory', pax: { mtime: '1600000000.000000001' } } },
      { header: { name: 'd/f', type: 'file' }, body: 'f' },
      { header: { name: 'lnk', type: 'symlink', linkname: 'ns', pax: { mtime: '1234567890.1' } } },
      { header: { name: 'neg', type: 'file', pax: { mtime: '-5.5' } }, body: '' },
    ]);
    const root = freshDir();
    await apply(root, tar);
    const st = (p: string): fs.BigIntStats => fs.lstatSync(join(root, p), { bigint: true });
    expect(st('ns').mtimeNs).toBe(1577836800123456789n);
    expect(st('ns').atimeNs).toBe(1577836900500000000n);
    expect(st('older-atime').atimeNs).toBe(1577836800987654321n);
    expect(st('d').mtimeNs).toBe(1600000000000000001n); // set after d/f was created
    expect(st('lnk').mtimeNs).toBe(1234567890100000000n);
    expect(st('neg').mtimeNs).toBe(0n); // out of range → epoch, like containerd's boundTime
  });

  it('keeps binary xattr values (security.capability) and PAX uid/gid beyond the octal fields', async () => {
    const cap = Buffer.from([0x01, 0x00, 0x00, 0x02, 0x00, 0x20, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]);
    const tar = Buffer.concat([
      paxEntry([['SCHILY.xattr.security.capability', cap], ['SCHILY.xattr.user.bin', Buffer.from([0xff, 0x00, 0xfe])], ['uid', '3000000'], ['gid', '3000001']]),
      rawHeader({ name: 'bin/ping', type: '0', size: 4, mode: 0o755 }),
      rawBody('ping'),
      Buffer.alloc(1024),
    ]);
    const root = freshDir();
    await apply(root, tar);
    const p = join(root, 'bin/ping');
    expect(lgetxattr(p, 'security.capability')).toEqual(cap);
    expect(lgetxattr(p, 'user.bin')).toEqual(Buffer.from([0xff, 0x00, 0xfe]));
    const st = fs.lstatSync(p);
    expect([st.uid, st.gid]).toEqual([3000000, 3000001]);
  });

  it('handles long names: ustar prefix, PAX path/linkpath, GNU long name and long link', async () => {
    const longDir = 'd'.repeat(150);
    const longFile = 'f'.repeat(200);
    const longTarget = 't/'.repeat(80) + 'end';
    const tar = Buffer.concat([
      await packRaw([{ header: { name: `${'p'.repeat(90)}/${'q'.repeat(90)}`, type: 'file' }, body: 'prefix' }]).then((b) => b.subarray(0, b.length - 1024)),
      paxEntry([['path', `${longDir}/${longFile}`]]),
      rawHeader({ name: 'ignored-by-pax', type: '0', size: 3 }),
      rawBody('pax'),
      rawHeader({ name: '././@LongLink', type: 'L', size: 201, gnu: true }),
      rawBody('g'.repeat(200) + '\0'),
      rawHeader({ name: 'short', type: '0', size: 3, gnu: true }),
      rawBody('gnu'),
      rawHeader({ name: '././@LongLink', type: 'K', size: longTarget.length, gnu: true }),
      rawBody(longTarget),
      rawHeader({ name: 'symlink', type: '2', gnu: true, linkname: 'short-target' }),
      paxEntry([['linkpath', longTarget + '-pax']]),
      rawHeader({ name: 'symlink2', type: '2', linkname: 'x' }),
      Buffer.alloc(1024),
    ]);
    const root = freshDir();
    await apply(root, tar);
    expect(fs.readFileSync(join(root, 'p'.repeat(90), 'q'.repeat(90)), 'utf8')).toBe('prefix');
    expect(fs.readFileSync(join(root, longDir, longFile), 'utf8')).toBe('pax');
    expect(fs.existsSync(join(root, 'ignored-by-pax'))).toBe(false);
    expect(fs.readFileSync(join(root, 'g'.repeat(200)), 'utf8')).toBe('gnu');
    expect(fs.readlinkSync(join(root, 'symlink'))).toBe(longTarget);
    expect(fs.readlinkSync(join(root, 'symlink2'))).toBe(longTarget + '-pax');
  });

  it('ignores PAX global headers (they do not rename later entries) and accepts pre-POSIX "\\0" types', async () => {
    const tar = Buffer.concat([
      paxEntry([['path', 'renamed'], ['comment', 'hi']], 'g'),
      rawHeader({ name: 'kept', type: '0', size: 1 }),
      rawBody('k'),
      rawHeader({ name: 'olddir/', type: '\0', mode: 0o711 }),
      rawHeader({ name: 'oldfile', type: '\0', size: 2 }),
      rawBody('of'),
      Buffer.alloc(1024),
    ]);
    const root = freshDir();
    await apply(root, tar);
    expect(listTree(root)).toEqual(['kept', 'olddir', 'oldfile']);
    expect(fs.statSync(join(root, 'olddir')).mode & 0o777).toBe(0o711);
  });

  it('keeps non-UTF-8 names byte for byte', async () => {
    const name = Buffer.from([0x6e, 0xe9, 0xff, 0x2e, 0x74]); // "n\xe9\xff.t"
    const tar = Buffer.concat([rawHeader({ name: name.toString('latin1'), type: '0', size: 1 }), rawBody('x'), Buffer.alloc(1024)]);
    const root = freshDir();
    await apply(root, tar);
    const names = fs.readdirSync(root, { encoding: 'buffer' });
    expect(names).toEqual([name]);
  });

  it('rejects unknown entry types, contiguous files and GNU sparse files', async () => {
    for (const type of ['7', 'S', 'Z', 'V']) {
      const tar = Buffer.concat([rawHeader({ name: 'odd', type, size: 0 }), Buffer.alloc(1024)]);
      await expect(apply(freshDir(), tar), type).rejects.toThrow(/unhandled tar header type \d+/);
    }
    const sparse = Buffer.concat([paxEntry([['GNU.sparse.major', '1'], ['GNU.sparse.minor', '0']]), rawHeader({ name: 'sp', type: '0' }), Buffer.alloc(1024)]);
    await expect(apply(freshDir(), sparse)).rejects.toThrow(/sparse/);
  });

  it('fails on truncated or corrupt archives', async () => {
    const layer = await buildLayer([{ path: 'a', type: 'file', content: 'x'.repeat(2000) }]);
    await expect(apply(freshDir(), layer.tar.subarray(0, 1000))).rejects.toThrow(/unexpected EOF/);
    await expect(apply(freshDir(), layer.tar.subarray(0, 300))).rejects.toThrow(/unexpected EOF/);
    const bad = Buffer.from(layer.tar);
    bad[10] = bad[10]! ^ 0x55;
    await expect(apply(freshDir(), bad)).rejects.toThrow(/invalid tar header/);
    // A stream that just stops at a header boundary is a normal end (Go's reader).
    const root = freshDir();
    await apply(root, layer.tar.subarray(0, 512 + 2048));
    expect(fs.readFileSync(join(root, 'a'), 'utf8')).toBe('x'.repeat(2000));
  });
});

describe('applyLayer: replacing what is there', () => {
  it('replaces non-directories, merges directory onto directory, replaces a directory by a file', async () => {
    const root = freshDir();
    await apply(root, (await buildLayer([
      { path: 'keep', type: 'dir', mode: 0o700 },
      { path: 'keep/old', type: 'file', content: 'old' },
      { path: 'was-dir', type: 'dir' },
      { path: 'was-dir/child', type: 'file', content: 'c' },
      { path: 'was-file', type: 'file', content: 'f' },
      { path: 'was-link', type: 'symlink', linkname: 'keep' },
      { path: 'file', type: 'file', content: 'v1', mode: 0o600 },
    ])).tar);
    await apply(root, (await buildLayer([
      { path: 'keep', type: 'dir', mode: 0o755, uid: 7 },
      { path: 'keep/new', type: 'file', content: 'new' },
      { path: 'was-dir', type: 'file', content: 'now a file' },
      { path: 'was-file', type: 'dir' },
      { path: 'was-link', type: 'dir' },
      { path: 'was-link/inside', type: 'file', content: 'i' },
      { path: 'file', type: 'file', content: 'v2', mode: 0o644 },
    ])).tar);
    expect(listTree(root)).toEqual(['file', 'keep', 'keep/new', 'keep/old', 'was-dir', 'was-file', 'was-link', 'was-link/inside']);
    const keep = fs.lstatSync(join(root, 'keep'));
    expect([keep.mode & 0o7777, keep.uid]).toEqual([0o755, 7]);
    expect(fs.readFileSync(join(root, 'was-dir'), 'utf8')).toBe('now a file');
    expect(fs.lstatSync(join(root, 'was-link')).isDirectory()).toBe(true);
    expect(fs.existsSync(join(root, 'keep/inside'))).toBe(false);
    expect(fs.readFileSync(join(root, 'file'), 'utf8')).toBe('v2');
    expect(fs.statSync(join(root, 'file')).mode & 0o7777).toBe(0o644);
  });

  it('applies setuid/setgid after chown (which clears them)', async () => {
    const root = freshDir();
    await apply(root, (await buildLayer([{ path: 'su', type: 'file', mode: 0o6755, uid: 1, gid: 2, content: 'x' }])).tar);
    const st = fs.lstatSync(join(root, 'su'));
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o6755, 1, 2]);
  });
});

// ------------------------------------------------------------------ whiteouts

async function baseLayer(): Promise<Layer> {
  return buildLayer([
    { path: 'etc', type: 'dir' },
    { path: 'etc/keep', type: 'file', content: 'keep' },
    { path: 'etc/todelete', type: 'file', content: 'bye' },
    { path: 'etc/subdir', type: 'dir' },
    { path: 'etc/subdir/deep', type: 'file', content: 'deep' },
    { path: 'opq', type: 'dir', mode: 0o750 },
    { path: 'opq/lower1', type: 'file', content: 'l1' },
    { path: 'opq/lowerdir', type: 'dir' },
    { path: 'opq/lowerdir/x', type: 'file', content: 'x' },
    { path: 'opq/same', type: 'file', content: 'lower version' },
  ]);
}

async function whiteoutLayer(): Promise<Layer> {
  return buildLayer([
    whiteout('etc/todelete'),
    whiteout('etc/subdir'),
    whiteout('etc/never-existed'),
    { path: 'opq', type: 'dir', mode: 0o750 },
    { path: 'opq/same', type: 'file', content: 'upper version' },
    opaqueWhiteout('opq'),
    { path: 'opq/new', type: 'file', content: 'new' },
    { path: 'etc/.wh....', type: 'file', content: '' }, // whiteout of a file named "..."
  ]);
}

describe('applyLayer: whiteouts', () => {
  it('without overlay conversion deletes (whiteouts and opaque directories)', async () => {
    const root = freshDir();
    await apply(root, (await baseLayer()).tar);
    fs.writeFileSync(join(root, 'etc/...'), 'dots');
    await apply(root, (await whiteoutLayer()).tar);
    expect(listTree(root)).toEqual(['etc', 'etc/keep', 'opq', 'opq/new', 'opq/same']);
    expect(fs.readFileSync(join(root, 'opq/same'), 'utf8')).toBe('upper version');
  });

  it('with overlay conversion writes 0:0 character devices and trusted.overlay.opaque', async () => {
    const upper = freshDir('upper');
    const layer = await buildLayer([
      { ...whiteout('etc/todelete'), uid: 12, gid: 34 },
      whiteout('etc/subdir'),
      { path: 'opq', type: 'dir', mode: 0o750 },
      opaqueWhiteout('opq'),
      { path: 'opq/new', type: 'file', content: 'new' },
    ]);
    await apply(upper, layer.tar, { overlayWhiteouts: true });
    expect(listTree(upper)).toEqual(['etc', 'etc/subdir', 'etc/todelete', 'opq', 'opq/new']);
    for (const w of ['etc/todelete', 'etc/subdir']) {
      const st = fs.lstatSync(join(upper, w));
      expect(st.isCharacterDevice()).toBe(true);
      expect(st.rdev).toBe(0);
    }
    const st = fs.lstatSync(join(upper, 'etc/todelete'));
    expect([st.uid, st.gid]).toEqual([12, 34]);
    expect(lgetxattr(join(upper, 'opq'), 'trusted.overlay.opaque')?.toString()).toBe('y');
    expect(lgetxattr(join(upper, 'etc'), 'trusted.overlay.opaque')).toBeNull();
  });

  it('copies implicit parent directories from the parents (lower dirs)', async () => {
    const lower2 = freshDir('lower');
    const lower1 = freshDir('lower');
    fs.mkdirSync(join(lower2, 'usr/share'), { recursive: true });
    fs.chmodSync(join(lower2, 'usr'), 0o711);
    fs.chownSync(join(lower2, 'usr'), 5, 6);
    fs.utimesSync(join(lower2, 'usr'), 1_000_000, 1_111_111);
    lsetxattr(join(lower2, 'usr'), 'user.origin', 'lower2');
    fs.mkdirSync(join(lower1, 'usr/share'), { recursive: true });
    fs.chmodSync(join(lower1, 'usr/share'), 0o701);
    const upper = freshDir('upper');
    await apply(upper, (await buildLayer([{ path: 'usr/share/doc/f', type: 'file', content: 'f' }])).tar, {
      overlayWhiteouts: true,
      parents: [lower1, lower2],
    });
    // usr: nearest parent with usr is lower1 (created by mkdir -p: 0755 root); share: lower1's 0701
    expect(fs.lstatSync(join(upper, 'usr')).mode & 0o7777).toBe(fs.lstatSync(join(lower1, 'usr')).mode & 0o7777);
    expect(fs.lstatSync(join(upper, 'usr/share')).mode & 0o7777).toBe(0o701);
    expect(fs.lstatSync(join(upper, 'usr/share/doc')).mode & 0o7777).toBe(0o755);

    const upper2 = freshDir('upper');
    await apply(upper2, (await buildLayer([{ path: 'usr/x', type: 'file', content: 'x' }])).tar, { overlayWhiteouts: true, parents: [lower2] });
    const st = fs.lstatSync(join(upper2, 'usr'));
    // (its mtime is the copied one only until usr/x is created in it, as in containerd)
    expect([st.mode & 0o7777, st.uid, st.gid]).toEqual([0o711, 5, 6]);
    expect(lgetxattr(join(upper2, 'usr'), 'user.origin')?.toString()).toBe('lower2');
  });

  it('shows the expected merged view of a real 3-layer overlay stack', async () => {
    const l1 = freshDir('l1');
    const l2 = freshDir('l2');
    const l3 = freshDir('l3');
    const work = freshDir('work');
    const merged = freshDir('merged');
    await apply(l1, (await baseLayer()).tar, { overlayWhiteouts: true });
    await apply(l2, (await buildLayer([
      { path: 'etc/keep', type: 'file', content: 'keep v2' },
      { path: 'etc/added', type: 'file', content: 'added in 2' },
      { path: 'opq/lower2', type: 'file', content: 'l2' },
    ])).tar, { overlayWhiteouts: true, parents: [l1] });
    await apply(l3, (await whiteoutLayer()).tar, { overlayWhiteouts: true, parents: [l2, l1] });
    mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${l3}:${l2}:${l1}`, `upperdir=${freshDir('u')}`, `workdir=${work}`] }], merged);
    try {
      expect(listTree(merged)).toEqual(['etc', 'etc/added', 'etc/keep', 'opq', 'opq/new', 'opq/same']);
      expect(fs.readFileSync(join(merged, 'etc/keep'), 'utf8')).toBe('keep v2');
      expect(fs.readFileSync(join(merged, 'opq/same'), 'utf8')).toBe('upper version');
      expect(fs.statSync(join(merged, 'opq')).mode & 0o7777).toBe(0o750);
    } finally {
      umount2(merged, MNT_DETACH);
    }
  });
});

describe('decompress', () => {
  let layer: Layer;
  beforeEach(async () => {
    layer ??= await buildLayer([...ALL_TYPES, { path: 'big', type: 'file', content: Buffer.alloc(300_000, 0x41) }]);
  });

  const haveZstd = ((): boolean => {
    try {
      execFileSync('zstd', ['--version'], { stdio: 'ignore' });
      return true;
    } catch {
      return false;
    }
  })();

  it('detects gzip and uncompressed by magic and yields the tar', async () => {
    for (const [blob, kind] of [[layer.gz, 'gzip'], [layer.tar, 'uncompressed'], [Buffer.alloc(0), 'uncompressed']] as const) {
      const d = await decompress(chunked(blob, 5));
      expect(d.compression).toBe(kind);
      const root = freshDir();
      const r = await applyLayer(root, d.stream, { overlayWhiteouts: false });
      expect(r.digest).toBe(blob.length === 0 ? 'sha256:' + sha(Buffer.alloc(0)) : layer.diffID);
    }
  });

  it.skipIf(!haveZstd)('decompresses zstd (also with a skippable frame first and several frames) on a worker', async () => {
    const zst = execFileSync('zstd', ['-3', '-c', '-q'], { input: layer.tar });
    const half = layer.tar.length >> 1;
    const twoFrames = Buffer.concat([
      Buffer.from([0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 1, 2, 3, 4]), // skippable frame
      execFileSync('zstd', ['-1', '-c', '-q'], { input: layer.tar.subarray(0, half) }),
      execFileSync('zstd', ['-19', '-c', '-q'], { input: layer.tar.subarray(half) }),
    ]);
    for (const blob of [zst, twoFrames]) {
      const d = await decompress(chunked(blob, 1000));
      expect(d.compression).toBe('zstd');
      const r = await applyLayer(freshDir(), d.stream, { overlayWhiteouts: false });
      expect(r).toEqual({ size: layer.tar.length, digest: layer.diffID });
    }
    const corrupt = Buffer.from(zst);
    corrupt.fill(0x13, 20, 60);
    const d = await decompress(chunked(corrupt));
    await expect(applyLayer(freshDir(), d.stream, { overlayWhiteouts: false })).rejects.toThrow();
  });

  it('refuses zstd frames that ask for a window over 256 MiB (fzstd allocates it up front)', async () => {
    const huge = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3]), Buffer.alloc(100)]);
    const d = await decompress(chunked(huge));
    expect(d.compression).toBe('zstd');
    await expect(applyLayer(freshDir(), d.stream, { overlayWhiteouts: false })).rejects.toThrow(/window/);
  });

  it('reports gzip corruption', async () => {
    const bad = Buffer.from(layer.gz);
    bad.fill(0, 100, 200);
    const d = await decompress(chunked(bad));
    await expect(applyLayer(freshDir(), d.stream, { overlayWhiteouts: false })).rejects.toThrow();
    expect(zlib.gunzipSync(layer.gz).equals(layer.tar)).toBe(true);
  });
});
