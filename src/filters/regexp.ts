// Translation of Go regexp (RE2, regexp.Compile's Perl-like syntax) into an
// equivalent JavaScript RegExp, for the `~=` filter operator.
//
// The translator parses the Go syntax itself (so what Go rejects is rejected,
// with Go's error texts) and emits a pattern for the JS `v` flag in which every
// construct has Go's meaning: `.` excludes only "\n", `\s` `\w` `\d` `\b` are
// ASCII, `^`/`$` are text anchors unless (?m), flags (?imsU) may be scoped, and
// case folding uses Unicode simple-folding orbits. Differences that remain:
// Unicode tables are the JS engine's, and named groups `(?<name>...)` (Go >= 1.22)
// are accepted.
//
// `~=` filters do not match with that RegExp, though: JS RegExp backtracks, and a
// pattern from a client such as `(a+)+$` against 30 'a's and a 'b' blocks the event
// loop for seconds (exponential in the length), where Go's regexp is linear-time.
// compileGoRegexp validates with the translator (Go's syntax, Go's error texts) and
// matches with re2js, a pure-JS port of RE2/J (itself a port of Go's regexp): an
// automaton, linear in the input (the same pattern against 30,000 'a's: ~60 ms).

import { RE2JS } from 're2js';
import { caseOrbit, casedCodePoints } from './casefold';

export class GoRegexpError extends Error {
  readonly code: string;
  readonly expr: string;
  constructor(code: string, expr: string) {
    super(`error parsing regexp: ${code}: \`${expr}\``);
    this.code = code;
    this.expr = expr;
  }
}

const ERR = {
  invalidCharRange: 'invalid character class range',
  invalidEscape: 'invalid escape sequence',
  invalidNamedCapture: 'invalid named capture',
  invalidPerlOp: 'invalid or unsupported Perl syntax',
  invalidRepeatOp: 'invalid nested repetition operator',
  invalidRepeatSize: 'invalid repeat count',
  missingBracket: 'missing closing ]',
  missingParen: 'missing closing )',
  missingRepeatArgument: 'missing argument to repetition operator',
  trailingBackslash: 'trailing backslash at end of expression',
  unexpectedParen: 'unexpected )',
  nestingDepth: 'expression nests too deeply',
} as const;

const MAX_REPEAT = 1000;
const MAX_DEPTH = 1000;

interface Flags {
  /** (?i) case-insensitive */
  i: boolean;
  /** (?m) multi-line ^ and $ */
  m: boolean;
  /** (?s) . matches \n */
  s: boolean;
  /** (?U) ungreedy */
  U: boolean;
}

interface Item {
  js: string;
  /** 'assert' and 'repeated' items need a group before another quantifier. */
  kind: 'atom' | 'assert' | 'repeated';
}

/** A character class under construction: fragments of a JS `v`-mode class body. */
interface ClassSet {
  negated: boolean;
  parts: string[];
}

/** Code point as a JS pattern character valid both inside and outside classes. */
function esc(cp: number): string {
  if ((cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a)) {
    return String.fromCodePoint(cp);
  }
  return `\\u{${cp.toString(16)}}`;
}

function range(lo: number, hi: number): string {
  return lo === hi ? esc(lo) : `${esc(lo)}-${esc(hi)}`;
}

function ranges(...pairs: [number, number][]): string {
  return pairs.map(([lo, hi]) => range(lo, hi)).join('');
}

const c = (ch: string): number => ch.codePointAt(0) as number;

const PERL_GROUPS: Record<string, string> = {
  d: ranges([c('0'), c('9')]),
  s: ranges([9, 10], [12, 13], [32, 32]),
  w: ranges([c('0'), c('9')], [c('A'), c('Z')], [c('_'), c('_')], [c('a'), c('z')]),
};

