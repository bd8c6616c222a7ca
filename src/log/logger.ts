// Structured logging: one JSON object per line on stderr, levels honoured. Kept tiny
// on purpose — berthd's hot paths log at debug, which costs one comparison when off.

import { stderrLineSink } from './sink';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';
const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export function isLogLevel(s: string): s is LogLevel {
  return s in RANK;
}

export class Logger {
  constructor(
    private level: LogLevel = 'info',
    private readonly fields: LogFields = {},
    // Never process.stderr: its 'error' event (ENOSPC on a file) kills the process and a
    // stalled pipe reader blocks the event loop. The fd sink drops and counts instead.
    private readonly sink: (line: string) => void = (line) => stderrLineSink().write(line),
  ) {}

  with(fields: LogFields): Logger {
    return new Logger(this.level, { ...this.fields, ...fields }, this.sink);
  }

  setLevel(level: LogLevel): void {
    this.level = level;
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= RANK[this.level];
  }

  debug(msg: string, fields?: LogFields): void {
    this.log('debug', msg, fields);
  }
  info(msg: string, fields?: LogFields): void {
    this.log('info', msg, fields);
  }
  warn(msg: string, fields?: LogFields): void {
    this.log('warn', msg, fields);
  }
  error(msg: string, fields?: LogFields): void {
    this.log('error', msg, fields);
  }

  private log(level: LogLevel, msg: string, fields?: LogFields): void {
    if (RANK[level] < RANK[this.level]) return;
    const entry: LogFields = { time: new Date().toISOString(), level, msg, ...this.fields, ...fields };
    for (const [k, v] of Object.entries(entry)) {
      if (v instanceof Error) entry[k] = v.message;
    }
    this.sink(JSON.stringify(entry) + '\n');
  }
}

/** A logger that drops everything (tests, library use). */
export const silentLogger = new Logger('error', {}, () => undefined);
