// Parser for containerd's filter syntax (filters/parser.go semantics):
//
//   selectors := selector ("," selector)*
//   selector  := fieldpath [operator value]       no operator: field is present
//   fieldpath := field ("." field)*
//   field     := [A-Za-z0-9_]+ | "quoted"
//   operator  := "==" | "!=" | "~="
//   value     := quoted | run of non-space, non-"," runes
//   quoted    := Go string literal in "..."; for ~= also /.../ and |...|
//
// One string is an AND of selectors; a list of strings is an OR.

import { FilterParseError } from './errors';
import { AllFilter, AnyFilter, Filter, Operator, Selector, always } from './filter';
import { unquote } from './quote';
import { compileGoRegexp, GoRegexpError } from './regexp';

/** A pattern that matches nothing (stands in for an invalid one). */
const NEVER = /(?!)/;
import { EOF_RUNE, Scanner } from './scanner';

const COMMA = 0x2c;
const DOT = 0x2e;

class Parser {
  private readonly input: string;
  private readonly sc: Scanner;

  constructor(input: string) {
    this.input = input;
    this.sc = new Scanner(input);
  }

  private fail(pos: number, reason: string): never {
    throw new FilterParseError(this.input, pos, reason);
  }

  parse(): Filter {
    const selectors: Filter[] = [this.selector()];
    for (;;) {
      const r = this.sc.peek();
      if (r === COMMA) {
        this.sc.scan(); // the separator
        selectors.push(this.selector());
      } else if (r === EOF_RUNE) {
        return new AllFilter(selectors);
      } else {
        this.fail(this.sc.ppos, `unexpected input: ${r < 0 ? '\ufffd' : String.fromCodePoint(r)}`);
      }
    }
  }

  private selector(): Selector {
    const fieldpath = this.fieldpath();
    const r = this.sc.peek();
    if (r === COMMA || r === EOF_RUNE) return new Selector(fieldpath, 'present');

    const op = this.operator();
    const tok = this.sc.scan();
    let value: string;
    switch (tok.kind) {
      case 'value':
      case 'field':
        value = tok.text;
        break;
      case 'quoted':
        value = this.unquote(tok.pos, tok.text, op === '~=');
        break;
      case 'illegal':
        return this.fail(tok.pos, this.sc.err);
      default:
        return this.fail(tok.pos, 'expected value or quoted');
    }
    if (op !== '~=') return new Selector(fieldpath, op, value);
    try {
      return new Selector(fieldpath, op, value, compileGoRegexp(value));
    } catch (err) {
      // containerd compiles the pattern only when matching, logs the failure and treats
      // the selector as not matching: a List with a bad pattern is an empty success.
      if (err instanceof GoRegexpError) return new Selector(fieldpath, op, value, NEVER);
      throw err;
    }
  }

  private fieldpath(): string[] {
    const path = [this.field()];
    while (this.sc.peek() === DOT) {
      this.sc.scan(); // the separator
      path.push(this.field());
    }
    return path;
  }

  private field(): string {
    const tok = this.sc.scan();
    switch (tok.kind) {
      case 'field':
        return tok.text;
      case 'quoted':
        return this.unquote(tok.pos, tok.text, false);
      case 'illegal':
        return this.fail(tok.pos, this.sc.err);
      default:
        return this.fail(tok.pos, 'expected field or quoted');
    }
  }

  private operator(): Exclude<Operator, 'present'> {
    const tok = this.sc.scan();
    switch (tok.kind) {
      case 'operator':
        if (tok.text === '==' || tok.text === '!=' || tok.text === '~=') return tok.text;
        return this.fail(tok.pos, `unsupported operator "${tok.text}"`);
      case 'illegal':
        return this.fail(tok.pos, this.sc.err);
      default:
        return this.fail(tok.pos, 'expected an operator ("=="|"!="|"~=")');
    }
  }

  private unquote(pos: number, text: string, allowAltQuotes: boolean): string {
    if (!allowAltQuotes && text[0] !== '"' && text[0] !== "'") this.fail(pos, 'invalid quote encountered');
    try {
      return unquote(text);
    } catch (err) {
      return this.fail(pos, `unquoting failed: ${(err as Error).message}`);
    }
  }
}

/** Parses one filter string: comma-separated selectors, all of which must match.
 * The empty string matches everything. Throws FilterParseError. */
export function parseFilter(s: string): Filter {
  if (s === '') return always;
  return new Parser(s).parse();
}

/** Parses a request's `filters` list: an object matches if any string matches.
 * No strings (or only empty strings) match everything. Throws FilterParseError. */
export function parseFilters(filters: readonly string[] | undefined | null): Filter {
  if (!filters || filters.length === 0) return always;
  return new AnyFilter(filters.map(parseFilter));
}
