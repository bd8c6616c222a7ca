import type { Labels } from './records';
import type { Stored } from './db';

// Helpers to read JSON records (namespaces, leases): dates are ISO strings.

export function labelsFrom(s: Stored, field = 'labels'): Labels {
  return { ...((s[field] as Labels | undefined) ?? {}) };
}

export function dateFrom(s: Stored, field: string): Date {
  const v = s[field];
  return typeof v === 'string' ? new Date(v) : new Date(0);
}
