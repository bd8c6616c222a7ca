// Hostile layers: every way a tar can try to write, link, remove or label something
// outside the directory it is applied to. Each case runs in a fresh root on a private
// tmpfs with a sentinel tree beside it ("outside"); the sentinel (and, for the literal
// host paths, the host files named) are fingerprinted before and after and must not
// change. Each case then checks where the entries did land (clamped inside the root,
// as containerd's fs.RootPath does) or the error, and that a normal layer still applies
// to the same root afterwards.
//
// Destructive cases aim at the sentinel through absolute paths (evil -> / then
// evil/<sentinel>/…), so a regression cannot damage the test machine; the literal
// "/etc/…" cases only create names that do not exist on the host.

import { createHash, randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { applyLayer, closeWorkers, type ApplyLayerOptions } from '../../src/diff';
import { lgetxattr, llistxattr, lsetxattr, mount, MNT_DETACH, umount2 } from '../../src/native';
import { buildLayer, type LayerEntry } from '../fixtures/images';

let base: string;
let outside: string; // the sentinel tree, a sibling of every root
let n = 0;

beforeAll(() => {
  base = fs.mkdtempSync(join(tmpdir(), 'berth-hostile-'));
  mount('tmpfs', base, 'tmpfs', 0, 'mode=0755,size=256m');
  outside = join(base, 'outside');
  fs.mkdirSync(join(outside, 'etc'), { recursive: true });
  fs.writeFileSync(join(outside, 'etc/passwd'), 'root:x:0:0::/root:/bin/sh\n');
  fs.writeFileSync(join(outside, 'etc/shadow'), 'root:*:1::::::\n', { mode: 0o600 });
  fs.writeFileSync(join(outside, 'secret'), 'secret');
  fs.mkdirSync(join(outside, 'dir/sub'), { recursive: true });
  fs.writeFileSync(join(outside, 'dir/sub/file'), 'file');
  fs.symlinkSync('../secret', join(outside, 'dir/link'));
  lsetxattr(join(outside, 'secret'), 'user.sentinel', 'yes');
});

afterAll(async () => {
  await closeWorkers();
  for (let i = 0; i < 8; i++) {
    try {
      umount2(base, MNT_DETACH);
    } catch {
      break;
    }
  }
  fs.rmSync(base, { recursive: true, force: true });
});

/** Type, mode, owner, size, content, link target, nlink, times, xattrs of every path. */
function fingerprint(dir: string): string {
  const h = createHash('sha256');
  const rec = (p: string): void => {
    const st = fs.lstatSync(p, { bigint: true });
    h.update(`${p} ${st.mode} ${st.uid}:${st.gid} ${st.size} ${st.nlink} ${st.mtimeNs} ${st.ctimeNs} ${st.rdev}\n`);
    for (const x of llistxattr(p).sort()) h.update(`  ${x}=${lgetxattr(p, x)?.toString('hex')}\n`);
    if (st.isSymbolicLink()) h.update(`  -> ${fs.readlinkSync(p)}\n`);
    else if (st.isFile()) h.update(fs.readFileSync(p));
    else if (st.isDirectory()) for (const e of fs.readdirSync(p).sort()) rec(join(p, e));
  };
  rec(dir);
  return h.digest('hex');
}

/** Host files named by literal hostile paths: must stay as they are (or absent). */
const HOST_PATHS = ['/etc/passwd', '/etc/shadow', '/etc/hostname'];
function hostFingerprint(extra: string[] = []): string {
  return [...HOST_PATHS, ...extra]
    .map((p) => {
      const st = fs.lstatSync(p, { throwIfNoEntry: false, bigint: true });
      return st ? `${p} ${st.mode} ${st.size} ${st.nlink} ${st.mtimeNs} ${st.ctimeNs}` : `${p} absent`;
    })
    .join('\n');
}

let root: string;
let sentinelBefore: string;

beforeEach(() => {
  root = join(base, `root-${++n}`);
  fs.mkdirSync(root);
  sentinelBefore = fingerprint(outside);
});

function chunked(buf: Buffer): Readable {
  return Readable.from([buf], { objectMode: false });
}

async function applyEntries(entries: LayerEntry[], opts: ApplyLayerOptions = { overlayWhiteouts: false }) {
  const layer = await buildLayer(entries);
  return applyLayer(root, chunked(layer.tar), opts);
}

function rel(p: string): string {
  return p.replace(/^\/+/, '');
}

/** The sentinel is untouched and a normal layer still applies to the same root. */
async function expectContained(): Promise<void> {
  expect(fingerprint(outside)).toBe(sentinelBefore);
  const tag = randomBytes(4).toString('hex');
  await applyEntries([{ path: `after/${tag}`, type: 'file', content: tag }]);
  expect(fs.readFileSync(join(root, 'after', tag), 'utf8')).toBe(tag);
  expect(fingerprint(outside)).toBe(sentinelBefore);
}

function exists(p: string): boolean {
  return fs.lstatSync(p, { throwIfNoEntry: false }) !== undefined;
}

describe('hostile layers: names that climb out', () => {
  it('"../../etc/x", "../outside/pwned" and "a/../../x" land inside the root', async () => {
    await applyEntries([
      { path: 'placeholder', type: 'dir' },
    ]);
    // buildLayer cleans names, so write the raw names with tar headers of our own.
    const raw = await rawTar([
      { name: '../../etc/x', type: '0', body: 'x' },
      { name: '../outside/pwned', type: '0', body: 'p' },
      { name: 'a/../../x2', type: '0', body: 'x2' },
      { name: '../../../../../../../../../etc/deep', type: '5' },
    ]);
    await applyLayer(root, chunked(raw), { overlayWhiteouts: false });
    expect(fs.readFileSync(join(root, 'etc/x'), 'utf8')).toBe('x');
    expect(fs.readFileSync(join(root, 'outside/pwned'), 'utf8')).toBe('p');
    expect(fs.readFileSync(join(root, 'x2'), 'utf8')).toBe('x2');
    expect(fs.lstatSync(join(root, 'etc/deep')).isDirectory()).toBe(true);
    expect(exists(join(outside, 'pwned'))).toBe(false);
    expect(exists(join(base, 'x2'))).toBe(false);
    await expectContained();
  });

  it('absolute names ("/etc/x", the sentinel\'s absolute path) are re-rooted', async () => {
    const hostName = `/etc/berth-hostile-${randomBytes(4).toString('hex')}`;
    const hostBefore = hostFingerprint([hostName]);
    const raw = await rawTar([
      { name: hostName, type: '0', body: 'abs' },
      { name: `${outside}/pwned`, type: '0', body: 'abs2' },
      { name: `${outside}/etc/passwd`, type: '0', body: 'owned' },
    ]);
    await applyLayer(root, chunked(raw), { overlayWhiteouts: false });
    expect(fs.readFileSync(join(root, rel(hostName)), 'utf8')).toBe('abs');
    expect(fs.readFileSync(join(root, rel(outside), 'etc/passwd'), 'utf8')).toBe('owned');
    expect(hostFingerprint([hostName])).toBe(hostBefore);
    await expectContained();
  });

  it('entries that resolve to the root itself are skipped', async () => {
    fs.chmodSync(root, 0o711);
    const raw = await rawTar([
      { name: '.', type: '5', mode: 0o777 },
      { name: './', type: '5', mode: 0o777 },
      { name: '/', type: '5', mode: 0o777 },
      { name: 'a/..', type: '0', body: 'x' },
      { name: '..', type: '2', linkname: '/' },
    ]);
    await applyLayer(root, chunked(raw), { overlayWhiteouts: false });
    expect(fs.lstatSync(root).mode & 0o7777).toBe(0o711);
    expect(fs.readdirSync(root)).toEqual([]); // "a/.." cleans to "." too
    await expectContained();
  });
});

describe('hostile layers: symlinks', () => {
  it('evil -> / then evil/<sentinel>/etc/passwd and evil/etc/passwd write inside the root', async () => {
    const hostBefore = hostFingerprint();
    await applyEntries([
      { path: 'evil', type: 'symlink', linkname: '/' },
      { path: `evil/${rel(outside)}/etc/passwd`, type: 'file', content: 'pwned' },
      { path: 'evil/etc/passwd', type: 'file', content: 'pwned too' },
      { path: 'evil/etc/shadow', type: 'hardlink', linkname: 'evil/etc/passwd' },
    ]);
    expect(fs.readlinkSync(join(root, 'evil'))).toBe('/');
    expect(fs.readFileSync(join(root, rel(outside), 'etc/passwd'), 'utf8')).toBe('pwned');
    expect(fs.readFileSync(join(root, 'etc/passwd'), 'utf8')).toBe('pwned too');
    expect(fs.lstatSync(join(root, 'etc/shadow')).nlink).toBe(2);
    expect(hostFingerprint()).toBe(hostBefore);
    await expectContained();
  });

  it('evil -> ../../.. (relative, above the root) then writes through it', async () => {
    await applyEntries([
      { path: 'd/evil', type: 'symlink', linkname: '../../..' },
      { path: 'd/evil/outside/pwned', type: 'file', content: 'p' },
      { path: 'd/evil/outside/etc/passwd', type: 'file', content: 'p' },
      { path: 'd/deeper', type: 'symlink', linkname: '../d/evil/../../../../outside' },
      { path: 'd/deeper/secret', type: 'file', content: 's' },
    ]);
    expect(fs.readFileSync(join(root, 'outside/pwned'), 'utf8')).toBe('p');
    expect(fs.readFileSync(join(root, 'outside/etc/passwd'), 'utf8')).toBe('p');
    expect(fs.readFileSync(join(root, 'outside/secret'), 'utf8')).toBe('s');
    await expectContained();
  });

  it('a symlink to the sentinel, then a directory of the same name: the link is replaced', async () => {
    await applyEntries([
      { path: 'd', type: 'symlink', linkname: outside },
      { path: 'd', type: 'dir', mode: 0o700 },
      { path: 'd/secret', type: 'file', content: 'mine' },
    ]);
    const st = fs.lstatSync(join(root, 'd'));
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o7777).toBe(0o700);
    expect(fs.readFileSync(join(root, 'd/secret'), 'utf8')).toBe('mine');
    await expectContained();
  });

  it('a file replacing a symlink to a file outside replaces the link, not the target', async () => {
    await applyEntries([
      { path: 'f', type: 'symlink', linkname: join(outside, 'etc/passwd') },
      { path: 'rel', type: 'symlink', linkname: '../outside/secret' },
      { path: 'f', type: 'file', content: 'replaced', mode: 0o4755 },
      { path: 'rel', type: 'file', content: 'replaced too' },
    ]);
    expect(fs.lstatSync(join(root, 'f')).isFile()).toBe(true);
    expect(fs.readFileSync(join(root, 'f'), 'utf8')).toBe('replaced');
    expect(fs.lstatSync(join(root, 'f')).mode & 0o7777).toBe(0o4755);
    expect(fs.readFileSync(join(root, 'rel'), 'utf8')).toBe('replaced too');
    await expectContained();
  });

  it('metadata of a symlink entry never reaches its target (no chmod/chown/times/xattrs through it)', async () => {
    await applyEntries([
      { path: 'lnk', type: 'symlink', linkname: join(outside, 'secret'), uid: 33, gid: 33, mtime: 5, xattrs: { 'user.evil': 'x' } },
      { path: 'rel', type: 'symlink', linkname: '../outside/etc/shadow', mode: 0o777, xattrs: { 'trusted.overlay.opaque': 'y' } },
    ]);
    const st = fs.lstatSync(join(root, 'lnk'));
    expect([st.uid, st.gid, st.mtimeMs]).toEqual([33, 33, 5000]);
    expect(lgetxattr(join(outside, 'secret'), 'user.evil')).toBeNull();
    await expectContained();
  });

  it('symlink loops and chains longer than 255 links are errors', async () => {
    await expect(applyEntries([
      { path: 'loop1', type: 'symlink', linkname: 'loop2' },
      { path: 'loop2', type: 'symlink', linkname: 'loop1' },
      { path: 'loop1/x', type: 'file', content: 'x' },
    ])).rejects.toThrow(/too many links/);
    expect(fingerprint(outside)).toBe(sentinelBefore);

    await expect(applyEntries([
      { path: 'self', type: 'symlink', linkname: 'self/a' },
      { path: 'self/x', type: 'file', content: 'x' },
    ])).rejects.toThrow(/too many links|ELOOP/);

    const chain = (len: number, prefix: string): LayerEntry[] => {
      const out: LayerEntry[] = [{ path: `${prefix}${len}`, type: 'dir' }];
      for (let i = len - 1; i >= 0; i--) out.push({ path: `${prefix}${i}`, type: 'symlink', linkname: `${prefix}${i + 1}` });
      out.push({ path: `${prefix}0/end`, type: 'file', content: 'end' });
      return out;
    };
    await expect(applyEntries(chain(300, 'long'))).rejects.toThrow(/too many links/);
    await applyEntries(chain(200, 'ok'));
    expect(fs.readFileSync(join(root, 'ok200/end'), 'utf8')).toBe('end');
    await expectContained();
  });

  it('a directory swapped for a symlink in the middle of a layer is resolved again (no stale cache)', async () => {
    await applyEntries([
      { path: 'd', type: 'dir' },
      { path: 'd/first', type: 'file', content: '1' },
      { path: 'd', type: 'symlink', linkname: outside },
      { path: 'd/second', type: 'file', content: '2' },
      { path: 'w', type: 'dir' },
      { path: 'w/a', type: 'file', content: 'a' },
      { path: '.wh.w', type: 'file' },
      { path: 'w', type: 'symlink', linkname: '../../../outside' },
      { path: 'w/b', type: 'file', content: 'b' },
    ]);
    expect(fs.readlinkSync(join(root, 'd'))).toBe(outside);
    expect(fs.readFileSync(join(root, rel(outside), 'second'), 'utf8')).toBe('2');
    expect(fs.readFileSync(join(root, 'outside/b'), 'utf8')).toBe('b');
    expect(exists(join(outside, 'second'))).toBe(false);
    await expectContained();
  });
});

