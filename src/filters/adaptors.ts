// Building Adaptors for plain objects, following containerd's adaptor conventions:
// a string field is present iff non-empty; `labels.<key>` looks the key up in a
// map, with the remaining path components re-joined by '.' (so
// `labels.containerd.io/gc.root` and `labels."containerd.io/gc.root"` agree), and a
// key is present iff it exists in the map (even with an empty value).

import { Adaptor, FieldValue } from './filter';

const ABSENT: FieldValue = Object.freeze({ value: '', present: false });

type StringMap = Readonly<Record<string, string>> | ReadonlyMap<string, string>;

function lookup(m: StringMap, key: string): FieldValue {
  if (m instanceof Map) {
    const v = m.get(key);
    return v === undefined ? ABSENT : { value: v, present: true };
  }
  const rec = m as Readonly<Record<string, string>>;
  if (!Object.prototype.hasOwnProperty.call(rec, key)) return ABSENT;
  const v = rec[key];
  return typeof v === 'string' ? { value: v, present: true } : ABSENT;
}

/**
 * An Adaptor over simple fields and string maps.
 *
 * - `fields`: keyed by the dotted field path (`'id'`, `'runtime.name'`,
 *   `'target.digest'`); a field is present iff its value is a non-empty string.
 * - `maps`: keyed by the path prefix naming the map (`'labels'`, `'annotations'`,
 *   or a dotted prefix such as `'event.labels'`); for a path that starts with that
 *   prefix the rest of the path, joined with '.', is the map key. The longest
 *   matching prefix wins, and maps take precedence over `fields`.
 */
export function adaptFields(
  fields: Readonly<Record<string, string | undefined | null>>,
  maps?: Readonly<Record<string, StringMap | undefined | null>>,
): Adaptor {
  const prefixes = Object.entries(maps ?? {})
    .filter((e): e is [string, StringMap] => e[1] !== undefined && e[1] !== null)
    .map(([name, m]) => ({ parts: name.split('.'), m }))
    .sort((a, b) => b.parts.length - a.parts.length);

  return {
    field(path: string[]): FieldValue {
      if (path.length === 0) return ABSENT;
      for (const { parts, m } of prefixes) {
        if (path.length < parts.length) continue;
        if (parts.every((p, i) => path[i] === p)) return lookup(m, path.slice(parts.length).join('.'));
      }
      const key = path.join('.');
      if (!Object.prototype.hasOwnProperty.call(fields, key)) return ABSENT;
      const v = fields[key];
      return typeof v === 'string' && v.length > 0 ? { value: v, present: true } : ABSENT;
    },
  };
}

/** Adaptor from a function, for objects that need custom field logic. */
export function adaptorFunc(fn: (path: string[]) => FieldValue): Adaptor {
  return { field: fn };
}
