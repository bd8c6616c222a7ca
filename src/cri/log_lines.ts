// The CRI log format (kubelet's and containerd's pkg/cri/io/logger.go): every line of a
// stream becomes `<RFC3339Nano time> <stdout|stderr> <F|P> <content>\n`. A line longer
// than the limit is cut into entries of `maxLen` bytes tagged P (partial), the last piece
// tagged F; output that ends without a newline is written as a partial entry at EOF. The
// '\n' (and a '\r' before it) is dropped, as containerd does.

export type LogStream = 'stdout' | 'stderr';

/** containerd's default max_container_log_line_size. */
export const DEFAULT_MAX_LOG_LINE = 16 * 1024;

/**
 * Splits one stream's bytes into CRI log entries. Bytes go in with push(); every entry
 * that is complete comes out through `emit`; end() flushes what is left.
 */
export class LogLineSplitter {
  /** Pending content of the current line (never more than maxLen bytes). */
  private pending: Buffer[] = [];
  private pendingLen = 0;
  /** The previous chunk ended in '\r': drop it if the next byte is '\n'. */
  private pendingCR = false;

  constructor(
    private readonly maxLen: number,
    private readonly emit: (tag: 'F' | 'P', content: Buffer) => void,
  ) {}

  push(chunk: Buffer): void {
    let start = 0;
    while (start < chunk.length) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl === -1 ? chunk.length : nl;
      this.append(chunk.subarray(start, end));
      if (nl === -1) return;
      this.flushLine();
      start = nl + 1;
    }
  }

  /** EOF: what is left without a newline is a partial entry. */
  end(): void {
    if (this.pendingCR) this.take(Buffer.from('\r'));
    this.pendingCR = false;
    if (this.pendingLen > 0) this.emit('P', this.drain());
  }

  private append(part: Buffer): void {
    if (part.length === 0) return;
    if (this.pendingCR) {
      this.take(Buffer.from('\r'));
      this.pendingCR = false;
    }
    if (part[part.length - 1] === 0x0d) {
      // Hold the '\r' back until we know whether '\n' follows.
      this.pendingCR = true;
      part = part.subarray(0, part.length - 1);
    }
    this.take(part);
  }

  /** Add content, emitting a P entry each time more than maxLen bytes have gathered. */
  private take(part: Buffer): void {
    let rest = part;
    while (rest.length > 0) {
      const room = this.maxLen > 0 ? this.maxLen - this.pendingLen : rest.length;
      if (room <= 0 && this.maxLen > 0) {
        // Exactly maxLen bytes are waiting and more content follows on the same line.
        this.emit('P', this.drain());
        continue;
      }
      const piece = rest.subarray(0, room);
      this.pending.push(piece);
      this.pendingLen += piece.length;
      rest = rest.subarray(piece.length);
    }
  }

  private flushLine(): void {
    // A '\r' right before the '\n' is dropped with it.
    this.pendingCR = false;
    this.emit('F', this.drain());
  }

  private drain(): Buffer {
    const out = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending, this.pendingLen);
    this.pending = [];
    this.pendingLen = 0;
    // The chunks may share memory with a read buffer that is reused: copy.
    return Buffer.from(out);
  }
}

/** One formatted entry. */
export function formatEntry(time: string, stream: LogStream, tag: 'F' | 'P', content: Buffer): Buffer {
  const head = Buffer.from(`${time} ${stream} ${tag} `);
  return Buffer.concat([head, content, Buffer.from('\n')]);
}
