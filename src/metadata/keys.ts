// LevelDB key layout. Every key starts with "v1/" so a future layout can live beside it
// during a migration. Schema versions (the value under SCHEMA_KEY) change the records,
// not this layout: 1 stored times with milliseconds, 2 with nanoseconds (migrations.ts).
//
//   v1/~namespaces/<ns>                          namespace record (labels, timestamps)
//   v1/<ns>/containers/<id>                      container record
//   v1/<ns>/leases/<id>                          lease record
//   v1/<ns>/leaseres/<lease>/<type>/<id>         resource held by a lease
//
// "~" cannot appear in an identifier, so the namespace index never collides with a
// namespace's own objects. Components that clients may choose freely (lease ids,
// resource ids, snapshotter names) are percent-encoded so "/" stays a separator.

export const SCHEMA_KEY = 'berth/schema';
export const SCHEMA_VERSION = 2;

const ROOT = 'v1/';

export function enc(component: string): string {
  return encodeURIComponent(component);
}

export function dec(component: string): string {
  return decodeURIComponent(component);
}

export const namespaceIndexPrefix = `${ROOT}~namespaces/`;

export function namespaceKey(ns: string): string {
  return namespaceIndexPrefix + enc(ns);
}

/** Prefix of every object that belongs to a namespace. */
export function namespacePrefix(ns: string): string {
  return `${ROOT}${enc(ns)}/`;
}

export function objectPrefix(ns: string, kind: string): string {
  return `${namespacePrefix(ns)}${kind}/`;
}

export function objectKey(ns: string, kind: string, id: string): string {
  return objectPrefix(ns, kind) + enc(id);
}

export function leaseResourcePrefix(ns: string, lease: string): string {
  return `${objectPrefix(ns, 'leaseres')}${enc(lease)}/`;
}

export function leaseResourceKey(ns: string, lease: string, type: string, id: string): string {
  return `${leaseResourcePrefix(ns, lease)}${enc(type)}/${enc(id)}`;
}

/** Upper bound for a prefix range scan: every key that starts with prefix is < this. */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}
