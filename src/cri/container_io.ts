// A container's stdout and stderr: FIFOs under <cri state>/containers/<id>/io that the
// shim writes, read here and copied into the CRI log (containerd's pkg/cri/io). The FIFOs
// outlive berthd: after a restart the copy resumes from them while the task runs on.
import * as fs from 'node:fs';
import { promises as fsp } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { isNativeError, mknod, S_IFIFO } from '../native';
import type { Logger } from '../log/logger';
import type { ContainerOutput } from './container_store';
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

  private constructor(
    private readonly log: CriLogFile | undefined,
    fifos: FifoPaths,
    maxLen: number,
    logger: Logger,
  ) {
    const copies: Array<Promise<void>> = [];
    try {
      for (const stream of ['stdout', 'stderr'] as const) {
        const r = openReader(fifos[stream]);
        this.holds.push(r.hold);
        copies.push(this.copy(r.fd, stream, maxLen, logger));
      }
    } catch (err) {
      this.close();
      throw err;
    }
    this.done = Promise.all(copies).then(async () => {
      await this.log?.close();
    });
  }

  static async start(fifos: FifoPaths, logPath: string, maxLen: number, logger: Logger): Promise<ContainerLogCopy> {
    const onError = (err: Error): void => logger.error('failed to write the container log', { path: logPath, error: err });
    const log = logPath === '' ? undefined : await CriLogFile.open(logPath, onError);
    try {
      return new ContainerLogCopy(log, fifos, maxLen, logger);
    } catch (err) {
      await log?.close();
      throw err;
    }
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
        resolve();
      };
      sock.on('data', (chunk: Buffer) => splitter.push(chunk));
      sock.once('end', finish);
      sock.once('close', finish);
      sock.on('error', (err) => {
        logger.debug('container output stream error', { stream, error: err });
        finish();
      });
    });
  }
}
