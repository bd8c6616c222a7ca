// The error every filter syntax problem is reported with.

import { InvalidArgumentError } from '../errdefs/errors';

/** containerd's parse-error location: `[before >|c|< after]` around the offending
 * byte, or `[input]` when the position is at the end. */
export function formatLocation(input: string, pos: number): string {
  const bytes = Buffer.from(input, 'utf8');
  if (pos < bytes.length) {
    const before = bytes.subarray(0, pos).toString('utf8');
    const at = bytes.subarray(pos, pos + 1).toString('utf8');
    const after = bytes.subarray(pos + 1).toString('utf8');
    return `[${before} >|${at}|< ${after}]`;
  }
  return `[${input}]`;
}

/** A filter string that does not parse. The message reads like containerd's
 * (filters.ParseAll): `filters: parse error: [<input> >|<c>|< <rest>]: <reason>: invalid argument`;
 * `context` is the same without the class suffix. */
export class FilterParseError extends InvalidArgumentError {
  /** The filter string being parsed. */
  readonly input: string;
  /** Byte offset (UTF-8) of the problem in `input`. */
  readonly position: number;
  /** The reason alone, e.g. `expected field or quoted`. */
  readonly reason: string;

  constructor(input: string, position: number, reason: string) {
    super(`filters: parse error: ${formatLocation(input, position)}: ${reason}`);
    this.name = 'FilterParseError';
    this.input = input;
    this.position = position;
    this.reason = reason;
  }
}
