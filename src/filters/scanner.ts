// Tokenizer for containerd's filter syntax, behaving like containerd's
// filters/scanner.go: same token boundaries, same (byte) positions, same error
// texts, same quirks (whitespace is only skipped at the start of a token; a value
// that starts with a quote rune is scanned as a quoted token).

export type TokenKind =
  | 'eof'
  | 'quoted'
  | 'value'
  | 'field'
  | 'separator'
  | 'operator'
  | 'illegal'
  /** A rune that starts no token (e.g. `?` in field position). */
  | 'char';

export interface Token {
  kind: TokenKind;
  /** Byte offset (UTF-8) of the token start in the input, as containerd reports it. */
  pos: number;
  /** Source text of the token ('' for eof/char and for illegal runes). */
  text: string;
  /** For kind 'char': the offending code point. */
  rune?: number;
}

/** Pseudo-runes returned by next()/peek(). */
export const EOF_RUNE = -1;
export const ILLEGAL_RUNE = -2;

const SPACE = /^\p{White_Space}$/u;
const VALUE_RUNE = /^[\p{L}\p{M}\p{N}\p{P}\p{S}\p{Zs}]$/u;

function runeWidth(cp: number): number {
  if (cp < 0x80) return 1;
  if (cp < 0x800) return 2;
  if (cp < 0x10000) return 3; // includes lone surrogates, which encode as U+FFFD
  return 4;
}

/** Go's unicode.IsSpace. */
export function isSpaceRune(r: number): boolean {
  return r >= 0 && SPACE.test(String.fromCodePoint(r));
}

export function isFieldRune(r: number): boolean {
  return r === 0x5f /* _ */ || (r >= 0x41 && r <= 0x5a) || (r >= 0x61 && r <= 0x7a) || (r >= 0x30 && r <= 0x39);
}

export function isOperatorRune(r: number): boolean {
  return r === 0x3d /* = */ || r === 0x21 /* ! */ || r === 0x7e; /* ~ */
}

/** `/`, `|` and `"` open a quoted token wherever a token may start. */
export function isQuoteRune(r: number): boolean {
  return r === 0x2f || r === 0x7c || r === 0x22;
}

export function isSeparatorRune(r: number): boolean {
  return r === 0x2c /* , */ || r === 0x2e; /* . */
}

/** Runes allowed in an unquoted value: anything graphic except ',' and spaces. */
export function isValueRune(r: number): boolean {
  if (r < 0 || r === 0x2c || isSpaceRune(r)) return false;
  return VALUE_RUNE.test(String.fromCodePoint(r));
}

function digitVal(r: number): number {
  if (r >= 0x30 && r <= 0x39) return r - 0x30;
  if (r >= 0x61 && r <= 0x66) return r - 0x61 + 10;
  if (r >= 0x41 && r <= 0x46) return r - 0x41 + 10;
  return 16;
}

export class Scanner {
  readonly input: string;
  /** Code points of the input. */
  private readonly runes: number[] = [];
  /** byteOff[i]: UTF-8 offset of rune i; byteOff[runes.length] = total bytes. */
  private readonly byteOff: number[] = [];
  /** strOff[i]: UTF-16 offset of rune i, for slicing token text. */
  private readonly strOff: number[] = [];
  /** Index of the current rune (Go's pos). */
  private cur = 0;
  /** Index of the rune after the current one (Go's ppos). */
  private nxt = 0;
  /** Set after an operator: the next non-quote, non-separator token is a value. */
  private value = false;
  /** First error recorded (sticky, like containerd's scanner.err). */
  err = '';

  constructor(input: string) {
    this.input = input;
    let bytes = 0;
    let units = 0;
    for (const ch of input) {
      const cp = ch.codePointAt(0) as number;
      this.runes.push(cp);
      this.byteOff.push(bytes);
      this.strOff.push(units);
      bytes += runeWidth(cp);
      units += ch.length;
    }
    this.byteOff.push(bytes);
    this.strOff.push(units);
  }

  /** Byte offset of the current rune. */
  get pos(): number {
    return this.byteOff[this.cur] as number;
  }

  /** Byte offset just past the current rune. */
  get ppos(): number {
    return this.byteOff[this.nxt] as number;
  }

  private error(msg: string): void {
    if (this.err === '') this.err = msg;
  }

  private text(fromRune: number, toRune: number): string {
    return this.input.slice(this.strOff[fromRune], this.strOff[toRune]);
  }

