import type { Adaptor } from '../filters/filter';
import type { Envelope, EventDecoder } from './envelope';

/**
 * Filter adaptor over an envelope: `namespace`, `topic` and `event.<field>` where the
 * field path walks the decoded payload. Strings and booleans are comparable, maps are
 * looked up with the rest of the path re-joined by '.', numbers are not filterable
 * (as in containerd's generated field adaptors).
 */
export function envelopeAdaptor(env: Envelope, decode: EventDecoder): Adaptor {
  let decoded: Record<string, unknown> | undefined | null = null;
  return {
    field(path: string[]): { value: string; present: boolean } {
      const [head, ...rest] = path;
      switch (head) {
        case 'namespace':
          return { value: env.namespace, present: env.namespace.length > 0 };
        case 'topic':
          return { value: env.topic, present: env.topic.length > 0 };
        case 'event': {
          if (decoded === null) decoded = decode(env.event);
          return walk(decoded, rest);
        }
        default:
          return { value: '', present: false };
      }
    },
  };
}

const ABSENT = { value: '', present: false };

function walk(obj: unknown, path: string[]): { value: string; present: boolean } {
  if (obj === undefined || obj === null || path.length === 0) return ABSENT;
  if (typeof obj !== 'object' || Buffer.isBuffer(obj)) return ABSENT;
  const [head, ...rest] = path as [string, ...string[]];
  const v = (obj as Record<string, unknown>)[head];
  if (v === undefined || v === null) return ABSENT;
  if (rest.length === 0) {
    if (typeof v === 'string') return { value: v, present: v.length > 0 };
    if (typeof v === 'boolean') return { value: String(v), present: true };
    return ABSENT;
  }
  if (isStringMap(v, head)) {
    const key = rest.join('.');
    const mv = (v as Record<string, unknown>)[key];
    return typeof mv === 'string' ? { value: mv, present: mv.length > 0 } : ABSENT;
  }
  return walk(v, rest);
}

// Event maps are all string→string label maps; a nested message is walked field by field.
function isStringMap(v: unknown, field: string): boolean {
  return field === 'labels' || field === 'annotations' ? typeof v === 'object' : false;
}