const POSIX_GROUPS: Record<string, string> = {
  alnum: ranges([c('0'), c('9')], [c('A'), c('Z')], [c('a'), c('z')]),
  alpha: ranges([c('A'), c('Z')], [c('a'), c('z')]),
  ascii: ranges([0, 0x7f]),
  blank: ranges([9, 9], [32, 32]),
  cntrl: ranges([0, 0x1f], [0x7f, 0x7f]),
  digit: ranges([c('0'), c('9')]),
  graph: ranges([c('!'), c('~')]),
  lower: ranges([c('a'), c('z')]),
  print: ranges([c(' '), c('~')]),
  punct: ranges([c('!'), c('/')], [c(':'), c('@')], [c('['), c('`')], [c('{'), c('~')]),
  space: ranges([9, 13], [32, 32]),
  upper: ranges([c('A'), c('Z')]),
  word: ranges([c('0'), c('9')], [c('A'), c('Z')], [c('_'), c('_')], [c('a'), c('z')]),
  xdigit: ranges([c('0'), c('9')], [c('A'), c('F')], [c('a'), c('f')]),
};

/** Go's unicode.Categories (no Cn, no LC). */
const GO_CATEGORIES = new Set([
  'C', 'Cc', 'Cf', 'Co', 'Cs', 'L', 'Ll', 'Lm', 'Lo', 'Lt', 'Lu', 'M', 'Mc', 'Me', 'Mn',
  'N', 'Nd', 'Nl', 'No', 'P', 'Pc', 'Pd', 'Pe', 'Pf', 'Pi', 'Po', 'Ps',
  'S', 'Sc', 'Sk', 'Sm', 'So', 'Z', 'Zl', 'Zp', 'Zs',
]);

function unicodeFragment(name: string): string | undefined {
  if (name === 'Any') return range(0, 0x10ffff);
  if (name === 'C') return '\\p{Cc}\\p{Cf}\\p{Co}\\p{Cs}'; // Go's C excludes unassigned
  if (GO_CATEGORIES.has(name)) return `\\p{${name}}`;
  if (!/^[A-Za-z_]+$/.test(name)) return undefined;
  try {
    new RegExp(`\\p{Script=${name}}`, 'v');
    return `\\p{Script=${name}}`;
  } catch {
    return undefined;
  }
}

/** Code points that must be added to class body `body` to close it under case folding. */
function foldExtras(body: string): string {
  const re = new RegExp(`^[${body}]$`, 'v');
  const extra = new Set<number>();
  for (const cp of casedCodePoints()) {
    if (!re.test(String.fromCodePoint(cp))) continue;
    for (const o of caseOrbit(cp)) if (o !== cp) extra.add(o);
  }
  return [...extra].map(esc).join('');
}

function classJs(set: ClassSet, fold: boolean): string {
  const body = set.parts.join('');
  const extras = fold && body !== '' ? foldExtras(body) : '';
  return `[${set.negated ? '^' : ''}${body}${extras}]`;
}

/** A negated component nested inside a class (Go folds the base before negating). */
function negatedPart(base: string, fold: boolean): string {
  return `[^${base}${fold ? foldExtras(base) : ''}]`;
}

function isAlnum(cp: number): boolean {
  return (cp >= 0x30 && cp <= 0x39) || (cp >= 0x41 && cp <= 0x5a) || (cp >= 0x61 && cp <= 0x7a);
}

function isOctal(cp: number | undefined): boolean {
  return cp !== undefined && cp >= 0x30 && cp <= 0x37;
}

function unhex(cp: number | undefined): number {
  if (cp === undefined) return -1;
  if (cp >= 0x30 && cp <= 0x39) return cp - 0x30;
  if (cp >= 0x61 && cp <= 0x66) return cp - 0x61 + 10;
  if (cp >= 0x41 && cp <= 0x46) return cp - 0x41 + 10;
  return -1;
}

class Translator {
  private readonly src: string;
  private readonly cs: number[];
  private i = 0;

  constructor(src: string) {
    this.src = src;
    this.cs = Array.from(src, (ch) => ch.codePointAt(0) as number);
  }

  private str(from: number, to: number): string {
    let out = '';
    for (let k = from; k < to && k < this.cs.length; k++) out += String.fromCodePoint(this.cs[k] as number);
    return out;
  }

  private at(k: number): number | undefined {
    return this.cs[k];
  }