describe('hostile layers: hard links', () => {
  it('a hard link to /etc/shadow links the root\'s /etc/shadow, or fails when there is none', async () => {
    const hostBefore = hostFingerprint();
    await expect(applyEntries([{ path: 'shadow', type: 'hardlink', linkname: '/etc/shadow' }])).rejects.toThrow(/ENOENT/);
    await applyEntries([
      { path: 'etc/shadow', type: 'file', content: 'mine', mode: 0o600 },
      { path: 'shadow', type: 'hardlink', linkname: '/etc/shadow' },
    ]);
    expect(fs.lstatSync(join(root, 'shadow')).ino).toBe(fs.lstatSync(join(root, 'etc/shadow')).ino);
    expect(hostFingerprint()).toBe(hostBefore);
    await expectContained();
  });

  it('hard links to ../../outside, to the sentinel\'s absolute path and through symlinked dirs stay inside', async () => {
    const raw = await rawTar([
      { name: 'a', type: '1', linkname: '../../outside/secret' },
    ]);
    await expect(applyLayer(root, chunked(raw), { overlayWhiteouts: false })).rejects.toThrow(/ENOENT/);
    await expect(applyEntries([{ path: 'b', type: 'hardlink', linkname: join(outside, 'secret') }])).rejects.toThrow(/ENOENT/);
    await expect(applyEntries([
      { path: 'evil', type: 'symlink', linkname: outside },
      { path: 'c', type: 'hardlink', linkname: 'evil/secret' },
    ])).rejects.toThrow(/ENOENT/);
    // the target's own last component is not followed: linking a symlink links the symlink
    await applyEntries([
      { path: 'tolink', type: 'symlink', linkname: join(outside, 'secret') },
      { path: 'linked', type: 'hardlink', linkname: 'tolink', mode: 0o600 },
    ]);
    expect(fs.lstatSync(join(root, 'linked')).isSymbolicLink()).toBe(true);
    expect(fs.lstatSync(join(outside, 'secret')).nlink).toBe(1);
    // a target that cleans to the root (a directory) cannot be linked
    const raw2 = await rawTar([{ name: 'r', type: '1', linkname: 'x/..' }]);
    await expect(applyLayer(root, chunked(raw2), { overlayWhiteouts: false })).rejects.toThrow();
    await expectContained();
  });
});

