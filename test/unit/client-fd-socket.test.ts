// FdSocket over a real socketpair: the other end is a net.Socket, node's own, as a daemon's
// would be. Order, backpressure and drain, end after queued writes, the peer's close,
// a write to a closed peer, destroy.
import * as net from 'node:net';
import { describe, expect, it } from 'vitest';
import { FD_SOCKET_HIGH_WATER, FdSocket } from '../../src/client/fd-socket';
import { native } from '../../src/native/binding';

/** A connected pair: ours (an FdSocket) and the peer (a net.Socket). */
function pair(): { ours: FdSocket; peer: net.Socket } {
  const [a, b] = native().socketpair();
  native().setNonBlocking(a, true);
  return { ours: new FdSocket(a), peer: new net.Socket({ fd: b, readable: true, writable: true }) };
}

function pattern(n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + (i >> 11)) & 0xff;
  return b;
}

const closed = (s: { on(e: 'close', l: () => void): unknown }): Promise<void> => new Promise((r) => s.on('close', () => r()));

describe('FdSocket', () => {
  it('carries bytes both ways in order', async () => {
    const { ours, peer } = pair();
    const toPeer: Buffer[] = [];
    const toUs: Buffer[] = [];
    peer.on('data', (b: Buffer) => toPeer.push(b));
    ours.on('data', (b) => toUs.push(b));
    const parts = [Buffer.from('one '), Buffer.from('two '), pattern(200_000)];
    for (const p of parts) ours.write(p);
    peer.write(pattern(300_000));
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (Buffer.concat(toPeer).length >= 200_008 && Buffer.concat(toUs).length >= 300_000) resolve();
        else setTimeout(check, 5);
      };
      check();
    });
    expect(Buffer.concat(toPeer).equals(Buffer.concat(parts))).toBe(true);
    expect(Buffer.concat(toUs).equals(pattern(300_000))).toBe(true);
    ours.destroy();
    peer.destroy();
  });

  it('answers false once the unwritten bytes reach the high-water mark, and drains in order once the peer reads', async () => {
    const { ours, peer } = pair();
    peer.pause();
    const chunk = pattern(32 * 1024);
    let writes = 0;
    let accepted = true;
    // The socket buffer fills first (the peer reads nothing), then the queue.
    while (accepted && writes < 1000) {
      accepted = ours.write(chunk);
      writes++;
    }
    expect(accepted).toBe(false);
    expect(ours.writableNeedDrain).toBe(true);
    const got: Buffer[] = [];
    peer.on('data', (b: Buffer) => got.push(b));
    const drained = new Promise<void>((r) => ours.on('drain', () => r()));
    peer.resume();
    await drained;
    expect(ours.writableNeedDrain).toBe(false);
    ours.end();
    await closed(peer);
    const all = Buffer.concat(got);
    expect(all.length).toBe(writes * chunk.length);
    for (let i = 0; i < writes; i++) expect(all.subarray(i * chunk.length, (i + 1) * chunk.length).equals(chunk)).toBe(true);
    expect(writes * chunk.length).toBeGreaterThan(FD_SOCKET_HIGH_WATER);
  });

  it('end() closes only after what is queued is written', async () => {
    const { ours, peer } = pair();
    peer.pause();
    const big = pattern(2 * 1024 * 1024);
    ours.write(big);
    ours.end();
    expect(ours.write(Buffer.from('late'))).toBe(false);
    const got: Buffer[] = [];
    peer.on('data', (b: Buffer) => got.push(b));
    const oursClosed = closed(ours);
    peer.resume();
    await closed(peer);
    await oursClosed;
    expect(Buffer.concat(got).equals(big)).toBe(true);
  });

  it("the peer's close ends it: what was sent before arrives first, then close without an error", async () => {
    const { ours, peer } = pair();
    const got: Buffer[] = [];
    const errors: Error[] = [];
    ours.on('data', (b) => got.push(b));
    ours.on('error', (e) => errors.push(e));
    const done = closed(ours);
    peer.end(pattern(100_000));
    await done;
    expect(Buffer.concat(got).equals(pattern(100_000))).toBe(true);
    expect(errors).toEqual([]);
  });

  it('a write to a peer that is gone fails with an error event, then close', async () => {
    const { ours, peer } = pair();
    peer.destroy();
    await closed(peer);
    const err = new Promise<NodeJS.ErrnoException>((r) => ours.on('error', (e) => r(e)));
    const done = closed(ours);
    // A write may land in the buffer before the hang-up is seen; keep writing until it fails.
    for (let i = 0; i < 100 && ours.write(pattern(64 * 1024)); i++) await new Promise((r) => setImmediate(r));
    expect(['EPIPE', 'ECONNRESET']).toContain((await err).code);
    await done;
  });

  it('destroy closes the descriptor (the peer sees it) and emits close once; writes after it are refused', async () => {
    const { ours, peer } = pair();
    let closes = 0;
    ours.on('close', () => closes++);
    ours.destroy();
    ours.destroy();
    expect(ours.write(Buffer.from('x'))).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
    // The descriptor is closed: the peer sees its end.
    await closed(peer);
  });
});
