// The native addon against the real kernel. Runs as root; everything happens inside a
// temp dir with a private tmpfs mounted on it (so xattrs, overlay and device nodes do
// not depend on the host file system), and every mount is undone in finally blocks.

import { execFileSync, spawn } from 'child_process';
import {
  closeSync, existsSync, fstatSync, lstatSync, mkdirSync, mkdtempSync, openSync, readFileSync,
  readSync, readdirSync, rmSync, statSync, symlinkSync, writeFileSync, writeSync,
} from 'fs';
import { tmpdir } from 'os';
import { join } from 'path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as N from '../../src/native';

type MountInfo = { target: string; fstype: string; options: string[]; superOptions: string[] };

function mountsAt(target: string): MountInfo[] {
  const out: MountInfo[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const f = pre!.split(' ');
    const mp = f[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
    if (mp !== target) continue;
    const g = post!.split(' ');
    out.push({ target: mp, fstype: g[0]!, options: f[5]!.split(','), superOptions: g[2]!.split(',') });
  }
  return out;
}

function topMountAt(target: string): MountInfo | undefined {
  const all = mountsAt(target);
  return all[all.length - 1];
}

function thrown(fn: () => unknown): N.NativeError {
  try {
    fn();
  } catch (err) {
    return err as N.NativeError;
  }
  throw new Error('expected an error');
}

function tryUmount(target: string): void {
  for (let i = 0; i < 8; i++) {
    try {
      N.umount2(target, N.MNT_DETACH);
    } catch {
      return;
    }
  }
}

let root: string; // mkdtemp dir with a tmpfs mounted on it

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-native-'));
  N.mount('tmpfs', root, 'tmpfs', N.MS_NOSUID, 'mode=0755,size=64m');
});

afterAll(() => {
  if (root) {
    tryUmount(root);
    rmSync(root, { recursive: true, force: true });
  }
});

function scratch(name: string): string {
  const d = join(root, name);
  mkdirSync(d, { recursive: true });
  return d;
}

describe('loading and constants', () => {
  it('loads from native/build/Release', () => {
    expect(N.NATIVE_ADDON_PATH.endsWith(join('native', 'build', 'Release', 'berth_native.node'))).toBe(true);
    expect(N.nativeAvailable()).toBe(true);
  });

  it('TS constants equal the C headers', () => {
    const c = N.native().constants;
    const names = Object.keys(N).filter((k) => /^(MS|MNT|UMOUNT|S_IF|XATTR|AT|UTIME|W[A-Z]|CLD|P_PIDFD|PIDFD|CLONE)_?/.test(k) && typeof (N as Record<string, unknown>)[k] === 'number');
    expect(names.length).toBeGreaterThan(50);
    for (const k of names) expect([k, c[k]]).toEqual([k, (N as unknown as Record<string, number>)[k]]);
  });
});

describe('errors', () => {
  it('mount on a missing dir is ENOENT with errno, syscall and paths', () => {
    const missing = join(root, 'does-not-exist');
    const err = thrown(() => N.mount('tmpfs', missing, 'tmpfs', 0, null));
    expect(err).toBeInstanceOf(Error);
    expect(err.code).toBe('ENOENT');
    expect(err.errno).toBe(2);
    expect(err.syscall).toBe('mount');
    expect(err.path).toBe('tmpfs');
    expect(err.dest).toBe(missing);
    expect(err.message).toBe(`mount(tmpfs, ${missing}): ENOENT: No such file or directory`);
    expect(N.isNativeError(err, 'ENOENT')).toBe(true);
  });

  it('umount2 of a non-mount point is EINVAL; lgetxattr of a missing path is ENOENT', () => {
    const d = scratch('errors');
    expect(thrown(() => N.umount2(d)).code).toBe('EINVAL');
    const e = thrown(() => N.lgetxattr(join(d, 'nope'), 'user.x'));
    expect([e.code, e.syscall, e.message]).toEqual(['ENOENT', 'lgetxattr', `lgetxattr(${join(d, 'nope')}, user.x): ENOENT: No such file or directory`]);
  });

  it('rejects bad arguments before the syscall', () => {
    expect(() => N.mount('a', 'b\0c', null, 0)).toThrow(/null bytes/);
    expect(() => N.mknod(123 as unknown as string, 0)).toThrow(TypeError);
    expect(() => N.umount2('/x', 1.5)).toThrow(/integer/);
  });
});