  next(): number {
    if (this.nxt >= this.runes.length) {
      this.cur = this.runes.length;
      return EOF_RUNE;
    }
    this.cur = this.nxt;
    const r = this.runes[this.nxt] as number;
    this.nxt++;
    if (r === 0xfffd || (r >= 0xd800 && r <= 0xdfff)) {
      this.error('rune error');
      return ILLEGAL_RUNE;
    }
    if (r === 0) {
      this.error('unexpected null');
      return ILLEGAL_RUNE;
    }
    return r;
  }

  peek(): number {
    const cur = this.cur;
    const nxt = this.nxt;
    const r = this.next();
    this.cur = cur;
    this.nxt = nxt;
    return r;
  }

  scan(): Token {
    let ch = this.next();
    let start = this.cur;
    for (;;) {
      if (ch === EOF_RUNE) return { kind: 'eof', pos: this.pos, text: '' };
      if (ch === ILLEGAL_RUNE) return { kind: 'illegal', pos: this.pos, text: '' };
      if (isQuoteRune(ch)) {
        const ok = this.scanQuoted(ch);
        return { kind: ok ? 'quoted' : 'illegal', pos: this.byteOff[start] as number, text: this.text(start, this.nxt) };
      }
      if (isSeparatorRune(ch)) {
        this.value = false;
        return { kind: 'separator', pos: this.byteOff[start] as number, text: this.text(start, this.nxt) };
      }
      if (isOperatorRune(ch)) {
        while (isOperatorRune(this.peek())) this.next();
        this.value = true;
        return { kind: 'operator', pos: this.byteOff[start] as number, text: this.text(start, this.nxt) };
      }
      if (isSpaceRune(ch)) {
        ch = this.next();
        start = this.cur;
        continue;
      }
      if (this.value) {
        while (isValueRune(this.peek())) this.next();
        this.value = false;
        return { kind: 'value', pos: this.byteOff[start] as number, text: this.text(start, this.nxt) };
      }
      if (isFieldRune(ch)) {
        while (isFieldRune(this.peek())) this.next();
        return { kind: 'field', pos: this.byteOff[start] as number, text: this.text(start, this.nxt) };
      }
      return { kind: 'char', pos: this.pos, text: '', rune: ch };
    }
  }

  /** Consumes up to and including the closing quote; false if the literal is
   * unterminated or holds an invalid escape (the reason is in `err`). */
  private scanQuoted(quote: number): boolean {
    let illegal = false;
    let ch = this.next();
    while (ch !== quote) {
      if (ch === 0x0a || ch < 0) {
        this.error('quoted literal not terminated');
        return false;
      }
      if (ch === 0x5c /* \ */) {
        const [after, legal] = this.scanEscape(quote);
        ch = after;
        if (!legal) illegal = true;
      } else {
        ch = this.next();
      }
    }
    return !illegal;
  }

  /** Called after a backslash; returns the rune following the escape. */
  private scanEscape(quote: number): [number, boolean] {
    const ch = this.next();
    switch (ch) {
      case 0x61: // a
      case 0x62: // b
      case 0x66: // f
      case 0x6e: // n
      case 0x72: // r
      case 0x74: // t
      case 0x76: // v
      case 0x5c: // backslash
      case quote:
        return [this.next(), true];
      case 0x30: case 0x31: case 0x32: case 0x33:
      case 0x34: case 0x35: case 0x36: case 0x37:
        return this.scanDigits(ch, 8, 3);
      case 0x78: // x
        return this.scanDigits(this.next(), 16, 2);
      case 0x75: // u
        return this.scanDigits(this.next(), 16, 4);
      case 0x55: // U
        return this.scanDigits(this.next(), 16, 8);
      default:
        this.error('illegal escape sequence');
        return [ch, false];
    }
  }

  private scanDigits(ch: number, base: number, n: number): [number, boolean] {
    while (n > 0 && digitVal(ch) < base) {
      ch = this.next();
      n--;
    }
    if (n > 0) {
      this.error('illegal numeric escape sequence');
      return [ch, false];
    }
    return [ch, true];
  }
}

/** All tokens of `input` up to and including EOF (for tests and debugging). */
export function tokenize(input: string): Token[] {
  const sc = new Scanner(input);
  const out: Token[] = [];
  for (;;) {
    const t = sc.scan();
    out.push(t);
    if (t.kind === 'eof') return out;
  }
}
