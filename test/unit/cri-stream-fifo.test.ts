// The FIFO ends the CRI streaming runtime uses (src/cri/stream_fifo.ts) on real FIFOs:
// output copied with back-pressure and EOF only once the writer that was waited for closed;
// stdin written from a client's stream, kept open across clients until closed. And the
// exec process spec (TERM=xterm on a terminal, as containerd's execInternal).
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { execProcessSpec } from '../../src/cri/container_exec';
import { FifoReader, FifoWriter, makeFifo } from '../../src/cri/stream_fifo';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-fifo-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function collect(s: PassThrough): () => Buffer {
  const chunks: Buffer[] = [];
  s.on('data', (b: Buffer) => chunks.push(b));
  return () => Buffer.concat(chunks);
}

describe('FifoReader', () => {
  it('waits for release() before an EOF counts, then hands every byte to the sink', async () => {
    const p = path.join(dir, 'out');
    makeFifo(p);
    const sink = new PassThrough();
    const got = collect(sink);
    const r = new FifoReader(p, sink);
    // A writer that comes and goes before release(): no EOF yet.
    const w1 = fs.openSync(p, fs.constants.O_WRONLY);
    fs.writeSync(w1, 'one ');
    fs.closeSync(w1);
    let done = false;
    void r.done.then(() => (done = true));
    await new Promise((res) => setTimeout(res, 100));
    expect(done).toBe(false);
    const w2 = fs.openSync(p, fs.constants.O_WRONLY);
    r.release();
    const big = Buffer.alloc(1 << 20, 7);
    fs.writeSync(w2, 'two ');
    const ws = fs.createWriteStream('', { fd: w2 });
    await new Promise<void>((res) => ws.end(big, () => res()));
    await r.done;
    expect(got().length).toBe(8 + big.length);
    expect(got().subarray(0, 8).toString()).toBe('one two ');
    r.destroy();
  });

  it('keeps draining when the sink fails, so the writer never blocks', async () => {
    const p = path.join(dir, 'out');
    makeFifo(p);
    const sink = new PassThrough({ highWaterMark: 16 });
    const r = new FifoReader(p, sink);
    const w = fs.openSync(p, fs.constants.O_WRONLY);
    r.release();
    sink.destroy(new Error('client gone'));
    const ws = fs.createWriteStream('', { fd: w });
    await new Promise<void>((res) => ws.end(Buffer.alloc(4 << 20), () => res()));
    await r.done;
    r.destroy();
  });
});

describe('FifoWriter', () => {
  it('copies clients in turn into one open FIFO; the reader sees EOF only after close()', async () => {
    const p = path.join(dir, 'in');
    makeFifo(p);
    const w = new FifoWriter(p);
    const rfd = fs.openSync(p, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const rs = new net.Socket({ fd: rfd, readable: true, writable: false });
    const chunks: Buffer[] = [];
    const eof = new Promise<void>((res) => {
      rs.on('data', (b) => chunks.push(b as Buffer));
      rs.on('end', () => res());
    });
    expect(await w.copyFrom(Readable.from([Buffer.from('first\n')])).done).toBe(true);
    expect(w.isClosed).toBe(false);
    const second = new PassThrough();
    const copy = w.copyFrom(second);
    second.write('second\n');
    await new Promise((res) => setTimeout(res, 50));
    copy.stop();
    expect(await copy.done).toBe(false);
    await w.close();
    await eof;
    expect(Buffer.concat(chunks).toString()).toBe('first\nsecond\n');
  });
});

describe('execProcessSpec', () => {
  const spec = { ociVersion: '1.0.2', process: { user: { uid: 0, gid: 0 }, cwd: '/w', args: ['main'], env: ['PATH=/bin', 'TERM=dumb'], terminal: false } };
  it('sets the args and the terminal, and TERM=xterm on one', () => {
    expect(execProcessSpec(spec, ['sh'], true)).toMatchObject({ cwd: '/w', args: ['sh'], terminal: true, env: ['PATH=/bin', 'TERM=xterm'] });
    expect(execProcessSpec(spec, ['ls', '-l'], false)).toMatchObject({ args: ['ls', '-l'], terminal: false, env: ['PATH=/bin', 'TERM=dumb'] });
    expect(spec.process.args).toEqual(['main']);
  });
});
