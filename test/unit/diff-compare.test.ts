// Diff.Diff's tar writers (src/diff/compare.ts), by round trip: apply a layer to A, copy
// it to B and change B in every way a container can, write the diff A→B, apply that
// diff to another copy of A — it must now equal B. The overlay fast path does the same
// with changes made through a real overlay mount, and must agree with the double walk.

import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { useTmpfsBase } from './tmpfs-base';
import { applyLayer, writeDiff, writeOverlayDiff, type DiffResult } from '../../src/diff';
import { lgetxattr, llistxattr, lsetxattr, mknod, mount, MNT_DETACH, mountAll, S_IFCHR, umount2 } from '../../src/native';
import { buildLayer, readTar, type LayerEntry } from '../fixtures/images';

const tmpfsBase = useTmpfsBase('berth-diff-', '256m');
let n = 0;

function fresh(name: string): string {
  const d = join(tmpfsBase(), `${name}-${++n}`);
  fs.mkdirSync(d);
  return d;
}

function copyTree(from: string, name: string): string {
  const to = join(tmpfsBase(), `${name}-${++n}`);
  execFileSync('cp', ['-a', from, to]);
  return to;
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Everything a layer can say about each path (dir mtimes excluded), plus hard-link groups. */
function describeTree(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const inodes = new Map<bigint, string[]>();
  const rec = (rel: string): void => {
    for (const e of fs.readdirSync(join(root, rel), { encoding: 'buffer' }).map((b) => b.toString('latin1')).sort()) {
      const p = rel ? `${rel}/${e}` : e;
      const full = Buffer.from(join(root, p), 'latin1');
      const st = fs.lstatSync(full, { bigint: true });
      const xattrs = llistxattr(full).filter((x) => x.startsWith('user.') || x.startsWith('security.') || x.startsWith('trusted.')).sort()
        .map((x) => `${x}=${lgetxattr(full, x)?.toString('hex')}`).join(',');
      let what = `${st.mode.toString(8)} ${st.uid}:${st.gid} rdev=${st.rdev} [${xattrs}]`;
      if (st.isFile()) what += ` size=${st.size} sha=${sha(fs.readFileSync(full))} mtime=${st.mtimeNs / 1_000_000_000n}`;
      if (st.isSymbolicLink()) what += ` -> ${fs.readlinkSync(full, { encoding: 'buffer' }).toString('latin1')} mtime=${st.mtimeNs / 1_000_000_000n}`;
      if (!st.isDirectory() && st.nlink > 1n) inodes.set(st.ino, [...(inodes.get(st.ino) ?? []), p]);
      out[p] = what;
      if (st.isDirectory()) rec(p);
    }
  };
  rec('');
  // (a group of one: a link partner outside the tree, e.g. hidden in an overlay's lower dir)
  for (const names of inodes.values()) if (names.length > 1) for (const p of names) out[p] += ` links=${names.join('|')}`;
  return out;
}

async function collect(fn: (out: PassThrough) => Promise<DiffResult>): Promise<{ tar: Buffer; result: DiffResult }> {
  const out = new PassThrough({ highWaterMark: 16 * 1024 });
  const chunks: Buffer[] = [];
  out.on('data', (c: Buffer) => chunks.push(c));
  const result = await fn(out);
  out.end();
  const tar = Buffer.concat(chunks);
  return { tar, result };
}

async function applyTar(root: string, tar: Buffer, overlayWhiteouts = false): Promise<void> {
  await applyLayer(root, Readable.from([tar], { objectMode: false }), { overlayWhiteouts });
}

const LONG = 'l'.repeat(120);
const UTF = Buffer.from('caf\u00e9-\u2603', 'utf8').toString();

const BASE: LayerEntry[] = [
  { path: 'etc', type: 'dir' },
  { path: 'etc/passwd', type: 'file', content: 'root:x:0:0\n', mtime: 1_600_000_000 },
  { path: 'etc/group', type: 'file', content: 'root:x:0:\n' },
  { path: 'etc/hosts', type: 'file', content: '127.0.0.1 localhost\n', uid: 0, gid: 0 },
  { path: 'etc/link', type: 'symlink', linkname: 'passwd' },
  { path: 'bin', type: 'dir' },
  { path: 'bin/busybox', type: 'file', mode: 0o755, content: 'bb' },
  { path: 'bin/sh', type: 'hardlink', linkname: 'bin/busybox' },
  { path: 'usr/share/doc/a', type: 'file', content: 'a' },
  { path: 'usr/share/doc/b', type: 'file', content: 'b' },
  { path: 'var/lib/x', type: 'file', content: 'x' },
  { path: 'opt/tool', type: 'file', content: 'tool' },
  { path: 'srv', type: 'file', content: 'srv is a file' },
  { path: 'attrs', type: 'file', content: 'attrs', xattrs: { 'user.a': '1' } },
  { path: 'unchanged', type: 'file', content: 'same', mode: 0o640 },
];

const T = 1_700_000_000;

/** The changes a container makes, applied to `root` (a copy of A or an overlay mount). */
function mutate(root: string): void {
  const p = (x: string): string => join(root, x);
  fs.writeFileSync(p('new.txt'), 'new');
  fs.utimesSync(p('new.txt'), T, T);
  // same size and mtime seconds, different content: found by comparing content
  fs.writeFileSync(p('etc/passwd'), 'root:y:0:0\n');
  fs.utimesSync(p('etc/passwd'), 1_600_000_000, 1_600_000_000);
  fs.chmodSync(p('etc/group'), 0o600);
  fs.chownSync(p('etc/hosts'), 1000, 1000);
  fs.rmSync(p('usr/share/doc/b'));
  fs.rmSync(p('var/lib'), { recursive: true });
  fs.rmSync(p('opt'), { recursive: true });
  fs.writeFileSync(p('opt'), 'opt is a file now');
  fs.utimesSync(p('opt'), T, T);
  fs.rmSync(p('srv'));
  fs.mkdirSync(p('srv'));
  fs.writeFileSync(p('srv/index.html'), '<html/>');
  fs.utimesSync(p('srv/index.html'), T, T);
  fs.rmSync(p('etc/link'));
  fs.symlinkSync('group', p('etc/link'));
  fs.linkSync(p('bin/busybox'), p('bin/ls')); // a new link to an unmodified file
  lsetxattr(p('attrs'), 'user.b', Buffer.from([0, 1, 2, 255]));
  mknod(p('etc/null'), S_IFCHR | 0o666, 1, 3);
  execFileSync('mkfifo', [p('etc/fifo')]);
  fs.mkdirSync(p(`deep/${LONG}/${LONG}`), { recursive: true });
  fs.writeFileSync(p(`deep/${LONG}/${LONG}/${LONG}.txt`), 'long');
  fs.utimesSync(p(`deep/${LONG}/${LONG}/${LONG}.txt`), T, T);
  fs.writeFileSync(p(UTF), 'utf');
  fs.utimesSync(p(UTF), T, T);
  fs.writeFileSync(p('suid'), 'su', { mode: 0o755 });
  fs.chmodSync(p('suid'), 0o4755);
  fs.utimesSync(p('suid'), T, T);
  fs.mkdirSync(p('emptydir'), { mode: 0o700 });
}

describe('writeDiff (double walk)', () => {
  it('round trips: apply(diff(A, B)) onto a copy of A gives B', async () => {
    const A = fresh('A');
    await applyTar(A, (await buildLayer(BASE)).tar);
    const B = copyTree(A, 'B');
    mutate(B);
    const { tar, result } = await collect((out) => writeDiff(A, B, out, { whiteoutTime: new Date(T * 1000) }));
    expect(result.size).toBe(tar.length);
    expect(result.digest).toBe('sha256:' + sha(tar));

    const C = copyTree(A, 'C');
    await applyTar(C, tar);
    expect(describeTree(C)).toEqual(describeTree(B));

    // What the tar holds: changes only, parents first, deletions as whiteouts, sorted.
    const entries = (await readTar(tar)).map((e) => e.name);
    expect(entries).not.toContain('unchanged');
    expect(entries).not.toContain('usr/share/doc/a');
    expect(entries).toContain('usr/share/doc/.wh.b');
    expect(entries).toContain('var/.wh.lib');
    expect(entries).not.toContain('var/lib/.wh.x'); // implied by the directory's whiteout
    expect(entries.indexOf('usr/share/doc/')).toBeLessThan(entries.indexOf('usr/share/doc/.wh.b'));
    expect(entries).toContain(`deep/${LONG}/${LONG}/${LONG}.txt`);
    const byName = new Map((await readTar(tar)).map((e) => [e.name, e]));
    expect(byName.get('bin/ls')?.type === 'link' || byName.get('bin/busybox')?.type === 'link').toBe(true);
    expect(byName.get('attrs')?.xattrs['user.a']).toBe('1');
    expect(byName.get('suid')?.mode).toBe(0o4755);
  });

  it('is deterministic and empty for identical trees', async () => {
    const A = fresh('A');
    await applyTar(A, (await buildLayer(BASE)).tar);
    const B = copyTree(A, 'B');
    mutate(B);
    const t1 = await collect((out) => writeDiff(A, B, out, { whiteoutTime: new Date(T * 1000) }));
    const t2 = await collect((out) => writeDiff(A, B, out, { whiteoutTime: new Date(T * 1000) }));
    expect(t1.tar.equals(t2.tar)).toBe(true);
    const same = await collect((out) => writeDiff(A, copyTree(A, 'A2'), out));
    expect(same.tar.length).toBe(1024); // end-of-archive marker only
  });

  it('diffs against an empty lower: every entry is an add', async () => {
    const A = fresh('empty');
    const B = fresh('B');
    await applyTar(B, (await buildLayer(BASE)).tar);
    const { tar } = await collect((out) => writeDiff(A, B, out));
    const C = fresh('C');
    await applyTar(C, tar);
    expect(describeTree(C)).toEqual(describeTree(B));
  });
});

describe('writeOverlayDiff', () => {
  it('turns an overlay upper dir into the same layer the double walk gives', async () => {
    const lower = fresh('lower');
    await applyTar(lower, (await buildLayer(BASE)).tar, true);
    const upper = fresh('upper');
    const work = fresh('work');
    const merged = fresh('merged');
    mountAll([{ type: 'overlay', source: 'overlay', options: ['index=off', `lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] }], merged);
    let snapshot: string;
    try {
      mutate(merged);
      // copy-ups that change nothing are not changes
      fs.chmodSync(join(merged, 'unchanged'), 0o600);
      fs.chmodSync(join(merged, 'unchanged'), 0o640);
      // an opaque directory: removed and made again
      fs.rmSync(join(merged, 'usr/share'), { recursive: true });
      fs.mkdirSync(join(merged, 'usr/share'));
      fs.writeFileSync(join(merged, 'usr/share/fresh'), 'fresh');
      snapshot = copyTree(merged, 'snapshot');
    } finally {
      umount2(merged, MNT_DETACH);
    }
    expect(fs.lstatSync(join(upper, 'usr/share/doc', ), { throwIfNoEntry: false })).toBeUndefined();
    expect(lgetxattr(join(upper, 'usr/share'), 'trusted.overlay.opaque')?.toString()).toBe('y');

    const fast = await collect((out) => writeOverlayDiff(upper, [lower], out, { whiteoutTime: new Date(T * 1000) }));
    const names = (await readTar(fast.tar)).map((e) => e.name);
    expect(names).toContain('usr/share/.wh..wh..opq');
    expect(names).not.toContain('unchanged');
    expect(names).toContain('var/.wh.lib');

    // applied naively onto a copy of the lower: the merged view
    const C = copyTree(lower, 'C');
    await applyTar(C, fast.tar);
    expect(describeTree(C)).toEqual(describeTree(snapshot!));

    // applied as an overlay layer: the same merged view through a mount
    const up2 = fresh('up2');
    await applyTar(up2, fast.tar, true);
    const m2 = fresh('m2');
    mountAll([{ type: 'overlay', source: 'overlay', options: [`lowerdir=${up2}:${lower}`] }], m2);
    try {
      expect(describeTree(m2)).toEqual(describeTree(snapshot!));
    } finally {
      umount2(m2, MNT_DETACH);
    }

    // the double walk of the same change: same entries (the opaque directory shows up as
    // deletions of what it hid there, so compare after applying instead)
    const slow = await collect((out) => writeDiff(lower, snapshot!, out, { whiteoutTime: new Date(T * 1000) }));
    const D = copyTree(lower, 'D');
    await applyTar(D, slow.tar);
    expect(describeTree(D)).toEqual(describeTree(C));
    const slowNames = (await readTar(slow.tar)).map((e) => e.name).filter((x) => !x.startsWith('usr/share/'));
    expect(names.filter((x) => !x.startsWith('usr/share/'))).toEqual(slowNames);
  });

  it('refuses upper dirs that use redirect_dir or metacopy', async () => {
    const upper = fresh('upper');
    fs.mkdirSync(join(upper, 'moved'));
    lsetxattr(join(upper, 'moved'), 'trusted.overlay.redirect', '/orig');
    await expect(collect((out) => writeOverlayDiff(upper, [], out))).rejects.toThrow(/redirect_dir/);
  });
});
