// Unquoting of filter literals: Go string-literal syntax (strconv.Unquote) with
// `/` and `|` accepted as additional double-quote-like delimiters, as containerd's
// filters/quote.go does.

export class QuoteSyntaxError extends Error {
  constructor() {
    super('quote syntax error');
  }
}

const SIMPLE: Record<string, number> = { a: 0x07, b: 0x08, f: 0x0c, n: 0x0a, r: 0x0d, t: 0x09, v: 0x0b };

function unhex(c: string | undefined): number {
  return c !== undefined && /^[0-9A-Fa-f]$/.test(c) ? parseInt(c, 16) : -1;
}

function pushRune(out: number[], cp: number): void {
  if (cp >= 0xd800 && cp <= 0xdfff) cp = 0xfffd; // Go encodes surrogates as RuneError
  for (const b of Buffer.from(String.fromCodePoint(cp), 'utf8')) out.push(b);
}

/** Interprets `s` (including its delimiters) as a quoted literal. The result is
 * built as UTF-8 bytes (`\xHH` and octal escapes produce single bytes, like Go)
 * and decoded, so invalid sequences become U+FFFD. */
export function unquote(s: string): string {
  const chars = Array.from(s);
  const n = chars.length;
  if (n < 2) throw new QuoteSyntaxError();
  const quote = chars[0] as string;
  if (quote !== chars[n - 1]) throw new QuoteSyntaxError();
  const body = chars.slice(1, n - 1);

  if (quote === '`') {
    if (body.includes('`')) throw new QuoteSyntaxError();
    return body.filter((c) => c !== '\r').join('');
  }
  if (quote !== '"' && quote !== "'" && quote !== '|' && quote !== '/') throw new QuoteSyntaxError();
  if (body.includes('\n')) throw new QuoteSyntaxError();

  const out: number[] = [];
  let i = 0;
  while (i < body.length) {
    const c = body[i] as string;
    if (c === quote) throw new QuoteSyntaxError();
    if (c !== '\\') {
      pushRune(out, c.codePointAt(0) as number);
      i++;
      continue;
    }
    const e = body[i + 1];
    if (e === undefined) throw new QuoteSyntaxError();
    i += 2;
    if (SIMPLE[e] !== undefined) {
      out.push(SIMPLE[e] as number);
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const len = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      let v = 0;
      for (let j = 0; j < len; j++) {
        const d = unhex(body[i + j]);
        if (d < 0) throw new QuoteSyntaxError();
        v = v * 16 + d;
      }
      i += len;
      if (e === 'x') {
        out.push(v);
      } else {
        if (v > 0x10ffff) throw new QuoteSyntaxError();
        pushRune(out, v);
      }
    } else if (e >= '0' && e <= '7') {
      let v = e.charCodeAt(0) - 0x30;
      for (let j = 0; j < 2; j++) {
        const d = body[i + j];
        if (d === undefined || d < '0' || d > '7') throw new QuoteSyntaxError();
        v = v * 8 + (d.charCodeAt(0) - 0x30);
      }
      i += 2;
      if (v > 255) throw new QuoteSyntaxError();
      out.push(v);
    } else if (e === '\\') {
      out.push(0x5c);
    } else if (e === "'" || e === '"' || e === '|' || e === '/') {
      if (e !== quote) throw new QuoteSyntaxError();
      out.push(e.charCodeAt(0));
    } else {
      throw new QuoteSyntaxError();
    }
    if (quote === "'" && i < body.length) throw new QuoteSyntaxError();
  }
  return Buffer.from(out).toString('utf8');
}