  translate(): string {
    return this.region({ i: false, m: false, s: false, U: false }, 0);
  }

  /** Parses until the `)` closing the current group (consumed) or the end. */
  private region(outer: Flags, depth: number): string {
    if (depth > MAX_DEPTH) throw new GoRegexpError(ERR.nestingDepth, this.src);
    const n = this.cs.length;
    const alts: string[] = [];
    let seq: Item[] = [];
    let flags: Flags = { ...outer };
    let lastRepeat = -1; // start of the repetition operator just parsed, if any
    while (this.i < n) {
      const ch = this.cs[this.i] as number;
      let repeat = -1;
      switch (ch) {
        case c('('): {
          if (this.at(this.i + 1) === c('?')) {
            const r = this.perlGroup(flags, depth);
            if (r.item) seq.push(r.item);
            if (r.flags) flags = r.flags;
          } else {
            this.i++;
            seq.push({ js: `(?:${this.region(flags, depth + 1)})`, kind: 'atom' });
          }
          break;
        }
        case c(')'):
          if (depth === 0) throw new GoRegexpError(ERR.unexpectedParen, this.src);
          this.i++;
          alts.push(seq.map((it) => it.js).join(''));
          return alts.join('|');
        case c('|'):
          alts.push(seq.map((it) => it.js).join(''));
          seq = [];
          this.i++;
          break;
        case c('^'):
          seq.push({ js: flags.m ? '(?:^|(?<=\\u{a}))' : '^', kind: 'assert' });
          this.i++;
          break;
        case c('$'):
          seq.push({ js: flags.m ? '(?=\\u{a}|$)' : '$', kind: 'assert' });
          this.i++;
          break;
        case c('.'):
          seq.push({ js: flags.s ? `[${range(0, 0x10ffff)}]` : '[^\\u{a}]', kind: 'atom' });
          this.i++;
          break;
        case c('['):
          seq.push({ js: classJs(this.parseClass(flags), flags.i), kind: 'atom' });
          break;
        case c('*'):
        case c('+'):
        case c('?'): {
          repeat = this.i;
          this.i++;
          this.applyRepeat(seq, flags, String.fromCodePoint(ch), repeat, lastRepeat);
          break;
        }
        case c('{'): {
          const start = this.i;
          const rep = this.parseRepeat();
          if (!rep) {
            seq.push(this.literal(ch, flags));
            this.i++;
            break;
          }
          const [min, max, after] = rep;
          if (min < 0 || min > MAX_REPEAT || max > MAX_REPEAT || (max >= 0 && min > max)) {
            throw new GoRegexpError(ERR.invalidRepeatSize, this.str(start, after));
          }
          this.i = after;
          repeat = start;
          this.applyRepeat(seq, flags, max === min ? `{${min}}` : max < 0 ? `{${min},}` : `{${min},${max}}`, start, lastRepeat);
          break;
        }
        case c('\\'):
          this.topEscape(seq, flags);
          break;
        default:
          seq.push(this.literal(ch, flags));
          this.i++;
      }
      lastRepeat = repeat;
    }
    if (depth > 0) throw new GoRegexpError(ERR.missingParen, this.src);
    alts.push(seq.map((it) => it.js).join(''));
    return alts.join('|');
  }

  private literal(cp: number, flags: Flags): Item {
    if (flags.i) {
      const orbit = caseOrbit(cp);
      if (orbit.length > 1) return { js: `[${orbit.map(esc).join('')}]`, kind: 'atom' };
    }
    return { js: esc(cp), kind: 'atom' };
  }

  private applyRepeat(seq: Item[], flags: Flags, quant: string, opStart: number, lastRepeat: number): void {
    let lazy = false;
    if (this.at(this.i) === c('?')) {
      lazy = true;
      this.i++;
    }
    if (flags.U) lazy = !lazy;
    if (lastRepeat >= 0) throw new GoRegexpError(ERR.invalidRepeatOp, this.str(lastRepeat, this.i));
    const last = seq.pop();
    if (!last) throw new GoRegexpError(ERR.missingRepeatArgument, this.str(opStart, this.i));
    const base = last.kind === 'atom' ? last.js : `(?:${last.js})`;
    seq.push({ js: base + quant + (lazy ? '?' : ''), kind: 'repeated' });
  }

