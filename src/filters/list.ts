import { InvalidArgumentError } from '../errdefs/errors';
import { FilterParseError } from './errors';
import type { Filter } from './filter';
import { parseFilters } from './parser';

/**
 * Filters for a List API. containerd's metadata stores wrap the parser's error once more
 * ("…: invalid argument: invalid argument" reaches the client); clients see that exact
 * text, so berth's List calls do the same.
 */
export function parseListFilters(filters: readonly string[]): Filter {
  try {
    return parseFilters(filters);
  } catch (err) {
    if (err instanceof FilterParseError) throw new InvalidArgumentError(err.message);
    throw err;
  }
}
