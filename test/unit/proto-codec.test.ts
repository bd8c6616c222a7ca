// The table-driven codec (src/proto/codec.ts) against protobufjs, on every message type of
// the registry: it must decode to exactly protobufjs's toObject(DECODE_OPTIONS) (same keys
// in the same order, same values), and what it encodes must decode in protobufjs to what
// protobufjs's own encoding of the same object decodes to.
import * as protobuf from 'protobufjs/light';
import { describe, expect, it } from 'vitest';
import { decodePlain, encodePlain, planOf } from '../../src/proto/codec';
import { DECODE_OPTIONS, root } from '../../src/proto/registry';

function allTypes(ns: protobuf.NamespaceBase = root): protobuf.Type[] {
  const out: protobuf.Type[] = [];
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) out.push(o);
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) out.push(...allTypes(o));
  }
  return out;
}

/** Deterministic pseudo-random numbers (xorshift), so a failure reproduces. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

const STRINGS = ['', 'a', 'bench', 'docker.io/library/busybox:latest', 'ünïcødé ✓', 'x'.repeat(200), 'sha256:' + 'ab'.repeat(32)];

function randomValue(field: protobuf.Field, rand: () => number, depth: number): unknown {
  const t = field.resolvedType;
  if (t instanceof protobuf.Enum) {
    const names = Object.keys(t.values);
    return rand() < 0.8 ? names[Math.floor(rand() * names.length)] : Object.values(t.values)[0];
  }
  if (t instanceof protobuf.Type) return depth > 2 ? {} : randomObject(t, rand, depth + 1);
  switch (field.type) {
    case 'string':
      return STRINGS[Math.floor(rand() * STRINGS.length)];
    case 'bytes':
      return Buffer.from(Array.from({ length: Math.floor(rand() * 40) }, () => Math.floor(rand() * 256)));
    case 'bool':
      return rand() < 0.5;
    case 'int32':
      return [0, 1, -1, 127, 128, 2147483647, -2147483648, Math.floor(rand() * 1e6)][Math.floor(rand() * 8)];
    case 'uint32':
      return [0, 1, 127, 128, 16384, 4294967295, Math.floor(rand() * 1e9)][Math.floor(rand() * 7)];
    case 'int64':
      return [0, 1, -1, 2 ** 31, 2 ** 32 + 5, -(2 ** 40), Number.MAX_SAFE_INTEGER, 1764322713, Math.floor(rand() * 1e12)][Math.floor(rand() * 9)];
    case 'uint64':
      return [0, 1, 127, 2 ** 32 + 5, Number.MAX_SAFE_INTEGER, Math.floor(rand() * 1e12)][Math.floor(rand() * 6)];
    case 'double':
      return [0, 1.5, -2.25, 1e300, 5e-324, rand()][Math.floor(rand() * 6)];
    default:
      throw new Error(`no generator for ${field.type}`);
  }
}

function randomObject(type: protobuf.Type, rand: () => number, depth = 0): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (const f of type.fieldsArray) {
    f.resolve();
    if (rand() < 0.3) continue; // absent
    const mapField = (f as protobuf.Field & { map?: boolean }).map === true;
    if (mapField) {
      const m: Record<string, unknown> = {};
      const n = Math.floor(rand() * 3);
      for (let i = 0; i < n; i++) m[`k${i}-${STRINGS[Math.floor(rand() * STRINGS.length)]}`] = randomValue(f, rand, depth);
      o[f.name] = m;
    } else if (f.repeated) {
      o[f.name] = Array.from({ length: Math.floor(rand() * 4) }, () => randomValue(f, rand, depth));
    } else {
      o[f.name] = randomValue(f, rand, depth);
    }
  }
  return o;
}

/** JSON with Buffers spelled out, so key order and bytes both count. */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => {
    if (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' && Array.isArray((x as { data?: unknown }).data)) {
      return `<buf ${Buffer.from((x as { data: number[] }).data).toString('hex')}>`;
    }
    return x;
  });
}

const pbEncode = (t: protobuf.Type, o: object): Uint8Array => t.encode(t.fromObject(o as Record<string, unknown>)).finish();
const pbDecode = (t: protobuf.Type, b: Uint8Array): unknown => t.toObject(t.decode(b), DECODE_OPTIONS);

const types = allTypes();