  /** `{n}`, `{n,}`, `{n,m}` at this.i; undefined if not a repeat (then `{` is literal). */
  private parseRepeat(): [number, number, number] | undefined {
    let k = this.i + 1;
    const int = (): number | undefined => {
      const first = this.at(k);
      if (first === undefined || first < 0x30 || first > 0x39) return undefined;
      const second = this.at(k + 1);
      if (first === 0x30 && second !== undefined && second >= 0x30 && second <= 0x39) return undefined; // leading zero
      let v = 0;
      while (this.at(k) !== undefined && (this.at(k) as number) >= 0x30 && (this.at(k) as number) <= 0x39) {
        if (v >= 1e8) v = -1;
        else if (v >= 0) v = v * 10 + ((this.at(k) as number) - 0x30);
        k++;
      }
      return v;
    };
    let min = int();
    if (min === undefined || this.at(k) === undefined) return undefined;
    let max: number;
    if (this.at(k) !== c(',')) {
      max = min;
    } else {
      k++;
      if (this.at(k) === undefined) return undefined;
      if (this.at(k) === c('}')) {
        max = -1;
      } else {
        const m = int();
        if (m === undefined) return undefined;
        max = m;
        if (max < 0) min = -1; // too big
      }
    }
    if (this.at(k) !== c('}')) return undefined;
    return [min, max, k + 1];
  }

  private perlGroup(flags: Flags, depth: number): { item?: Item; flags?: Flags } {
    const start = this.i;
    const n = this.cs.length;
    const isP = this.at(start + 2) === c('P') && this.at(start + 3) === c('<') && n - start > 4;
    const isAngle = this.at(start + 2) === c('<') && n - start > 3;
    if (isP || isAngle) {
      const begin = start + (isP ? 4 : 3);
      let end = begin;
      while (end < n && this.cs[end] !== c('>')) end++;
      if (end >= n) throw new GoRegexpError(ERR.invalidNamedCapture, this.str(start, n));
      const name = this.str(begin, end);
      if (!/^[A-Za-z0-9_]+$/.test(name)) {
        throw new GoRegexpError(ERR.invalidNamedCapture, this.str(start, end + 1));
      }
      this.i = end + 1;
      return { item: { js: `(?:${this.region(flags, depth + 1)})`, kind: 'atom' } };
    }
    this.i += 2;
    const next: Flags = { ...flags };
    let sign = 1;
    let sawFlag = false;
    while (this.i < n) {
      const ch = this.cs[this.i++] as number;
      switch (ch) {
        case c('i'):
          next.i = sign > 0;
          sawFlag = true;
          continue;
        case c('m'):
          next.m = sign > 0;
          sawFlag = true;
          continue;
        case c('s'):
          next.s = sign > 0;
          sawFlag = true;
          continue;
        case c('U'):
          next.U = sign > 0;
          sawFlag = true;
          continue;
        case c('-'):
          if (sign < 0) break;
          sign = -1;
          sawFlag = false;
          continue;
        case c(':'):
        case c(')'):
          if (sign < 0 && !sawFlag) break;
          if (ch === c(':')) return { item: { js: `(?:${this.region(next, depth + 1)})`, kind: 'atom' } };
          return { flags: next };
        default:
          break;
      }
      break;
    }
    throw new GoRegexpError(ERR.invalidPerlOp, this.str(start, this.i));
  }

