import { withContext } from '../errdefs/errors';
import { validateLabels } from '../identifiers/labels';
import type { Labels } from './records';

/** containerd never stores a label with an empty value: setting "" deletes it. */
export function cleanLabels(labels: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(labels ?? {})) {
    if (v !== '' && v !== undefined) out[k] = v;
  }
  return out;
}

/** Apply one `labels.<key>` field-mask path: copy the key's value from `from`, or delete it. */
export function setLabel(target: Labels, key: string, value: string | undefined): void {
  if (value === undefined || value === '') delete target[key];
  else target[key] = value;
}

/** containerd's validateInfo for content and snapshot labels ("info.Labels: …"). */
export function validateInfoLabels(labels: Labels): void {
  withContext('info.Labels', () => validateLabels(labels));
}
