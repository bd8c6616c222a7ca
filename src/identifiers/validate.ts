// containerd's identifiers.Validate: the rule for namespace names, container IDs,
// task/exec IDs and each component of an event topic.

import { InvalidArgumentError } from '../errdefs/errors';
import { goQuote } from './goquote';

/** Longest identifier accepted, in bytes (Go's len()). */
export const MAX_IDENTIFIER_LENGTH = 76;

/** The pattern exactly as containerd prints it in its error message. */
export const IDENTIFIER_PATTERN = '^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$';

const identifierRe = new RegExp(IDENTIFIER_PATTERN);

/** Throws InvalidArgumentError unless `s` is a valid containerd identifier:
 * non-empty, at most 76 bytes, alphanumeric runs joined by single `.`, `_` or `-`. */
export function validateIdentifier(s: string): void {
  if (s.length === 0) {
    throw new InvalidArgumentError('identifier must not be empty');
  }
  if (Buffer.byteLength(s, 'utf8') > MAX_IDENTIFIER_LENGTH) {
    throw new InvalidArgumentError(
      `identifier ${goQuote(s)} greater than maximum length (${MAX_IDENTIFIER_LENGTH} characters)`,
    );
  }
  if (!identifierRe.test(s)) {
    throw new InvalidArgumentError(`identifier ${goQuote(s)} must match ${IDENTIFIER_PATTERN}`);
  }
}

/** Boolean form of validateIdentifier. */
export function isValidIdentifier(s: string): boolean {
  try {
    validateIdentifier(s);
    return true;
  } catch {
    return false;
  }
}
