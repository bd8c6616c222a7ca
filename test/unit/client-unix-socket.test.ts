// connectUnixSocket: connected before it returns (an FdSocket) when the listener can take
// the connection, else net.connect's way, errors included. Real sockets in a temp dir.
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FdSocket } from '../../src/client/fd-socket';
import { connectUnixSocket } from '../../src/client/unix-socket';
import { native } from '../../src/native/binding';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unix-socket-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function listen(server: net.Server, at: string, backlog?: number): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ path: at, ...(backlog !== undefined ? { backlog } : {}) }, () => resolve());
  });
}

describe('connectUnixSocket', () => {
  it('returns a socket already connected: what is written goes out before the event loop turns', async () => {
    const at = path.join(dir, 's.sock');
    const got: Buffer[] = [];
    const server = net.createServer((c) => {
      c.on('data', (b: Buffer) => {
        got.push(b);
        c.end(Buffer.from(`echo ${b.toString()}`));
      });
    });
    await listen(server, at);
    try {
      const s = connectUnixSocket(at);
      expect(s).toBeInstanceOf(FdSocket);
      expect(s.write(Buffer.from('ping'))).toBe(true);
      const answer = await new Promise<string>((resolve, reject) => {
        const parts: Buffer[] = [];
        s.on('data', (b: Buffer) => parts.push(b));
        s.on('close', () => resolve(Buffer.concat(parts).toString()));
        s.on('error', reject);
      });
      expect(answer).toBe('echo ping');
      expect(Buffer.concat(got).toString()).toBe('ping');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a missing socket fails as net.connect fails: an error event with ENOENT, then close', async () => {
    const s = connectUnixSocket(path.join(dir, 'absent.sock'));
    expect(s).toBeInstanceOf(net.Socket);
    const err = await new Promise<NodeJS.ErrnoException>((resolve) => s.on('error', resolve));
    expect(err.code).toBe('ENOENT');
    expect(err.message).toContain('absent.sock');
    await new Promise<void>((r) => s.on('close', r));
  });

  it('the addon answers -1 when the listener has no room, instead of blocking or failing; net.connect then reports EAGAIN', async () => {
    const at = path.join(dir, 'full.sock');
    const server = net.createServer();
    await listen(server, at, 1);
    const fds: number[] = [];
    try {
      // Nothing accepts while this loop runs (the event loop does not turn): the backlog fills.
      let fd = 0;
      for (let i = 0; i < 64 && fd >= 0; i++) {
        fd = native().connectUnix(at);
        if (fd >= 0) fds.push(fd);
      }
      expect(fd).toBe(-1);
      expect(fds.length).toBeGreaterThan(0);
      // connectUnixSocket then falls back to net.connect, which fails as it always has.
      const s = connectUnixSocket(at);
      expect(s).toBeInstanceOf(net.Socket);
      const err = await new Promise<NodeJS.ErrnoException>((resolve) => s.on('error', resolve));
      expect(err.code).toBe('EAGAIN');
    } finally {
      for (const fd of fds) fs.closeSync(fd);
      await new Promise((r) => server.close(r));
    }
  });

  it('the addon refuses a path longer than a unix socket address can hold', () => {
    expect(() => native().connectUnix(path.join(dir, 'x'.repeat(120)))).toThrow(/ENAMETOOLONG/);
  });
});
