// Filter values and their evaluation against an object seen through an Adaptor
// (containerd filters/filter.go semantics).

import type { GoRegexp } from './regexp';

export interface FieldValue {
  value: string;
  present: boolean;
}

/** Exposes an object's fields by path (e.g. ['labels', 'foo']). */
export interface Adaptor {
  field(path: string[]): FieldValue;
}

export interface Filter {
  match(a: Adaptor): boolean;
}

export type Operator = 'present' | '==' | '!=' | '~=';

/** Matches everything (empty filter string, or no filters at all). */
export const always: Filter = Object.freeze({ match: () => true });

/** One `<fieldpath>[<op><value>]` term. */
export class Selector implements Filter {
  readonly fieldpath: readonly string[];
  readonly operator: Operator;
  readonly value: string;
  /** Compiled pattern for '~='. */
  readonly regexp: GoRegexp | undefined;

  constructor(fieldpath: readonly string[], operator: Operator, value = '', regexp?: GoRegexp) {
    if (operator === '~=' && !regexp) throw new TypeError('a ~= selector needs a compiled regexp');
    this.fieldpath = Object.freeze([...fieldpath]);
    this.operator = operator;
    this.value = value;
    this.regexp = regexp;
  }

  match(a: Adaptor): boolean {
    const { value, present } = a.field([...this.fieldpath]);
    switch (this.operator) {
      case 'present':
        return present;
      case '==':
        return present && value === this.value;
      case '!=':
        // containerd compares whatever the adaptor returned; adaptors return "" for absent fields.
        return value !== this.value;
      case '~=':
        return (this.regexp as GoRegexp).test(value);
    }
  }
}

/** AND: every filter matches (a comma-separated selector list). */
export class AllFilter implements Filter {
  readonly filters: readonly Filter[];
  constructor(filters: readonly Filter[]) {
    this.filters = Object.freeze([...filters]);
  }
  match(a: Adaptor): boolean {
    return this.filters.every((f) => f.match(a));
  }
}

/** OR: some filter matches (the repeated `filters` field of a request). */
export class AnyFilter implements Filter {
  readonly filters: readonly Filter[];
  constructor(filters: readonly Filter[]) {
    this.filters = Object.freeze([...filters]);
  }
  match(a: Adaptor): boolean {
    return this.filters.some((f) => f.match(a));
  }
}