describe('proto codec against protobufjs', () => {
  it('covers every message type of the registry', () => {
    expect(types.length).toBeGreaterThan(150);
    for (const t of types) expect(() => planOf(t)).not.toThrow();
  });

  it('decodes what protobufjs encodes to protobufjs toObject, keys in the same order', () => {
    const rand = rng(1);
    let n = 0;
    for (const t of types) {
      for (let i = 0; i < 12; i++) {
        const bytes = pbEncode(t, randomObject(t, rand));
        expect(canonical(decodePlain(planOf(t), bytes)), `${t.fullName} #${i}`).toBe(canonical(pbDecode(t, bytes)));
        n++;
      }
      // and the empty message: every default
      expect(canonical(decodePlain(planOf(t), new Uint8Array(0))), t.fullName).toBe(canonical(pbDecode(t, new Uint8Array(0))));
    }
    expect(n).toBeGreaterThan(1800);
  });

  it('encodes what protobufjs decodes as protobufjs would, in canonical proto3 form', () => {
    const rand = rng(2);
    for (const t of types) {
      for (let i = 0; i < 12; i++) {
        const obj = randomObject(t, rand);
        const ours = encodePlain(planOf(t), obj);
        expect(canonical(pbDecode(t, ours)), `${t.fullName} #${i}`).toBe(canonical(pbDecode(t, pbEncode(t, obj))));
        // a decoded message encodes back to the same bytes
        expect(encodePlain(planOf(t), decodePlain(planOf(t), ours)).equals(ours), `${t.fullName} #${i} round trip`).toBe(true);
      }
    }
  });

  it('leaves proto3 defaults out and keeps present messages and repeated elements', () => {
    const proc = planOf(root.lookupType('containerd.v1.types.Process'));
    expect(encodePlain(proc, { pid: 0, id: '', status: 'UNKNOWN', terminal: false, exit_status: 0, exited_at: null }).length).toBe(0);
    const mount = planOf(root.lookupType('containerd.types.Mount'));
    expect([...encodePlain(mount, { type: '', options: ['', 'ro'] })]).toEqual([0x22, 0, 0x22, 2, 0x72, 0x6f]);
    const ts = planOf(root.lookupType('containerd.services.tasks.v1.DeleteResponse'));
    expect([...encodePlain(ts, { exited_at: {} })]).toEqual([(4 << 3) | 2, 0]);
  });

  it('accepts what fromObject accepts: int64 strings, enum numbers, base64 bytes', () => {
    const t = root.lookupType('containerd.v1.types.Process');
    const plan = planOf(t);
    const obj = { pid: 7, status: 2, exited_at: { seconds: '1764322713', nanos: 5 } };
    expect(canonical(decodePlain(plan, encodePlain(plan, obj)))).toBe(canonical(pbDecode(t, pbEncode(t, obj))));
    const any = planOf(root.lookupType('google.protobuf.Any'));
    expect(decodePlain(any, encodePlain(any, { type_url: 'x', value: Buffer.from('hi').toString('base64') })).value).toEqual(Buffer.from('hi'));
  });

  it('numbers beyond 32 bits and negative ones survive both ways', () => {
    const t = root.lookupType('google.protobuf.Timestamp');
    const plan = planOf(t);
    for (const seconds of [-1, -(2 ** 40) - 3, 2 ** 32, 2 ** 52 + 1, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER]) {
      const bytes = encodePlain(plan, { seconds, nanos: -5 });
      expect(pbDecode(t, bytes)).toEqual({ seconds, nanos: -5 });
      expect(decodePlain(plan, bytes)).toEqual({ seconds, nanos: -5 });
    }
  });

  it('rejects truncated input as protobufjs does, skips unknown fields, rejects mismatched wire types as gogo does', () => {
    const t = root.lookupType('containerd.types.Mount');
    const plan = planOf(t);
    const bytes = pbEncode(t, { type: 'overlay', source: 'overlay', options: ['lowerdir=/a', 'upperdir=/b'] });
    for (let cut = 1; cut < bytes.length; cut++) {
      const part = bytes.subarray(0, cut);
      let pbFailed = false;
      try {
        pbDecode(t, part);
      } catch {
        pbFailed = true;
      }
      if (pbFailed) expect(() => decodePlain(plan, part), `cut at ${cut}`).toThrow(RangeError);
    }
    // A tag of field 99 is two bytes of varint.
    const tag99 = (wt: number): number[] => [((99 << 3) | wt) & 0x7f | 0x80, (99 << 3) >> 7];
    // field 99 (varint, unknown: skipped), then type "x"
    expect(decodePlain(plan, Buffer.from([...tag99(0), 0x96, 0x01, (1 << 3) | 2, 1, 0x78]))).toMatchObject({ type: 'x', source: '' });
    // field 1 (a string) as a varint
    expect(() => decodePlain(plan, Buffer.from([(1 << 3) | 0, 5, (1 << 3) | 2, 1, 0x78]))).toThrow('proto: wrong wireType = 0 for field Type');
    // repeated string field 4 as fixed32
    expect(() => decodePlain(plan, Buffer.from([(4 << 3) | 5, 1, 2, 3, 4]))).toThrow('proto: wrong wireType = 5 for field Options');
    // a map field (Container.labels) as a varint
    const c = planOf(root.lookupType('containerd.services.containers.v1.Container'));
    expect(() => decodePlain(c, Buffer.from([(2 << 3) | 0, 1]))).toThrow('proto: wrong wireType = 0 for field Labels');
    const bad: Array<[string, number[], string]> = [
      ['an 11-byte varint', [...tag99(0), ...Array<number>(10).fill(0xff), 0x01], 'proto: integer overflow'],
      ['a truncated varint', [...tag99(0), 0x96], 'unexpected EOF'],
      ['a length beyond the buffer', [(1 << 3) | 2, 5, 0x78], 'unexpected EOF'],
      ['a length of 2^32 + 1 (not 1)', [(1 << 3) | 2, 0x81, 0x80, 0x80, 0x80, 0x10, 0x78], 'unexpected EOF'],
      ['a negative length', [(1 << 3) | 2, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x78], 'proto: negative length found during unmarshaling'],
      ['wire type 7', [...tag99(7), 0], 'proto: illegal wireType 7'],
      ['an end group', [...tag99(4)], 'proto: Mount: wiretype end group for non-group'],
      ['tag 0', [0, 1], 'proto: Mount: illegal tag 0 (wire type 0)'],
    ];
    for (const [what, b, msg] of bad) expect(() => decodePlain(plan, Buffer.from(b)), what).toThrow(msg);
  });

  it('throws protobufjs-style errors for values of the wrong shape', () => {
    const plan = planOf(root.lookupType('containerd.types.Mount'));
    expect(() => encodePlain(plan, { options: 'ro' })).toThrow('.containerd.types.Mount.options: array expected');
    const c = planOf(root.lookupType('containerd.services.containers.v1.Container'));
    expect(() => encodePlain(c, { runtime: 'runc' })).toThrow('object expected');
  });
});