describe('parseMountOptions (containerd table)', () => {
  it('maps flags and leaves the rest as data', () => {
    expect(N.parseMountOptions(['ro', 'nosuid', 'nodev', 'noexec', 'lowerdir=/a:/b', 'upperdir=/u'])).toEqual({
      flags: N.MS_RDONLY | N.MS_NOSUID | N.MS_NODEV | N.MS_NOEXEC,
      data: 'lowerdir=/a:/b,upperdir=/u',
      losetup: false,
    });
    expect(N.parseMountOptions(['rbind', 'rprivate']).flags).toBe(N.MS_BIND | N.MS_REC | N.MS_PRIVATE);
    expect(N.parseMountOptions(['bind', 'rshared']).flags).toBe(N.MS_BIND | N.MS_SHARED | N.MS_REC);
    expect(N.parseMountOptions(['rslave']).flags).toBe(N.MS_SLAVE | N.MS_REC);
    expect(N.parseMountOptions(['remount', 'relatime', 'strictatime', 'noatime']).flags).toBe(
      N.MS_REMOUNT | N.MS_RELATIME | N.MS_STRICTATIME | N.MS_NOATIME,
    );
    expect(N.parseMountOptions(['loop', 'ro']).losetup).toBe(true);
    expect(N.parseMountOptions(['defaults']).data).toBe('');
  });

  it('clearing options undo earlier ones, in order', () => {
    expect(N.parseMountOptions(['ro', 'rw']).flags).toBe(0);
    expect(N.parseMountOptions(['rw', 'ro']).flags).toBe(N.MS_RDONLY);
    expect(N.parseMountOptions(['nosuid', 'suid', 'nodev', 'dev', 'noexec', 'exec', 'noatime', 'atime']).flags).toBe(0);
    expect(N.parseMountOptions(['sync', 'async', 'mand', 'nomand', 'relatime', 'norelatime']).flags).toBe(0);
  });

  it('compacts long overlay lowerdirs to a common parent', () => {
    const lowers = ['/var/lib/x/snapshots/12/fs', '/var/lib/x/snapshots/13/fs', '/var/lib/x/snapshots/1/fs'];
    expect(N.compactLowerdirOption([`lowerdir=${lowers.join(':')}`, 'upperdir=/u', 'workdir=/w'])).toEqual({
      chdir: '/var/lib/x/snapshots/',
      options: ['upperdir=/u', 'workdir=/w', 'lowerdir=12/fs:13/fs:1/fs'],
    });
    expect(N.compactLowerdirOption(['lowerdir=/one', 'upperdir=/u']).chdir).toBeNull();
    expect(N.compactLowerdirOption(['lowerdir=/a/x:/b/y']).chdir).toBeNull();
  });
});

