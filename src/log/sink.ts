// Where berthd's log lines go: a file descriptor (stderr) written so that logging can
// never take the daemon down. A failing sink (ENOSPC on the file stderr points at, EPIPE,
// EIO) costs the line, counted; a stuck reader (a pipe or socket nobody drains) never
// blocks the event loop: lines wait in a bounded queue, and once that is full new lines
// are dropped and counted. The first line that gets through after a loss is preceded by
// one that says how many were lost. Nothing here throws.

import { constants, fstatSync, openSync, writeSync } from 'node:fs';
import { sendNoWait, setNonBlocking } from '../native/lock';

export interface FdSinkOptions {
  /** Bytes of lines held while the sink is not accepting writes (default 256 KiB, some
   * 2000 lines: enough to ride out a slow reader, small enough to never matter). */
  maxQueuedBytes?: number;
}

type WriteOnce = (buf: Buffer) => number;

const RETRY_MIN_MS = 10;
const RETRY_MAX_MS = 1000;

function errnoCode(err: unknown): string | undefined {
  const code = err instanceof Error ? (err as NodeJS.ErrnoException).code : undefined;
  return typeof code === 'string' ? code : undefined;
}

export class FdSink {
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private readonly maxQueuedBytes: number;
  /** Lines lost since the last report. */
  private pendingLost = 0;
  private totalLost = 0;
  private retry: NodeJS.Timeout | undefined;
  private retryMs = RETRY_MIN_MS;
  private readonly writeOnce: WriteOnce;

  constructor(fd: number, opts: FdSinkOptions = {}) {
    this.maxQueuedBytes = opts.maxQueuedBytes ?? 256 << 10;
    this.writeOnce = FdSink.writerFor(fd);
  }

  /**
   * A write that cannot block for the kind of thing fd is. Pipes: a descriptor of our own
   * on the same pipe, opened O_NONBLOCK through /proc (so the flag does not change the
   * description the parent or the shims share). Sockets: send(MSG_DONTWAIT). Files and
   * terminals: a plain write, which the kernel completes or fails without waiting on a reader.
   */
  private static writerFor(fd: number): WriteOnce {
    const plain: WriteOnce = (buf) => writeSync(fd, buf);
    let st;
    try {
      st = fstatSync(fd);
    } catch {
      return plain;
    }
    try {
      if (st.isFIFO()) {
        let own: number;
        try {
          own = openSync(`/proc/self/fd/${fd}`, constants.O_WRONLY | constants.O_NONBLOCK);
        } catch {
          // No reader (ENXIO) or no /proc: the description we were given, made non-blocking
          // (a pipe without reader fails at once with EPIPE, which only loses lines).
          setNonBlocking(fd, true);
          return plain;
        }
        return (buf) => writeSync(own, buf);
      }
      if (st.isSocket()) return (buf) => sendNoWait(fd, buf);
    } catch {
      // The addon is missing: a plain write is the best left.
    }
    return plain;
  }

  /** Lines dropped since the sink was made. */
  get lost(): number {
    return this.totalLost;
  }

  /** Queue or write one line (with its newline). Never throws, never blocks. */
  write(line: string): void {
    const buf = Buffer.from(line, 'utf8');
    if (this.queuedBytes + buf.length > this.maxQueuedBytes) {
      this.drop();
      return;
    }
    this.queue.push(buf);
    this.queuedBytes += buf.length;
    if (this.retry === undefined) this.flush();
  }

  private drop(): void {
    this.pendingLost++;
    this.totalLost++;
  }

  /** One write: bytes written, 'again' (the sink pushes back) or 'failed' (line lost). */
  private tryWrite(buf: Buffer): number | 'again' | 'failed' {
    try {
      return this.writeOnce(buf);
    } catch (err) {
      const code = errnoCode(err);
      return code === 'EAGAIN' || code === 'EWOULDBLOCK' ? 'again' : 'failed';
    }
  }

  /** Write queued lines until done, or until the sink pushes back (then retry later). */
  private flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0] as Buffer;
      if (this.pendingLost > 0) {
        const lost = this.pendingLost;
        const report = Buffer.from(
          JSON.stringify({ time: new Date().toISOString(), level: 'warn', msg: 'log lines lost', lost, pid: process.pid }) + '\n',
        );
        const r = this.tryWrite(report);
        if (r === 'again') return this.scheduleRetry();
        if (r === 'failed') {
          // Still failing (ENOSPC, EPIPE, EIO…): the head line is lost too, and counted.
          this.shift(head.length);
          this.drop();
          continue;
        }
        // A short write of the report is left as it is: the one line not kept whole.
        this.pendingLost -= lost;
      }
      const r = this.tryWrite(head);
      if (r === 'again') return this.scheduleRetry();
      if (r === 'failed') {
        this.shift(head.length);
        this.drop();
        continue;
      }
      this.retryMs = RETRY_MIN_MS;
      if (r >= head.length) {
        this.shift(head.length);
      } else {
        // Keep the rest of a half-written line at the head, so lines stay whole.
        this.queue[0] = head.subarray(r);
        this.queuedBytes -= r;
        return this.scheduleRetry();
      }
    }
  }

  private shift(len: number): void {
    this.queue.shift();
    this.queuedBytes -= len;
  }

  private scheduleRetry(): void {
    if (this.retry !== undefined) return;
    const ms = this.retryMs;
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
    // unref: a stuck log reader must not keep a stopping berthd alive.
    this.retry = setTimeout(() => {
      this.retry = undefined;
      this.flush();
    }, ms).unref();
  }
}

let stderrSink: FdSink | undefined;

/** The process-wide sink on fd 2, made on first use. */
export function stderrLineSink(): FdSink {
  stderrSink ??= new FdSink(2);
  return stderrSink;
}