describe('hostile layers: whiteouts', () => {
  it('rejects whiteouts whose target would leave their directory', async () => {
    for (const name of ['.wh..', '.wh.', 'a/.wh..', 'a/b/.wh..']) {
      for (const overlayWhiteouts of [false, true]) {
        const raw = await rawTar([{ name, type: '0', body: '' }]);
        await expect(applyLayer(root, chunked(raw), { overlayWhiteouts }), name).rejects.toThrow(/invalid whiteout name/);
      }
    }
    await expectContained();
  });

  it('whiteouts and opaque markers through a symlinked directory act inside the root', async () => {
    for (const overlayWhiteouts of [false, true]) {
      const r = `w-${overlayWhiteouts}`;
      await applyEntries([
        { path: `${r}/evil`, type: 'symlink', linkname: outside },
        { path: `${r}/evil/.wh.secret`, type: 'file' },
        { path: `${r}/evil/etc/.wh.passwd`, type: 'file' },
        { path: `${r}/evil/dir/.wh..wh..opq`, type: 'file' },
        { path: `${r}/up/.wh.outside`, type: 'file' },
        { path: `${r}/rel`, type: 'symlink', linkname: '../../../../outside/dir' },
        { path: `${r}/rel/.wh..wh..opq`, type: 'file' },
      ], { overlayWhiteouts });
      expect(fs.lstatSync(join(root, r, 'evil')).isSymbolicLink()).toBe(true);
      if (overlayWhiteouts) {
        expect(fs.lstatSync(join(root, rel(outside), 'secret')).isCharacterDevice()).toBe(true);
        expect(lgetxattr(join(root, rel(outside), 'dir'), 'trusted.overlay.opaque')?.toString()).toBe('y');
        expect(lgetxattr(join(root, 'outside/dir'), 'trusted.overlay.opaque')?.toString()).toBe('y');
      }
      expect(lgetxattr(join(outside, 'dir'), 'trusted.overlay.opaque')).toBeNull();
      expect(fingerprint(outside)).toBe(sentinelBefore);
    }
    await expectContained();
  });

  it('a naive whiteout of a symlink removes the link, not its target', async () => {
    await applyEntries([
      { path: 'to-dir', type: 'symlink', linkname: join(outside, 'dir') },
      { path: 'to-file', type: 'symlink', linkname: '../outside/secret' },
    ]);
    await applyEntries([{ path: '.wh.to-dir', type: 'file' }, { path: '.wh.to-file', type: 'file' }]);
    expect(exists(join(root, 'to-dir'))).toBe(false);
    expect(exists(join(root, 'to-file'))).toBe(false);
    await expectContained();
  });
});