describe('mount', () => {
  it('mounts and unmounts a tmpfs', () => {
    const d = scratch('tmpfs');
    try {
      N.mount('tmpfs', d, 'tmpfs', N.MS_NOSUID | N.MS_NODEV, 'size=1m,mode=0700');
      const m = topMountAt(d)!;
      expect(m.fstype).toBe('tmpfs');
      expect(m.options).toEqual(expect.arrayContaining(['rw', 'nosuid', 'nodev']));
      expect(m.superOptions).toEqual(expect.arrayContaining(['size=1024k', 'mode=700']));
      writeFileSync(join(d, 'f'), 'x');
      N.umount2(d);
      expect(mountsAt(d)).toHaveLength(0);
      expect(existsSync(join(d, 'f'))).toBe(false);
    } finally {
      tryUmount(d);
    }
  });

  it('bind mounts then remounts read-only (mountAll, type bind, "ro")', () => {
    const src = scratch('bind-src');
    const dst = scratch('bind-dst');
    writeFileSync(join(src, 'hello'), 'world');
    try {
      N.mountAll([{ type: 'bind', source: src, options: ['rbind', 'ro'] }], dst);
      expect(readFileSync(join(dst, 'hello'), 'utf8')).toBe('world');
      expect(topMountAt(dst)!.options).toContain('ro');
      const err = thrown(() => writeFileSync(join(dst, 'new'), 'x'));
      expect(err.code).toBe('EROFS');
      // the source stays writable
      writeFileSync(join(src, 'new'), 'y');
      expect(readFileSync(join(dst, 'new'), 'utf8')).toBe('y');
    } finally {
      tryUmount(dst);
    }
  });

  it('applies propagation with a separate call and honours mount.target', () => {
    const src = scratch('prop-src');
    const dst = scratch('prop-dst');
    mkdirSync(join(dst, 'sub'));
    try {
      N.mountAll([{ type: 'bind', source: src, target: '../../sub', options: ['bind', 'rprivate', 'nosuid'] }], dst);
      const m = topMountAt(join(dst, 'sub'))!;
      expect(m).toBeDefined();
      expect(m.options).toContain('nosuid');
    } finally {
      tryUmount(join(dst, 'sub'));
    }
  });

  it('mounts an overlay with lower/upper/work; writes land in upper, deletes are whiteouts', () => {
    const base = scratch('ovl');
    const [lower, upper, work, merged] = ['lower', 'upper', 'work', 'merged'].map((n) => scratch(`ovl/${n}`)) as [string, string, string, string];
    writeFileSync(join(lower, 'a'), 'from lower');
    writeFileSync(join(lower, 'gone'), 'x');
    mkdirSync(join(lower, 'opaque'));
    writeFileSync(join(lower, 'opaque', 'hidden'), 'x');
    // an opaque dir in the upper hides the lower dir's contents
    mkdirSync(join(upper, 'opaque'));
    N.lsetxattr(join(upper, 'opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
    try {
      N.mountAll(
        [{ type: 'overlay', source: 'overlay', options: [`lowerdir=${lower}`, `upperdir=${upper}`, `workdir=${work}`] }],
        merged,
      );
      expect(topMountAt(merged)!.fstype).toBe('overlay');
      expect(readFileSync(join(merged, 'a'), 'utf8')).toBe('from lower');
      expect(readdirSync(join(merged, 'opaque'))).toEqual([]);
      writeFileSync(join(merged, 'b'), 'new');
      rmSync(join(merged, 'gone'));
      expect(readFileSync(join(upper, 'b'), 'utf8')).toBe('new');
      const wh = lstatSync(join(upper, 'gone'));
      expect(wh.isCharacterDevice()).toBe(true);
      expect(wh.rdev).toBe(0);
    } finally {
      tryUmount(merged);
    }
    expect(existsSync(base)).toBe(true);
  });

  it('mounts an overlay whose lowerdir option exceeds the page via a common parent', () => {
    // 40 lowers under a long common prefix: ~7 KB of options, over the 4 KB page.
    const snaps = scratch(`ovl-long/${'p'.repeat(150)}/snapshots`);
    const ids = Array.from({ length: 40 }, (_, i) => String(i + 1));
    const lowers = ids.map((id) => {
      const d = join(snaps, id, 'fs');
      mkdirSync(d, { recursive: true });
      writeFileSync(join(d, `layer-${id}`), id);
      writeFileSync(join(d, 'top'), id);
      return d;
    });
    const upper = scratch('ovl-long/upper');
    const work = scratch('ovl-long/work');
    const merged = scratch('ovl-long/merged');
    // overlay's lowerdir lists the topmost layer first
    const options = [`lowerdir=${[...lowers].reverse().join(':')}`, `upperdir=${upper}`, `workdir=${work}`];
    expect(options.join(',').length).toBeGreaterThan(4096);
    expect(N.compactLowerdirOption(options).chdir).toBe(`${snaps}/`);
    try {
      N.mountAll([{ type: 'overlay', source: 'overlay', options }], merged);
      expect(readFileSync(join(merged, 'top'), 'utf8')).toBe('40');
      expect(readFileSync(join(merged, 'layer-1'), 'utf8')).toBe('1');
      expect(readdirSync(merged).filter((n) => n.startsWith('layer-'))).toHaveLength(40);
      expect(process.cwd()).not.toBe(`${snaps}/`);
    } finally {
      tryUmount(merged);
    }
  });

  it('umount2Async unmounts on the thread pool; a non-mount point rejects with EINVAL', async () => {
    const d = scratch('async');
    try {
      N.mount('tmpfs', d, 'tmpfs', 0, 'size=1m');
      N.mount('tmpfs', d, 'tmpfs', 0, 'size=2m');
      await N.umount2Async(d);
      expect(mountsAt(d)).toHaveLength(1);
      await N.unmountAll(d, 0, { offLoop: true });
      expect(mountsAt(d)).toHaveLength(0);
      const err = await N.umount2Async(d).then(() => undefined, (e: NodeJS.ErrnoException) => e);
      expect([err?.code, err?.syscall, err?.path]).toEqual(['EINVAL', 'umount2', d]);
    } finally {
      tryUmount(d);
    }
  });

  it('unmountAll removes stacked mounts; unmount ignores non-mount points', async () => {
    const d = scratch('stack');
    try {
      N.mount('tmpfs', d, 'tmpfs', 0, 'size=1m');
      N.mount('tmpfs', d, 'tmpfs', 0, 'size=2m');
      expect(mountsAt(d)).toHaveLength(2);
      await N.unmountAll(d);
      expect(mountsAt(d)).toHaveLength(0);
      await N.unmount(d);
      await N.unmountAll(join(root, 'missing'));
    } finally {
      tryUmount(d);
    }
  });
});

describe('mknod', () => {
  it('makes a 0:0 character device (overlay whiteout) and a fifo', () => {
    const d = scratch('mknod');
    N.mknod(join(d, 'wh'), N.S_IFCHR | 0o000, 0, 0);
    const st = lstatSync(join(d, 'wh'));
    expect(st.isCharacterDevice()).toBe(true);
    expect(st.rdev).toBe(0);
    N.mknod(join(d, 'fifo'), N.S_IFIFO | 0o644);
    expect(lstatSync(join(d, 'fifo')).isFIFO()).toBe(true);
    N.mknod(join(d, 'null'), N.S_IFCHR | 0o666, 1, 3);
    expect(lstatSync(join(d, 'null')).rdev).toBe((1 << 8) | 3);
    expect(thrown(() => N.mknod(join(d, 'fifo'), N.S_IFIFO | 0o644)).code).toBe('EEXIST');
  });
});

describe('xattrs', () => {
  it('sets, gets, lists and removes trusted.* and user.* attributes', () => {
    const d = scratch('xattr');
    const dir = scratch('xattr/dir');
    const file = join(d, 'file');
    writeFileSync(file, '');
    N.lsetxattr(dir, 'trusted.overlay.opaque', Buffer.from('y'));
    expect(N.lgetxattr(dir, 'trusted.overlay.opaque')).toEqual(Buffer.from('y'));
    const big = Buffer.alloc(3000, 0xab);
    N.lsetxattr(file, 'user.berth.big', big);
    N.lsetxattr(file, 'user.berth.empty', Buffer.alloc(0));
    N.lsetxattr(file, 'user.berth.str', 'text');
    expect(N.lgetxattr(file, 'user.berth.big')).toEqual(big);
    expect(N.lgetxattr(file, 'user.berth.empty')).toEqual(Buffer.alloc(0));
    expect(N.lgetxattr(file, 'user.berth.str')!.toString()).toBe('text');
    expect(N.llistxattr(file).sort()).toEqual(['user.berth.big', 'user.berth.empty', 'user.berth.str']);
    expect(N.llistxattr(dir)).toEqual(['trusted.overlay.opaque']);
    // ENODATA → null
    expect(N.lgetxattr(file, 'user.berth.missing')).toBeNull();
    N.lremovexattr(file, 'user.berth.str');
    expect(N.lgetxattr(file, 'user.berth.str')).toBeNull();
    expect(thrown(() => N.lremovexattr(file, 'user.berth.str')).code).toBe('ENODATA');
    expect(thrown(() => N.lsetxattr(file, 'user.berth.big', 'x', N.XATTR_CREATE)).code).toBe('EEXIST');
    expect(thrown(() => N.lsetxattr(file, 'user.berth.nope', 'x', N.XATTR_REPLACE)).code).toBe('ENODATA');
  });

  it('acts on a symlink itself, not its target', () => {
    const d = scratch('xattr-link');
    writeFileSync(join(d, 'target'), '');
    symlinkSync('target', join(d, 'link'));
    N.lsetxattr(join(d, 'link'), 'trusted.berth', 'on-link');
    expect(N.lgetxattr(join(d, 'link'), 'trusted.berth')!.toString()).toBe('on-link');
    expect(N.lgetxattr(join(d, 'target'), 'trusted.berth')).toBeNull();
    // user.* is not allowed on symlinks
    expect(thrown(() => N.lsetxattr(join(d, 'link'), 'user.x', 'v')).code).toBe('EPERM');
  });
});

describe('lutimes', () => {
  it('sets nanosecond atime/mtime on a symlink without touching its target', () => {
    const d = scratch('utimes');
    writeFileSync(join(d, 'target'), '');
    symlinkSync('target', join(d, 'link'));
    const before = statSync(join(d, 'target'), { bigint: true }).mtimeNs;
    N.lutimes(join(d, 'link'), 1_000_000_000, 123_456_789, 1_600_000_000, 987_654_321);
    const st = lstatSync(join(d, 'link'), { bigint: true });
    expect(st.isSymbolicLink()).toBe(true);
    expect(st.atimeNs).toBe(1_000_000_000_123_456_789n);
    expect(st.mtimeNs).toBe(1_600_000_000_987_654_321n);
    expect(statSync(join(d, 'target'), { bigint: true }).mtimeNs).toBe(before);
    // bigint seconds, UTIME_OMIT keeps atime
    N.lutimes(join(d, 'link'), 0, N.UTIME_OMIT, 4_000_000_000n, 1);
    const st2 = lstatSync(join(d, 'link'), { bigint: true });
    expect(st2.atimeNs).toBe(1_000_000_000_123_456_789n);
    expect(st2.mtimeNs).toBe(4_000_000_000_000_000_001n);
    // without AT_SYMLINK_NOFOLLOW utimensat follows the link
    N.utimensat(join(d, 'link'), 5, 5, 6, 6);
    expect(statSync(join(d, 'target'), { bigint: true }).mtimeNs).toBe(6_000_000_006n);
    expect(thrown(() => N.lutimes(join(d, 'missing'), 0, 0, 0, 0)).code).toBe('ENOENT');
  });
});

describe('pidfd and waitid', () => {
  it('reaps exactly a child_process child and reports its exit code', () => {
    const child = spawn('sh', ['-c', 'exit 3'], { stdio: 'ignore' });
    const pidfd = N.pidfdOpen(child.pid!);
    try {
      // blocking waitid: reaped before libuv's SIGCHLD handling runs, so libuv gets
      // ECHILD for it and simply never emits 'exit'
      const r = N.waitidPidfd(pidfd);
      expect(r).toEqual({ pid: child.pid, code: N.CLD_EXITED, status: 3, exitStatus: 3 });
      expect(N.exitedNormally(r!)).toBe(true);
      expect(thrown(() => N.waitidPidfd(pidfd, N.WNOHANG)).code).toBe('ECHILD');
    } finally {
      child.unref();
      closeSync(pidfd);
    }
  });

  it('WNOHANG returns null while running; pidfdSendSignal kills; 128+signal', () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pidfd = N.pidfdOpen(child.pid!);
    try {
      expect(N.waitidPidfd(pidfd, N.WNOHANG)).toBeNull();
      N.pidfdSendSignal(pidfd, 'SIGKILL');
      expect(N.waitidPidfd(pidfd)).toEqual({ pid: child.pid, code: N.CLD_KILLED, status: 9, exitStatus: 137 });
    } finally {
      child.unref();
      closeSync(pidfd);
    }
  });

  it('pidfdOpen of a missing pid is ESRCH', () => {
    const err = thrown(() => N.pidfdOpen(0x3fffffff));
    expect(err.code).toBe('ESRCH');
    expect(err.message).toBe(`pidfd_open(${0x3fffffff}): ESRCH: No such process`);
  });

  it('as a subreaper, adopts an orphaned grandchild and reaps it via a watched pidfd', async () => {
    expect(N.prctlGetChildSubreaper()).toBe(false);
    N.prctlSetChildSubreaper();
    try {
      expect(N.prctlGetChildSubreaper()).toBe(true);
      // sh exits at once; its background subshell is re-parented to us
      const out = execFileSync('sh', ['-c', '(sleep 0.3; exit 7) </dev/null >/dev/null 2>&1 & echo $!'], { encoding: 'utf8' });
      const pid = Number(out.trim());
      expect(pid).toBeGreaterThan(0);
      const pidfd = N.pidfdOpen(pid);
      try {
        expect(N.waitidPidfd(pidfd, N.WNOHANG)).toBeNull();
        const r = await N.waitPidfd(pidfd);
        expect(r).toEqual({ pid, code: N.CLD_EXITED, status: 7, exitStatus: 7 });
      } finally {
        closeSync(pidfd);
      }
    } finally {
      N.prctlSetChildSubreaper(false);
    }
    expect(N.prctlGetChildSubreaper()).toBe(false);
  });

  it('watchFd fires on readability and stops after close', async () => {
    const [a, b] = N.socketpair();
    try {
      let calls = 0;
      const fired = new Promise<number>((resolve) => {
        const w = N.watchFd(b, (err, events) => {
          calls++;
          expect(err).toBeNull();
          w.close();
          w.close();
          resolve(events);
        });
      });
      writeSync(a, 'x');
      expect(await fired).toBe(N.native().constants['UV_READABLE']);
      await new Promise((r) => setTimeout(r, 50));
      expect(calls).toBe(1);
    } finally {
      closeSync(a);
      closeSync(b);
    }
  });
  it('watchFd waits for writability when asked, and setEvents switches what it waits for', async () => {
    const [r, w] = N.pipe();
    try {
      expect(N.native().constants['UV_WRITABLE']).toBe(N.UV_WRITABLE);
      const events: number[] = [];
      let wake: (() => void) | undefined;
      // A full pipe: the write end is not writable until the reader takes some.
      const watcher = N.watchFd(w, (err, ev) => {
        expect(err).toBeNull();
        events.push(ev);
        watcher.setEvents(0);
        wake?.();
      }, N.UV_WRITABLE);
      const chunk = Buffer.alloc(65536, 1);
      for (;;) {
        try {
          writeSync(w, chunk);
        } catch (err) {
          expect((err as NodeJS.ErrnoException).code).toBe('EAGAIN'); // uv_poll made it non-blocking
          break;
        }
      }
      events.length = 0; // it may have fired before the pipe was full
      watcher.setEvents(N.UV_WRITABLE);
      await new Promise((res) => setTimeout(res, 50));
      expect(events).toEqual([]);
      const fired = new Promise<void>((res) => (wake = res));
      const buf = Buffer.alloc(65536);
      readSync(r, buf, 0, buf.length, null);
      await fired;
      expect(events).toEqual([N.UV_WRITABLE]);
      // paused (0): nothing more, though it stays writable
      await new Promise((res) => setTimeout(res, 50));
      expect(events).toEqual([N.UV_WRITABLE]);
      watcher.close();
      watcher.setEvents(N.UV_WRITABLE); // ignored once closed
      expect(() => N.watchFd(r, () => undefined, 64)).toThrow(/unknown uv_poll event bits/);
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });
});

describe('SCM_RIGHTS', () => {
  it('round-trips a descriptor and its data over a socketpair', () => {
    const [a, b] = N.socketpair();
    const file = join(scratch('scm'), 'f');
    writeFileSync(file, 'payload');
    const fd = openSync(file, 'r');
    try {
      expect(N.sendFd(a, fd, 'console-name')).toBe('console-name'.length);
      const got = N.recvFd(b)!;
      try {
        expect(got.data.toString()).toBe('console-name');
        expect(got.fd).not.toBe(fd);
        expect(fstatSync(got.fd).ino).toBe(fstatSync(fd).ino);
        const buf = Buffer.alloc(7);
        readSync(got.fd, buf, 0, 7, 0);
        expect(buf.toString()).toBe('payload');
      } finally {
        closeSync(got.fd);
      }
      // empty data sends one NUL byte
      expect(N.sendFd(a, fd)).toBe(1);
      const got2 = N.recvFd(b)!;
      expect(got2.data).toEqual(Buffer.from([0]));
      closeSync(got2.fd);
      // a message without a descriptor
      writeSync(a, 'plain');
      expect(thrown(() => N.recvFd(b)).code).toBe('ENOMSG');
      // EOF
      closeSync(a);
      expect(N.recvFd(b)).toBeNull();
    } finally {
      closeSync(fd);
      try { closeSync(a); } catch { /* closed above */ }
      closeSync(b);
    }
  });

  it('errors carry errno codes', () => {
    expect(thrown(() => N.recvFd(-1)).code).toBe('EBADF');
    expect(thrown(() => N.sendFd(-1, 0)).code).toBe('EBADF');
  });
});

describe('namespaces', () => {
  it('setns and unshare report errno', () => {
    expect(thrown(() => N.setns(-1, 0)).code).toBe('EBADF');
    expect(thrown(() => N.unshare(-1)).code).toBe('EINVAL');
  });
});

describe('removeTree', () => {
  it('removes a tree of files, directories, symlinks and fifos, without following links', async () => {
    const keep = scratch('rt-keep');
    writeFileSync(join(keep, 'precious'), 'x');
    const d = scratch('rt-tree');
    mkdirSync(join(d, 'a/b/c'), { recursive: true });
    writeFileSync(join(d, 'a/b/c/file'), 'data');
    writeFileSync(join(d, 'top'), 'data');
    symlinkSync(keep, join(d, 'a/link-to-dir'));
    symlinkSync(join(keep, 'precious'), join(d, 'a/b/link-to-file'));
    symlinkSync('/nonexistent', join(d, 'dangling'));
    N.mknod(join(d, 'a/fifo'), 0o010600);
    mkdirSync(join(d, 'ro'), { mode: 0o500 });
    writeFileSync(join(d, 'ro-file'), 'x', { mode: 0o400 });
    await N.removeTree(d);
    expect(existsSync(d)).toBe(false);
    expect(readFileSync(join(keep, 'precious'), 'utf8')).toBe('x');
  });

  it('treats a missing path as done and removes a single file', async () => {
    await N.removeTree(join(root, 'rt-missing'));
    const f = join(scratch('rt-file'), 'f');
    writeFileSync(f, 'x');
    await N.removeTree(f);
    expect(existsSync(f)).toBe(false);
  });

  it('stops at a mount point inside the tree (EBUSY) and leaves the mounted files alone', async () => {
    const d = scratch('rt-mount');
    mkdirSync(join(d, 'sub/mnt'), { recursive: true });
    writeFileSync(join(d, 'sub/other'), 'x');
    N.mount('tmpfs', join(d, 'sub/mnt'), 'tmpfs', 0, 'size=1m');
    try {
      writeFileSync(join(d, 'sub/mnt/inside'), 'keep me');
      const err = await N.removeTree(d).then(() => undefined, (e: N.NativeError) => e);
      expect(err?.code).toBe('EBUSY');
      expect(err?.message).toContain(join(d, 'sub/mnt'));
      expect(readFileSync(join(d, 'sub/mnt/inside'), 'utf8')).toBe('keep me');
      // everything else went
      expect(existsSync(join(d, 'sub/other'))).toBe(false);
    } finally {
      tryUmount(join(d, 'sub/mnt'));
    }
    await N.removeTree(d);
    expect(existsSync(d)).toBe(false);
  });

  it('reports a path it cannot remove with the errno and the path', async () => {
    const d = scratch('rt-immutable');
    writeFileSync(join(d, 'f'), 'x');
    execFileSync('chattr', ['+i', join(d, 'f')]);
    try {
      const err = await N.removeTree(d).then(() => undefined, (e: N.NativeError) => e);
      expect(err?.code).toBe('EPERM');
      expect(err?.message).toContain(join(d, 'f'));
      expect(existsSync(join(d, 'f'))).toBe(true);
    } finally {
      execFileSync('chattr', ['-i', join(d, 'f')]);
    }
    await N.removeTree(d);
    expect(existsSync(d)).toBe(false);
  });
});
