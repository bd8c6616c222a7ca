// containerd's labels.Validate (key + value size limit) and the events exchange's
// topic validation.

import { BerthError, InvalidArgumentError } from '../errdefs/errors';
import { goQuote } from './goquote';
import { validateIdentifier } from './validate';

/** Largest len(key)+len(value) accepted, in bytes. */
export const MAX_LABEL_SIZE = 4096;

/** Throws InvalidArgumentError if len(key)+len(value) (UTF-8 bytes) exceeds 4096.
 * The message names the first 10 bytes of the key, like containerd. */
export function validateLabel(key: string, value: string): void {
  const keyBytes = Buffer.from(key, 'utf8');
  if (keyBytes.length + Buffer.byteLength(value, 'utf8') > MAX_LABEL_SIZE) {
    const shown = keyBytes.length > 10 ? keyBytes.subarray(0, 10).toString('utf8') : key;
    throw new InvalidArgumentError(
      `label key and value greater than maximum size (${MAX_LABEL_SIZE} bytes), key: ${shown}`,
    );
  }
}

/** validateLabel for every entry; the first offending label is reported. */
export function validateLabels(labels: Readonly<Record<string, string>> | undefined | null): void {
  if (!labels) return;
  for (const [k, v] of Object.entries(labels)) validateLabel(k, v);
}

/** Event topic rule (containerd events/exchange validateTopic): non-empty, starts
 * with '/', at least one component, every '/'-separated component a valid
 * identifier. Callers add their own context (containerd wraps with
 * `envelope topic "<topic>"`). */
export function validateTopic(topic: string): void {
  if (topic === '') {
    throw new InvalidArgumentError('must not be empty');
  }
  if (topic[0] !== '/') {
    throw new InvalidArgumentError("must start with '/'");
  }
  if (topic.length === 1) {
    throw new InvalidArgumentError('must have at least one component');
  }
  for (const component of topic.slice(1).split('/')) {
    try {
      validateIdentifier(component);
    } catch (err) {
      if (err instanceof BerthError) {
        throw new InvalidArgumentError(`failed validation on component ${goQuote(component)}: ${err.context}`);
      }
      throw err;
    }
  }
}