describe('hostile layers: devices, xattrs, setuid', () => {
  it('device nodes and fifos named through symlinks are created inside the root', async () => {
    await applyEntries([
      { path: 'evil', type: 'symlink', linkname: outside },
      { path: 'evil/null', type: 'char', devmajor: 1, devminor: 3, mode: 0o666 },
      { path: 'evil/sda', type: 'block', devmajor: 8, devminor: 0 },
      { path: 'evil/fifo', type: 'fifo' },
      { path: 'evil/secret', type: 'char', devmajor: 1, devminor: 5 },
    ]);
    expect(fs.lstatSync(join(root, rel(outside), 'null')).isCharacterDevice()).toBe(true);
    expect(fs.lstatSync(join(root, rel(outside), 'sda')).isBlockDevice()).toBe(true);
    expect(fs.lstatSync(join(root, rel(outside), 'secret')).isCharacterDevice()).toBe(true);
    await expectContained();
  });

  it('xattrs on symlinked paths land inside the root; trusted.* from the archive is never set', async () => {
    await applyEntries([
      { path: 'evil', type: 'symlink', linkname: outside },
      { path: 'evil/secret', type: 'file', content: 's', xattrs: { 'user.pwned': '1', 'trusted.overlay.opaque': 'y', 'trusted.overlay.redirect': '/x' } },
      { path: 'evil/dir', type: 'dir', xattrs: { 'trusted.overlay.opaque': 'y', 'user.d': 'd' } },
      { path: 'l', type: 'symlink', linkname: join(outside, 'secret'), xattrs: { 'user.through': 'link' } },
    ]);
    const inside = join(root, rel(outside));
    expect(lgetxattr(join(inside, 'secret'), 'user.pwned')?.toString()).toBe('1');
    expect(llistxattr(join(inside, 'secret')).filter((x) => x.startsWith('trusted.'))).toEqual([]);
    expect(llistxattr(join(inside, 'dir')).filter((x) => x.startsWith('trusted.'))).toEqual([]);
    expect(lgetxattr(join(outside, 'secret'), 'user.through')).toBeNull();
    await expectContained();
  });

  it('setuid/setgid files keep their bits, inside the root', async () => {
    await applyEntries([
      { path: 'evil', type: 'symlink', linkname: '/' },
      { path: `evil/${rel(outside)}/su`, type: 'file', mode: 0o4755, uid: 0, gid: 0, content: '#!/bin/sh\n' },
      { path: 'bin/sg', type: 'file', mode: 0o2711, uid: 1000, gid: 50, content: 'sg' },
      { path: 'bin/sg-link', type: 'hardlink', linkname: 'bin/sg' },
    ]);
    expect(fs.lstatSync(join(root, rel(outside), 'su')).mode & 0o7777).toBe(0o4755);
    const sg = fs.lstatSync(join(root, 'bin/sg'));
    expect([sg.mode & 0o7777, sg.uid, sg.gid, sg.nlink]).toEqual([0o2711, 1000, 50, 2]);
    expect(exists(join(outside, 'su'))).toBe(false);
    await expectContained();
  });
});

