import { closeSync, openSync, readSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FdSink } from '../../src/log/sink';
import { pipe } from '../../src/native/io';
import { setNonBlocking } from '../../src/native/lock';

const line = (i: number): string => `${JSON.stringify({ msg: 'line', i, pad: 'x'.repeat(100) })}\n`;

function drain(fd: number): string {
  const buf = Buffer.alloc(1 << 16);
  let out = '';
  for (;;) {
    let n = 0;
    try {
      n = readSync(fd, buf);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return out;
      throw err;
    }
    if (n === 0) return out;
    out += buf.subarray(0, n).toString('utf8');
  }
}

describe('FdSink', () => {
  it('never throws on a device that fails every write (/dev/full: ENOSPC), and counts the lines', () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const sink = new FdSink(fd);
      for (let i = 0; i < 100; i++) sink.write(line(i));
      expect(sink.lost).toBe(100);
    } finally {
      closeSync(fd);
    }
  });

  it('does not block on a pipe nobody reads: bounded queue, drops counted, reported once drained', async () => {
    const [r, w] = pipe();
    setNonBlocking(r, true);
    try {
      const sink = new FdSink(w, { maxQueuedBytes: 8192 });
      const started = Date.now();
      // ~120 bytes a line: 2000 lines are far more than the pipe (64 KiB) and the queue hold.
      for (let i = 0; i < 2000; i++) sink.write(line(i));
      expect(Date.now() - started).toBeLessThan(2000);
      const lost = sink.lost;
      expect(lost).toBeGreaterThan(1000);
      expect(lost).toBeLessThan(2000);

      let text = drain(r);
      // What the pipe took: whole lines in order, from the first one.
      expect(text.startsWith(line(0))).toBe(true);
      // The queue goes out on the sink's retry timer, then the report precedes the next line.
      const deadline = Date.now() + 5000;
      while (!text.includes('"log lines lost"') && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 20));
        sink.write(line(9999));
        text += drain(r);
      }
      const report = text.split('\n').find((l) => l.includes('"log lines lost"'));
      expect(report).toBeDefined();
      expect((JSON.parse(report as string) as { lost: number }).lost).toBe(lost);
      // Every line that arrived is whole JSON.
      for (const l of text.split('\n').filter(Boolean)) expect(() => JSON.parse(l) as unknown).not.toThrow();
    } finally {
      closeSync(r);
      closeSync(w);
    }
  });
});
