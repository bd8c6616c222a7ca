export { parseFilter, parseFilters } from './parser';
export { FilterParseError } from './errors';
export { always, AllFilter, AnyFilter, Selector } from './filter';
export type { Adaptor, FieldValue, Filter, Operator } from './filter';
export { adaptFields, adaptorFunc } from './adaptors';
export { compileGoRegexp, translateGoRegexp, GoRegexpError } from './regexp';
export type { GoRegexp } from './regexp';
export { Scanner, tokenize } from './scanner';
export type { Token, TokenKind } from './scanner';
