// TaskIO's output sinks over real FIFOs: this test opens the write ends as a shim would,
// writes, closes, and checks what reached the caller's streams.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TaskIO } from '../../src/client/cio';

let root: string;
beforeEach(() => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cio-'));
});
afterEach(() => {
  fs.rmSync(root, { recursive: true, force: true });
});

function collect(s: PassThrough): () => string {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return () => Buffer.concat(chunks).toString('utf8');
}

/** Writes each part to the FIFO (opened for writing after the reader, as a shim does). The
 * writes block in node's thread pool while the FIFO is full, and this process's event loop
 * reads the other end meanwhile. */
async function shimWrites(fifo: string, parts: string[]): Promise<void> {
  const fh = await fs.promises.open(fifo, 'w');
  try {
    for (const p of parts) await fh.write(p);
  } finally {
    await fh.close();
  }
}

describe('TaskIO output sinks', () => {
  it('a sink given as a function is made on the first output, once, and gets every byte in order', async () => {
    const out = new PassThrough();
    const read = collect(out);
    let made = 0;
    const io = TaskIO.create('lazy', {
      stdout: () => {
        made++;
        return out;
      },
      fifoRoot: root,
    });
    try {
      expect(made).toBe(0);
      // More than a FIFO's 64 KiB buffer, in pieces: the copy spans several reads.
      const parts = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}:${'x'.repeat(4000)}\n`);
      await Promise.all([shimWrites(io.fifos.stdout, parts), shimWrites(io.fifos.stderr, [])]);
      await io.wait();
      expect(made).toBe(1);
      expect(read()).toBe(parts.join(''));
    } finally {
      io.close();
    }
  });

  it('a sink given as a function is never made when the task prints nothing', async () => {
    let made = 0;
    const io = TaskIO.create('silent', {
      stdout: () => {
        made++;
        return new PassThrough();
      },
      stderr: () => {
        made++;
        return new PassThrough();
      },
      fifoRoot: root,
    });
    try {
      await Promise.all([shimWrites(io.fifos.stdout, []), shimWrites(io.fifos.stderr, [])]);
      await io.wait();
      expect(made).toBe(0);
    } finally {
      io.close();
    }
  });

  it('a stream sink and a function sink side by side keep stdout and stderr apart', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const readOut = collect(out);
    const readErr = collect(err);
    const io = TaskIO.create('both', { stdout: out, stderr: () => err, fifoRoot: root });
    try {
      await Promise.all([shimWrites(io.fifos.stdout, ['out 1\n', 'out 2\n']), shimWrites(io.fifos.stderr, ['err 1\n'])]);
      await io.wait();
      expect(readOut()).toBe('out 1\nout 2\n');
      expect(readErr()).toBe('err 1\n');
    } finally {
      io.close();
    }
  });
});
