// A container's stdout and stderr: FIFOs under <cri state>/containers/<id>/io that the
// shim writes, read here and copied into the CRI log (containerd's pkg/cri/io). The FIFOs
// outlive berthd: after a restart the copy resumes from them while the task runs on.
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import { isNativeError, mknod, S_IFIFO } from '../native';
import type { Logger } from '../log/logger';
import type { ContainerOutput, OutputAttachment } from './container_store';
import { FifoWriter, makeFifo } from './stream_fifo';
import { CriLogFile } from './log_file';
import { LogLineSplitter, type LogStream } from './log_lines';

const { O_RDONLY, O_WRONLY, O_NONBLOCK } = fs.constants;

export interface FifoPaths {
  stdout: string;
  stderr: string;
}

export function fifoPaths(ioDir: string): FifoPaths {
  return { stdout: path.join(ioDir, 'stdout'), stderr: path.join(ioDir, 'stderr') };
}

/** The stdin FIFO of a container created with `stdin: true`. */
export function stdinFifoPath(ioDir: string): string {
  return path.join(ioDir, 'stdin');
}

/** Make the stdin FIFO (kept if it exists). */
export async function createStdinFifo(ioDir: string): Promise<string> {
  await fsp.mkdir(ioDir, { recursive: true, mode: 0o700 });
  const p = stdinFifoPath(ioDir);
  makeFifo(p);
  return p;
}

/** An attached client lagging this far behind the container loses output rather than
 * slowing the container or the log (containerd's attach writers block instead). */
const ATTACH_MAX_BUFFERED = 4 * 1024 * 1024;

interface Attached {
  sink: Writable;
  finish: () => void;
}

/** Make the FIFOs (an existing one is kept: a retry after a failed start). */
export async function createFifos(ioDir: string): Promise<FifoPaths> {
  await fsp.mkdir(ioDir, { recursive: true, mode: 0o700 });
  const p = fifoPaths(ioDir);
  for (const f of [p.stdout, p.stderr]) {
    try {
      mknod(f, S_IFIFO | 0o700);
    } catch (err) {
      if (!(isNativeError(err) && err.code === 'EEXIST')) throw err;
    }
  }
  return p;
}

function closeQuiet(fd: number): void {
  try {
    fs.closeSync(fd);
  } catch {
    // already closed
  }
}

/** One FIFO's read end, non-blocking so libuv can poll it. */
function openReader(p: string): { fd: number; hold: number } {
  const fd = fs.openSync(p, O_RDONLY | O_NONBLOCK);
  // Our own write end keeps the reader from seeing EOF before the shim opens the FIFO;
  // dropped once the task exists (release()).
  let hold: number;
  try {
    hold = fs.openSync(p, O_WRONLY | O_NONBLOCK);
  } catch (err) {
    closeQuiet(fd);
    throw err;
  }
  return { fd, hold };
}

/**
 * Copies both FIFOs into the log file at `logPath` ('' = discard, as containerd does for a
 * container without a log path). `release()` drops the write ends held open until the
 * shim has its own.
 */
export class ContainerLogCopy implements ContainerOutput {
  readonly done: Promise<void>;
  private readonly holds: number[] = [];
  private readonly sockets: net.Socket[] = [];
  private readonly attached = { stdout: new Set<Attached>(), stderr: new Set<Attached>() };
  private readonly ended = { stdout: false, stderr: false };
  private stdinWriter: FifoWriter | undefined;

  private constructor(
    private readonly log: CriLogFile | undefined,
    fifos: FifoPaths,
    maxLen: number,
    private readonly logger: Logger,
    stdinPath: string | undefined,
  ) {
    const copies: Array<Promise<void>> = [];
    try {
      for (const stream of ['stdout', 'stderr'] as const) {
        const r = openReader(fifos[stream]);
        this.holds.push(r.hold);
        copies.push(this.copy(r.fd, stream, maxLen, logger));
      }
      if (stdinPath !== undefined) this.stdinWriter = new FifoWriter(stdinPath);
    } catch (err) {
      this.close();
      throw err;
    }
    this.done = Promise.all(copies).then(async () => {
      // The container's output ended: it exited, nothing reads its stdin any more.
      this.stdinWriter?.destroy();
      await this.log?.close();
    });
  }

  /** `stdinPath`: the container's stdin FIFO, held open by berthd for attach (containerd
   * keeps one per container created with `stdin: true`). */
  static async start(fifos: FifoPaths, logPath: string, maxLen: number, logger: Logger, stdinPath?: string): Promise<ContainerLogCopy> {
    const onError = (err: Error): void => logger.error('failed to write the container log', { path: logPath, error: err });
    const log = logPath === '' ? undefined : await CriLogFile.open(logPath, onError);
    try {
      return new ContainerLogCopy(log, fifos, maxLen, logger, stdinPath);
    } catch (err) {
      await log?.close();
      throw err;
    }
  }

  get stdin(): FifoWriter | undefined {
    return this.stdinWriter && !this.stdinWriter.isClosed ? this.stdinWriter : undefined;
  }

  attachOutput(stream: 'stdout' | 'stderr', sink: Writable): OutputAttachment {
    const set = this.attached[stream];
    let finish: () => void = () => undefined;
    const done = new Promise<void>((resolve) => {
      let over = false;
      const onGone = (): void => finish();
      finish = () => {
        if (over) return;
        over = true;
        set.delete(entry);
        sink.off('error', onGone);
        sink.off('close', onGone);
        resolve();
      };
      const entry: Attached = { sink, finish: () => finish() };
      if (this.ended[stream]) {
        finish();
        return;
      }
      sink.once('error', onGone);
      sink.once('close', onGone);
      set.add(entry);
    });
    return { done, detach: () => finish() };
  }

  private tee(stream: LogStream, chunk: Buffer): void {
    for (const a of this.attached[stream]) {
      if (a.sink.writableLength > ATTACH_MAX_BUFFERED) {
        this.logger.debug('attached client falls behind; output dropped', { stream, bytes: chunk.length });
        continue;
      }
      a.sink.write(chunk);
    }
  }

  private endAttached(stream: LogStream): void {
    this.ended[stream] = true;
    for (const a of [...this.attached[stream]]) a.finish();
  }

  /** The shim holds the FIFOs now: EOF will mean the container's output ended. */
  release(): void {
    for (const h of this.holds.splice(0)) closeQuiet(h);
  }

  async reopen(): Promise<void> {
    await this.log?.reopen();
  }

  close(): void {
    this.release();
    for (const s of this.sockets) s.destroy();
    this.stdinWriter?.destroy();
  }

  private copy(fd: number, stream: LogStream, maxLen: number, logger: Logger): Promise<void> {
    return new Promise<void>((resolve) => {
      const sock = new net.Socket({ fd, readable: true, writable: false });
      this.sockets.push(sock);
      const log = this.log;
      const splitter = new LogLineSplitter(maxLen, (tag, content) => {
        if (!log) return;
        const room = log.write(stream, tag, content);
        if (!room) return;
        // A full queue pauses this stream until the file catches up.
        sock.pause();
        void room.then(() => sock.resume());
      });
      let finished = false;
      const finish = (): void => {
        if (finished) return;
        finished = true;
        splitter.end();
        sock.destroy();
        this.endAttached(stream);
        resolve();
      };
      sock.on('data', (chunk: Buffer) => {
        if (this.attached[stream].size > 0) this.tee(stream, chunk);
        splitter.push(chunk);
      });
      sock.once('end', finish);
      sock.once('close', finish);
      sock.on('error', (err) => {
        logger.debug('container output stream error', { stream, error: err });
        finish();
      });
    });
  }
}