  private topEscape(seq: Item[], flags: Flags): void {
    const start = this.i;
    const d = this.at(start + 1);
    if (d === undefined) throw new GoRegexpError(ERR.trailingBackslash, '');
    switch (d) {
      case c('A'):
        seq.push({ js: '^', kind: 'assert' });
        this.i += 2;
        return;
      case c('z'):
        seq.push({ js: '$', kind: 'assert' });
        this.i += 2;
        return;
      case c('b'):
        seq.push({ js: '\\b', kind: 'assert' });
        this.i += 2;
        return;
      case c('B'):
        seq.push({ js: '\\B', kind: 'assert' });
        this.i += 2;
        return;
      case c('C'):
        throw new GoRegexpError(ERR.invalidEscape, '\\C');
      case c('Q'): {
        this.i += 2;
        const n = this.cs.length;
        while (this.i < n) {
          if (this.cs[this.i] === c('\\') && this.at(this.i + 1) === c('E')) {
            this.i += 2;
            return;
          }
          seq.push(this.literal(this.cs[this.i] as number, flags));
          this.i++;
        }
        return;
      }
      case c('p'):
      case c('P'): {
        const [positive, negated] = this.unicodeClass();
        seq.push({ js: classJs({ negated, parts: [positive] }, flags.i), kind: 'atom' });
        return;
      }
      default: {
        const perl = this.perlClass();
        if (perl) {
          seq.push({ js: classJs(perl, flags.i), kind: 'atom' });
          return;
        }
        seq.push(this.literal(this.escape(), flags));
      }
    }
  }

  /** `\d \D \s \S \w \W` at this.i, as a one-component class. */
  private perlClass(): ClassSet | undefined {
    if (this.at(this.i) !== c('\\')) return undefined;
    const d = this.at(this.i + 1);
    if (d === undefined) return undefined;
    const name = String.fromCodePoint(d);
    const base = PERL_GROUPS[name.toLowerCase()];
    if (base === undefined || !'dswDSW'.includes(name)) return undefined;
    this.i += 2;
    return { negated: name !== name.toLowerCase(), parts: [base] };
  }

  /** `\pN`, `\p{Name}`, `\PN`, `\p{^Name}` at this.i: [positive fragment, negated]. */
  private unicodeClass(): [string, boolean] {
    const start = this.i;
    const n = this.cs.length;
    let negated = this.at(start + 1) === c('P');
    this.i = start + 2;
    let name: string;
    if (this.i >= n) {
      name = '';
    } else if (this.cs[this.i] !== c('{')) {
      name = String.fromCodePoint(this.cs[this.i] as number);
      this.i++;
    } else {
      let end = start;
      while (end < n && this.cs[end] !== c('}')) end++;
      if (end >= n) throw new GoRegexpError(ERR.invalidCharRange, this.str(start, n));
      name = this.str(this.i + 1, end);
      this.i = end + 1;
    }
    const seqText = this.str(start, this.i);
    if (name.startsWith('^')) {
      negated = !negated;
      name = name.slice(1);
    }
    const frag = unicodeFragment(name);
    if (frag === undefined) throw new GoRegexpError(ERR.invalidCharRange, seqText);
    return [frag, negated];
  }

  /** A single-character escape at this.i (the backslash); returns the code point. */
  private escape(): number {
    const start = this.i;
    const n = this.cs.length;
    this.i++;
    if (this.i >= n) throw new GoRegexpError(ERR.trailingBackslash, '');
    const ch = this.cs[this.i++] as number;
    const fail = (): never => {
      throw new GoRegexpError(ERR.invalidEscape, this.str(start, this.i));
    };
    if (ch >= c('1') && ch <= c('7') && !isOctal(this.at(this.i))) fail(); // backreference
    if (ch >= c('0') && ch <= c('7')) {
      let r = ch - 0x30;
      for (let k = 1; k < 3 && isOctal(this.at(this.i)); k++) r = r * 8 + ((this.cs[this.i++] as number) - 0x30);
      return r;
    }
    switch (ch) {
      case c('x'): {
        if (this.i >= n) fail();
        const x = this.cs[this.i++] as number;
        if (x === c('{')) {
          let nhex = 0;
          let r = 0;
          for (;;) {
            if (this.i >= n) fail();
            const h = this.cs[this.i++] as number;
            if (h === c('}')) break;
            const v = unhex(h);
            if (v < 0) fail();
            r = r * 16 + v;
            if (r > 0x10ffff) fail();
            nhex++;
          }
          if (nhex === 0) fail();
          return r;
        }
        const hi = unhex(x);
        const lo = unhex(this.at(this.i));
        if (this.i < n) this.i++;
        if (hi < 0 || lo < 0) fail();
        return hi * 16 + lo;
      }
      case c('a'):
        return 7;
      case c('f'):
        return 12;
      case c('n'):
        return 10;
      case c('r'):
        return 13;
      case c('t'):
        return 9;
      case c('v'):
        return 11;
      default:
        if (ch < 0x80 && !isAlnum(ch)) return ch;
        return fail();
    }
  }

