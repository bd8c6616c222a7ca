// The shim's log FIFO (<bundle>/log). containerd opens it O_RDWR|O_CREAT|O_NONBLOCK before
// starting the shim (a writer's blocking O_WRONLY open then succeeds at once) and copies
// everything to its own stderr. berthd does the same, one log record per line, with the
// level taken from the shim's line (logrus text `level=warning`, or a JSON `"level"`).
import { openSync, closeSync, constants } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Logger, LogLevel } from '../log/logger';
import { isNativeError, mknod, S_IFIFO } from '../native';
import { LOG_FIFO } from './bundle';

const MAX_LINE = 64 * 1024;

function levelOf(line: string): { level: LogLevel; msg: string } {
  let raw: string | undefined;
  let msg = line;
  if (line.startsWith('{')) {
    try {
      const j = JSON.parse(line) as { level?: unknown; msg?: unknown };
      if (typeof j.level === 'string') raw = j.level;
      if (typeof j.msg === 'string') msg = j.msg;
    } catch {
      // not JSON after all
    }
  } else {
    raw = /\blevel=(\w+)/.exec(line)?.[1];
  }
  switch (raw) {
    case 'trace':
    case 'debug':
      return { level: 'debug', msg };
    case 'warn':
    case 'warning':
      return { level: 'warn', msg };
    case 'error':
    case 'fatal':
    case 'panic':
      return { level: 'error', msg };
    default:
      return { level: 'info', msg };
  }
}

export class ShimLog {
  private partial = '';

  private constructor(private readonly socket: net.Socket, private readonly log: Logger) {
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', () => undefined);
    // Never keeps berthd alive.
    socket.unref();
  }

  /** Creates the FIFO if needed and opens it for reading without blocking. */
  static open(bundlePath: string, log: Logger): ShimLog {
    const p = path.join(bundlePath, LOG_FIFO);
    try {
      mknod(p, S_IFIFO | 0o700);
    } catch (err) {
      if (!isNativeError(err, 'EEXIST')) throw err;
    }
    const fd = openSync(p, constants.O_RDWR | constants.O_NONBLOCK);
    try {
      return new ShimLog(new net.Socket({ fd, readable: true, writable: false }), log);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  close(): void {
    this.flush();
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    this.partial += chunk.toString('utf8');
    let nl: number;
    while ((nl = this.partial.indexOf('\n')) >= 0) {
      this.emit(this.partial.slice(0, nl));
      this.partial = this.partial.slice(nl + 1);
    }
    if (this.partial.length > MAX_LINE) this.flush();
  }

  private flush(): void {
    if (this.partial !== '') this.emit(this.partial);
    this.partial = '';
  }

  private emit(line: string): void {
    const text = line.trimEnd();
    if (text === '') return;
    const { level } = levelOf(text);
    if (!this.log.enabled(level)) return;
    this.log[level]('shim', { line: text });
  }
}