// ------------------------------------------------------------------ raw tars

interface RawEntry {
  name: string;
  type: string;
  body?: string;
  linkname?: string;
  mode?: number;
}

/** A tar with names exactly as given (no cleaning), ustar headers, PAX for long names. */
async function rawTar(entries: RawEntry[]): Promise<Buffer> {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    if (e.name.length > 100 || (e.linkname ?? '').length > 100) {
      const recs: string[] = [];
      if (e.name.length > 100) recs.push(paxRecord('path', e.name));
      if ((e.linkname ?? '').length > 100) recs.push(paxRecord('linkpath', e.linkname!));
      const data = Buffer.from(recs.join(''));
      parts.push(header({ name: 'PaxHeader', type: 'x', size: data.length }), pad(data));
    }
    parts.push(header({ name: e.name.slice(0, 100), type: e.type, size: body.length, mode: e.mode, linkname: (e.linkname ?? '').slice(0, 100) }), pad(body));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}

function paxRecord(k: string, v: string): string {
  const body = ` ${k}=${v}\n`;
  let len = Buffer.byteLength(body) + String(Buffer.byteLength(body)).length;
  if (String(len).length !== String(Buffer.byteLength(body)).length) len = Buffer.byteLength(body) + String(len).length;
  return `${len}${body}`;
}

function pad(b: Buffer): Buffer {
  return Buffer.concat([b, Buffer.alloc((512 - (b.length % 512)) % 512)]);
}

function header(f: { name: string; type: string; size: number; mode?: number; linkname?: string }): Buffer {
  const b = Buffer.alloc(512);
  b.write(f.name, 0, 100);
  b.write((f.mode ?? 0o644).toString(8).padStart(7, '0') + '\0', 100);
  b.write('0000000\0', 108);
  b.write('0000000\0', 116);
  b.write(f.size.toString(8).padStart(11, '0') + '\0', 124);
  b.write((1_577_836_800).toString(8).padStart(11, '0') + '\0', 136);
  b.write(f.type, 156, 1);
  if (f.linkname) b.write(f.linkname, 157, 100);
  b.write('ustar\x0000', 257, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const c of b) sum += c;
  b.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
  return b;
}