  /** A bracketed class at this.i. */
  private parseClass(flags: Flags): ClassSet {
    const start = this.i;
    const n = this.cs.length;
    this.i++;
    const set: ClassSet = { negated: false, parts: [] };
    if (this.at(this.i) === c('^')) {
      set.negated = true;
      this.i++;
    }
    let first = true;
    while (this.i >= n || this.cs[this.i] !== c(']') || first) {
      first = false;
      // POSIX class [:name:] / [:^name:]
      if (this.i + 2 < n && this.cs[this.i] === c('[') && this.cs[this.i + 1] === c(':')) {
        let end = -1;
        for (let k = this.i + 2; k + 1 < n; k++) {
          if (this.cs[k] === c(':') && this.cs[k + 1] === c(']')) {
            end = k;
            break;
          }
        }
        if (end >= 0) {
          const full = this.str(this.i, end + 2);
          let name = this.str(this.i + 2, end);
          const neg = name.startsWith('^');
          if (neg) name = name.slice(1);
          const base = Object.prototype.hasOwnProperty.call(POSIX_GROUPS, name) ? POSIX_GROUPS[name] : undefined;
          if (base === undefined) throw new GoRegexpError(ERR.invalidCharRange, full);
          set.parts.push(neg ? negatedPart(base, flags.i) : base);
          this.i = end + 2;
          continue;
        }
      }
      if (this.cs[this.i] === c('\\') && (this.at(this.i + 1) === c('p') || this.at(this.i + 1) === c('P'))) {
        const [positive, neg] = this.unicodeClass();
        set.parts.push(neg ? negatedPart(positive, flags.i) : positive);
        continue;
      }
      const perl = this.perlClass();
      if (perl) {
        const base = perl.parts[0] as string;
        set.parts.push(perl.negated ? negatedPart(base, flags.i) : base);
        continue;
      }
      const rangeStart = this.i;
      const lo = this.classChar(start);
      let hi = lo;
      if (this.i + 1 < n && this.cs[this.i] === c('-') && this.cs[this.i + 1] !== c(']')) {
        this.i++;
        hi = this.classChar(start);
        if (hi < lo) throw new GoRegexpError(ERR.invalidCharRange, this.str(rangeStart, this.i));
      }
      set.parts.push(range(lo, hi));
    }
    this.i++; // ]
    return set;
  }

  private classChar(classStart: number): number {
    if (this.i >= this.cs.length) throw new GoRegexpError(ERR.missingBracket, this.str(classStart, this.cs.length));
    if (this.cs[this.i] === c('\\')) return this.escape();
    return this.cs[this.i++] as number;
  }
}

/** The JavaScript pattern (for the `v` flag) equivalent to Go regexp `src`.
 * Throws GoRegexpError for what Go's regexp.Compile rejects. */
export function translateGoRegexp(src: string): string {
  return new Translator(src).translate();
}

/** A compiled `~=` pattern: Go's regexp.MatchString semantics (unanchored search). */
export interface GoRegexp {
  readonly source: string;
  test(s: string): boolean;
}

/** Compiles Go regexp syntax for matching in time linear in the input. Throws
 * GoRegexpError, with Go's text, for what Go's regexp.Compile rejects. */
export function compileGoRegexp(src: string): GoRegexp {
  translateGoRegexp(src); // Go's syntax rules and error texts
  let re: RE2JS;
  try {
    re = RE2JS.compile(src);
  } catch {
    throw new GoRegexpError('expression not supported', src);
  }
  return { source: src, test: (s: string) => re.test(s) };
}
