// Reading the log files berth-log writes (log-files.ts): one record per line in the CRI log
// format, `<RFC 3339 time, 9 digits> <stdout|stderr> <F|P> <content>`, F ending a line of the
// container's output and P a piece of one (what one read returned after its last
// newline). Printed as `docker logs` prints: the container's stdout to ours, its stderr to
// ours, with --timestamps each line after its time.

export interface LogRecord {
  time: string;
  stream: 'stdout' | 'stderr';
  /** A piece of a line: no newline after its content. */
  partial: boolean;
  content: Buffer;
}

/** One record (without its newline); undefined for a line that is not one. */
export function parseRecord(line: Buffer): LogRecord | undefined {
  const s1 = line.indexOf(0x20);
  const s2 = s1 < 0 ? -1 : line.indexOf(0x20, s1 + 1);
  if (s2 < 0 || line.length < s2 + 2 || (line.length > s2 + 2 && line[s2 + 2] !== 0x20)) return undefined;
  const stream = line.toString('latin1', s1 + 1, s2);
  const tag = line[s2 + 1];
  if ((stream !== 'stdout' && stream !== 'stderr') || (tag !== 0x46 && tag !== 0x50)) return undefined;
  return { time: line.toString('latin1', 0, s1), stream, partial: tag === 0x50, content: line.subarray(Math.min(line.length, s2 + 3)) };
}

export interface LogSinks {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** Turns chunks of a log file into the container's output; a record cut off at the end of
 * a chunk (read while berth-log was writing it) waits for the next chunk. */
export class LogPrinter {
  private rest: Buffer = Buffer.alloc(0);
  /** Whether the next record of each stream starts a line (where --timestamps puts a time). */
  private readonly lineStart = { stdout: true, stderr: true };

  constructor(
    private readonly sinks: LogSinks,
    private readonly timestamps: boolean,
  ) {}

  write(chunk: Buffer): void {
    const buf = this.rest.length > 0 ? Buffer.concat([this.rest, chunk]) : chunk;
    let start = 0;
    for (let nl = buf.indexOf(0x0a); nl >= 0; nl = buf.indexOf(0x0a, start)) {
      this.record(buf.subarray(start, nl));
      start = nl + 1;
    }
    this.rest = Buffer.from(buf.subarray(start));
  }

  private record(line: Buffer): void {
    const r = parseRecord(line);
    if (!r) return;
    const out = r.stream === 'stdout' ? this.sinks.stdout : this.sinks.stderr;
    const prefix = this.timestamps && this.lineStart[r.stream] ? `${r.time} ` : '';
    this.lineStart[r.stream] = !r.partial;
    out.write(prefix.length > 0 || !r.partial ? Buffer.concat([Buffer.from(prefix), r.content, r.partial ? Buffer.alloc(0) : Buffer.from('\n')]) : r.content);
  }
}
