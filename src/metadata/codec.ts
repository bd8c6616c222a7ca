import type { AnyValue, Labels } from './records';
import type { Stored } from './db';

// Helpers to turn records into JSON-safe values and back. Buffers become base64;
// dates become ISO strings.

export interface StoredAny {
  typeUrl: string;
  value: string;
}

export function anyToStored(a: AnyValue | undefined): StoredAny | undefined {
  return a ? { typeUrl: a.typeUrl, value: a.value.toString('base64') } : undefined;
}

export function anyFromStored(v: unknown): AnyValue | undefined {
  if (!v || typeof v !== 'object') return undefined;
  const s = v as StoredAny;
  return { typeUrl: s.typeUrl, value: Buffer.from(s.value, 'base64') };
}

export function labelsFrom(s: Stored, field = 'labels'): Labels {
  return { ...((s[field] as Labels | undefined) ?? {}) };
}

export function dateFrom(s: Stored, field: string): Date {
  const v = s[field];
  return typeof v === 'string' ? new Date(v) : new Date(0);
}
