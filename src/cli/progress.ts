// Pull progress as docker and ctr show it: on a terminal one line per blob, redrawn in
// place (status, a bar, bytes, rate, ETA); otherwise a plain log line as each blob
// finishes; with --json every progress event as a JSON line.
import type { BlobProgress } from '../remotes/pull';
import { humanSize } from './table';

interface Row {
  p: BlobProgress;
  started: number;
  startOffset: number;
  ended?: number;
}

const BAR = 30;

export class PullProgress {
  private readonly rows = new Map<string, Row>();
  private drawn = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly mode: 'tty' | 'log' | 'json',
  ) {}

  readonly update = (p: BlobProgress): void => {
    const now = Date.now();
    let row = this.rows.get(p.digest);
    if (!row) this.rows.set(p.digest, (row = { p, started: now, startOffset: p.offset }));
    const was = row.p.status;
    row.p = p;
    if (p.status === 'downloading' && was === 'waiting') {
      row.started = now;
      row.startOffset = p.offset;
    }
    if ((p.status === 'done' || p.status === 'exists') && row.ended === undefined) {
      row.ended = now;
      if (this.mode === 'log') this.out.write(`${this.label(p)}: ${p.status === 'exists' ? 'already exists' : `done ${humanSize(p.total)} in ${((now - row.started) / 1000).toFixed(1)}s`}\n`);
    }
    if (this.mode === 'json') this.out.write(JSON.stringify({ digest: p.digest, kind: p.kind, status: p.status, offset: p.offset, total: p.total }) + '\n');
    if (this.mode === 'tty' && !this.timer) this.timer = setTimeout(() => this.draw(), 100);
  };

  private label(p: BlobProgress): string {
    return `${p.kind}-${p.digest.replace(/^sha256:/, '').slice(0, 12)}`;
  }

  private line(r: Row): string {
    const { p } = r;
    const width = Math.max(10, Math.min(BAR, (this.out.columns ?? 80) - 70));
    if (p.status === 'exists') return `${this.label(p)}: already exists`;
    if (p.status === 'waiting') return `${this.label(p)}: waiting`;
    const frac = p.total > 0 ? Math.min(1, p.offset / p.total) : 1;
    const fill = Math.round(frac * width);
    const bar = `|${'+'.repeat(fill)}${'-'.repeat(width - fill)}|`;
    const secs = ((r.ended ?? Date.now()) - r.started) / 1000;
    const rate = secs > 0 ? (p.offset - r.startOffset) / secs : 0;
    const eta = p.status === 'done' ? `${secs.toFixed(1)}s` : rate > 0 ? `ETA ${Math.ceil((p.total - p.offset) / rate)}s` : '';
    return `${this.label(p)}: ${p.status.padEnd(11)} ${bar} ${humanSize(p.offset)}/${humanSize(p.total)} ${humanSize(rate)}/s ${eta}`;
  }

  private draw(): void {
    this.timer = null;
    const lines = [...this.rows.values()].map((r) => this.line(r).slice(0, Math.max(20, (this.out.columns ?? 80) - 1)));
    let text = this.drawn > 0 ? `\x1b[${this.drawn}A` : '';
    for (const l of lines) text += `\r\x1b[2K${l}\n`;
    this.out.write(text);
    this.drawn = lines.length;
  }

  /** The final state drawn once more (terminal). */
  finish(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    if (this.mode === 'tty') this.draw();
  }
}
