// WWW-Authenticate challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"` or
// `Basic realm="…"`. A header may carry several challenges and a response several headers.

export type AuthScheme = 'basic' | 'bearer' | 'other';

export interface Challenge {
  scheme: AuthScheme;
  /** The scheme as sent ("Bearer"). */
  rawScheme: string;
  /** Parameter names lower-cased. */
  params: Record<string, string>;
}

const TOKEN_CHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

class Scanner {
  i = 0;
  constructor(readonly s: string) {}
  skipSpace(): void {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t')) this.i++;
  }
  skipSpaceAndCommas(): void {
    while (this.i < this.s.length && (this.s[this.i] === ' ' || this.s[this.i] === '\t' || this.s[this.i] === ',')) this.i++;
  }
  token(): string {
    const start = this.i;
    while (this.i < this.s.length && TOKEN_CHAR.test(this.s[this.i]!)) this.i++;
    return this.s.slice(start, this.i);
  }
  /** A quoted-string (with backslash escapes) after the opening quote; undefined if unterminated. */
  quoted(): string | undefined {
    let out = '';
    this.i++;
    while (this.i < this.s.length) {
      const c = this.s[this.i]!;
      if (c === '\\' && this.i + 1 < this.s.length) {
        out += this.s[this.i + 1];
        this.i += 2;
      } else if (c === '"') {
        this.i++;
        return out;
      } else {
        out += c;
        this.i++;
      }
    }
    return undefined;
  }
  peek(): string | undefined {
    return this.s[this.i];
  }
}

function schemeOf(raw: string): AuthScheme {
  const l = raw.toLowerCase();
  return l === 'basic' ? 'basic' : l === 'bearer' ? 'bearer' : 'other';
}

/** Every challenge in one header value. Malformed tails are dropped, not thrown. */
export function parseChallengeHeader(value: string): Challenge[] {
  const out: Challenge[] = [];
  const sc = new Scanner(value);
  let current: Challenge | undefined;
  for (;;) {
    sc.skipSpaceAndCommas();
    if (sc.i >= value.length) break;
    const start = sc.i;
    const tok = sc.token();
    if (tok === '') break;
    sc.skipSpace();
    if (sc.peek() === '=' && current) {
      sc.i++;
      sc.skipSpace();
      let v: string | undefined;
      if (sc.peek() === '"') v = sc.quoted();
      else v = sc.token();
      if (v === undefined) break;
      current.params[tok.toLowerCase()] = v;
      continue;
    }
    if (sc.peek() === '=' && !current) break;
    // A new challenge: the scheme, then its parameters (or a token68, which we skip).
    sc.i = start + tok.length;
    current = { scheme: schemeOf(tok), rawScheme: tok, params: {} };
    out.push(current);
  }
  return out;
}

/** Challenges of every WWW-Authenticate header of a response. */
export function parseChallenges(headers: string | string[] | undefined): Challenge[] {
  if (headers === undefined) return [];
  const list = Array.isArray(headers) ? headers : [headers];
  return list.flatMap(parseChallengeHeader);
}
