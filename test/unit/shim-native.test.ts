// The native functions added for the shim (src/native/io.ts): pipe2, SO_PEERCRED,
// eventfd, TIOCSWINSZ/TIOCGWINSZ.
import * as fs from 'node:fs';
import { describe, expect, it } from 'vitest';
import * as N from '../../src/native';

describe.skipIf(!N.nativeAvailable())('native additions for the shim', () => {
  it('pipe(): a close-on-exec pipe', () => {
    const [r, w] = N.pipe();
    expect(fs.readlinkSync(`/proc/self/fd/${r}`)).toMatch(/^pipe:\[\d+\]$/);
    const flags = fs.readFileSync(`/proc/self/fdinfo/${w}`, 'utf8');
    expect(Number.parseInt(/flags:\s+(\d+)/.exec(flags)![1]!, 8) & 0o2000000).toBe(0o2000000); // O_CLOEXEC
    fs.writeSync(w, 'abc');
    const b = Buffer.alloc(8);
    expect(fs.readSync(r, b, 0, 8, null)).toBe(3);
    expect(b.subarray(0, 3).toString()).toBe('abc');
    fs.closeSync(r);
    fs.closeSync(w);
  });

  it('getPeerCred(): our own credentials across a socketpair', () => {
    const [a, b] = N.socketpair();
    expect(N.getPeerCred(a)).toEqual({ pid: process.pid, uid: process.getuid!(), gid: process.getgid!() });
    fs.closeSync(a);
    fs.closeSync(b);
    const [r, w] = N.pipe();
    expect(() => N.getPeerCred(r)).toThrow(/ENOTSOCK/);
    fs.closeSync(r);
    fs.closeSync(w);
  });

  it('eventfd(): counter semantics, non-blocking; constants match the headers', () => {
    expect(N.native().constants['EFD_CLOEXEC']).toBe(N.EFD_CLOEXEC);
    expect(N.native().constants['EFD_NONBLOCK']).toBe(N.EFD_NONBLOCK);
    const fd = N.eventfd();
    const one = Buffer.alloc(8);
    one.writeBigUInt64LE(1n);
    fs.writeSync(fd, one);
    fs.writeSync(fd, one);
    const b = Buffer.alloc(8);
    fs.readSync(fd, b, 0, 8, null);
    expect(b.readBigUInt64LE()).toBe(2n);
    expect(() => fs.readSync(fd, b, 0, 8, null)).toThrow(/EAGAIN/);
    fs.closeSync(fd);
  });

  it('setWinsize()/getWinsize(): ENOTTY on a non-terminal', () => {
    const [r, w] = N.pipe();
    expect(() => N.setWinsize(r, 24, 80)).toThrow(/ENOTTY/);
    expect(() => N.getWinsize(r)).toThrow(/ENOTTY/);
    fs.closeSync(r);
    fs.closeSync(w);
  });
});
