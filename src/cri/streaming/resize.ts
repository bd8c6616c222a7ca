// Terminal resize events: the client writes JSON objects {"Width":w,"Height":h} one after
// another on the resize stream (SPDY) or channel 4 (WebSocket), as Go's json.Encoder writes
// client-go's TerminalSize. Field names match case-insensitively (as Go decodes them).
import type { TerminalSize } from './runtime';

/** A queue that is an AsyncIterable: push values, end it; each value goes to one reader. */
export class AsyncQueue<T> implements AsyncIterable<T> {
  private readonly values: T[] = [];
  private readonly waiters: Array<(r: IteratorResult<T>) => void> = [];
  private ended = false;

  constructor(private readonly maxQueued: number) {}

  push(v: T): void {
    if (this.ended) return;
    const w = this.waiters.shift();
    if (w) w({ value: v, done: false });
    else if (this.values.length < this.maxQueued) this.values.push(v);
    else {
      // Nobody reads sizes: keep the newest (only the last size matters to a terminal).
      this.values.shift();
      this.values.push(v);
    }
  }

  end(): void {
    this.ended = true;
    for (const w of this.waiters.splice(0)) w({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: () => {
        const v = this.values.shift();
        if (v !== undefined) return Promise.resolve({ value: v, done: false });
        if (this.ended) return Promise.resolve({ value: undefined, done: true });
        return new Promise((r) => this.waiters.push(r));
      },
      return: () => Promise.resolve({ value: undefined, done: true }),
    };
  }
}

/** Splits a byte stream into JSON terminal sizes; bytes that are not one end the stream. */
export class ResizeDecoder {
  private text = '';

  constructor(
    private readonly out: AsyncQueue<TerminalSize>,
    private readonly maxPending = 4096,
  ) {}

  /** false: malformed or oversized input (the caller stops reading the stream). */
  write(chunk: Buffer): boolean {
    this.text += chunk.toString('utf8');
    for (;;) {
      const start = this.text.search(/\S/);
      if (start < 0) {
        this.text = '';
        return true;
      }
      if (this.text[start] !== '{') return false;
      const end = objectEnd(this.text, start);
      if (end < 0) return this.text.length - start <= this.maxPending;
      let parsed: unknown;
      try {
        parsed = JSON.parse(this.text.slice(start, end));
      } catch {
        return false;
      }
      this.text = this.text.slice(end);
      const size = toSize(parsed);
      if (!size) return false;
      this.out.push(size);
    }
  }
}

/** Index after the JSON object starting at start, or -1 when it is not complete yet. */
function objectEnd(s: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < s.length; i++) {
    const c = s[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '{' || c === '[') depth++;
    else if (c === '}' || c === ']') {
      depth--;
      if (depth === 0) return i + 1;
    }
  }
  return -1;
}

function toSize(v: unknown): TerminalSize | undefined {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return undefined;
  let width = 0;
  let height = 0;
  for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
    const key = k.toLowerCase();
    if (key !== 'width' && key !== 'height') continue;
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffff) return undefined;
    if (key === 'width') width = x;
    else height = x;
  }
  return { width, height };
}
