// One table-driven protobuf codec for every message type of the registry.
//
// Why not protobufjs's own encode/decode: it generates four functions per message type
// (decode, toObject, fromObject, encode) and a request goes through all four (bytes →
// message instance → plain object, and back). Each of those ~800 functions warms up on its
// own, so a daemon serving a few dozen calls per client command runs them interpreted or
// in baseline code for its first hundreds of commands: ~80 µs of a small call's ~200 µs
// of JavaScript was protobufjs in a fresh berthd. Here one decode loop and one encode loop
// serve every type, straight between bytes and berth's plain-object shape; they are hot
// after a handful of calls.
//
// The shape is exactly protobufjs's toObject with registry DECODE_OPTIONS (the contract
// test/unit/proto-codec.test.ts checks on every type of the registry, both ways):
// field names as in the .proto; every field present, defaults filled (repeated [], map {},
// message null, bytes an empty Buffer, enum the name of its default); int64 kinds as
// numbers; enums as names (numbers the enum does not know stay numbers); bytes as Buffers
// that share memory with the input. Keys appear in protobufjs's order: repeated fields, map
// fields, then the others, each group by field number.
//
// Encoding takes what protobufjs's fromObject takes (numbers or decimal strings for
// int64, enum names or numbers, Buffers, Uint8Arrays, arrays or base64 strings for bytes;
// null or undefined for absent) and writes proto3's canonical form, as Go does: scalars
// equal to their default are left out; present messages, map entries and repeated elements
// are always written; packed repeated scalars are packed.
import type * as protobuf from 'protobufjs/light';

type Plain = Record<string, unknown>;

const enum Kind {
  Double,
  Float,
  Int32,
  Uint32,
  Sint32,
  Fixed32,
  Sfixed32,
  Int64,
  Uint64,
  Sint64,
  Fixed64,
  Sfixed64,
  Bool,
  String,
  Bytes,
  Enum,
  Message,
}

const KINDS: Record<string, Kind> = {
  double: Kind.Double,
  float: Kind.Float,
  int32: Kind.Int32,
  uint32: Kind.Uint32,
  sint32: Kind.Sint32,
  fixed32: Kind.Fixed32,
  sfixed32: Kind.Sfixed32,
  int64: Kind.Int64,
  uint64: Kind.Uint64,
  sint64: Kind.Sint64,
  fixed64: Kind.Fixed64,
  sfixed64: Kind.Sfixed64,
  bool: Kind.Bool,
  string: Kind.String,
  bytes: Kind.Bytes,
};

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function wireTypeOf(k: Kind): number {
  switch (k) {
    case Kind.Double:
    case Kind.Fixed64:
    case Kind.Sfixed64:
      return WIRE_I64;
    case Kind.Float:
    case Kind.Fixed32:
    case Kind.Sfixed32:
      return WIRE_I32;
    case Kind.String:
    case Kind.Bytes:
    case Kind.Message:
      return WIRE_LEN;
    default:
      return WIRE_VARINT;
  }
}

interface EnumPlan {
  /** name → number (protobufjs Enum.values). */
  byName: Map<string, number>;
  /** number → name; the last name declared wins for aliases (protobufjs valuesById). */
  byNumber: Map<number, string>;
  defaultName: string;
}

interface FieldPlan {
  name: string;
  id: number;
  kind: Kind;
  repeated: boolean;
  packed: boolean;
  /** A map<string, V>: kind and enum/message describe V. */
  map: boolean;
  /** The tag of a singular (or unpacked repeated, or map) element. */
  tag: number;
  enum?: EnumPlan;
  message?: MessagePlan;
  /** Full name of the message type, for error messages. */
  owner: string;
}

export interface MessagePlan {
  readonly fullName: string;
  /** By field number, for decoding. */
  readonly byId: Map<number, FieldPlan>;
  /** By field number ascending, for encoding. */
  readonly fields: FieldPlan[];
  /** protobufjs's toObject key order: repeated, maps, then the rest (each by number). */
  readonly keyOrder: FieldPlan[];
}

/**
 * One field as the codec's plans need it, whatever describes the type: a protobufjs Type
 * (planOf) or the table scripts/gen-proto.mjs writes for clients (src/proto/wire-table.ts).
 */
export interface FieldSource<T> {
  name: string;
  id: number;
  /** A scalar type name (string, int64, …) when `ref` is absent. */
  type: string;
  repeated: boolean;
  /** protobufjs's Field.packed (proto3 packs repeated scalars unless told not to). */
  packed: boolean;
  map: boolean;
  /** The map's key type (only string keys are supported). */
  keyType?: string;
  /** The field is part of a oneof (not supported). */
  oneof: boolean;
  /** The field's enum (its values in declaration order) or message type. */
  ref?: { enumValues: ReadonlyArray<readonly [string, number]> } | { message: T };
}

/** How to read a type's name and fields, for buildPlan. */
export interface TypeSource<T> {
  fullName(type: T): string;
  fields(type: T): FieldSource<T>[];
}

function enumPlan(values: ReadonlyArray<readonly [string, number]>): EnumPlan {
  const byName = new Map<string, number>();
  const byNumber = new Map<number, string>();
  for (const [name, n] of values) {
    byName.set(name, n);
    byNumber.set(n, name);
  }
  const first = values[0]?.[1] ?? 0;
  return { byName, byNumber, defaultName: byNumber.get(first) ?? String(first) };
}

/** The codec plan of a type, built once per type and cache (types may refer to themselves). */
export function buildPlan<T>(type: T, source: TypeSource<T>, cache: Map<T, MessagePlan>): MessagePlan {
  let plan = cache.get(type);
  if (plan) return plan;
  const fullName = source.fullName(type);
  const fields: FieldPlan[] = [];
  plan = { fullName, byId: new Map(), fields, keyOrder: [] };
  cache.set(type, plan); // before the fields: types may refer to themselves
  const specs = source.fields(type).sort((a, b) => a.id - b.id);
  for (const f of specs) {
    if (f.oneof) throw new Error(`proto codec: ${fullName}.${f.name}: oneof fields are not supported`);
    if (f.map && f.keyType !== 'string') throw new Error(`proto codec: ${fullName}.${f.name}: only string map keys are supported`);
    let kind: Kind;
    if (f.ref && 'enumValues' in f.ref) kind = Kind.Enum;
    else if (f.ref) kind = Kind.Message;
    else {
      const k = KINDS[f.type];
      if (k === undefined) throw new Error(`proto codec: ${fullName}.${f.name}: unsupported type ${f.type}`);
      kind = k;
    }
    const packable = kind !== Kind.String && kind !== Kind.Bytes && kind !== Kind.Message;
    const packed = f.repeated && !f.map && packable && f.packed;
    const fp: FieldPlan = {
      name: f.name,
      id: f.id,
      kind,
      repeated: f.repeated && !f.map,
      packed,
      map: f.map,
      tag: (f.id << 3) | (f.map || packed ? WIRE_LEN : wireTypeOf(kind)),
      owner: fullName,
    };
    if (f.ref && 'enumValues' in f.ref) fp.enum = enumPlan(f.ref.enumValues);
    fields.push(fp);
    plan.byId.set(f.id, fp);
  }
  // Message plans of the fields last: a cycle finds this plan registered already.
  for (const f of specs) {
    if (f.ref && 'message' in f.ref) (plan.byId.get(f.id) as FieldPlan).message = buildPlan(f.ref.message, source, cache);
  }
  plan.keyOrder.push(...fields.filter((f) => f.repeated), ...fields.filter((f) => f.map), ...fields.filter((f) => !f.repeated && !f.map));
  return plan;
}

/** A protobufjs type's fields, as buildPlan reads them. */
const protobufjsSource: TypeSource<protobuf.Type> = {
  fullName: (type) => type.fullName.replace(/^\./, ''),
  fields: (type) =>
    type.fieldsArray.map((f) => {
      f.resolve();
      const resolved = f.resolvedType as protobuf.Type | protobuf.Enum | null;
      const spec: FieldSource<protobuf.Type> = {
        name: f.name,
        id: f.id,
        type: f.type,
        repeated: f.repeated,
        packed: f.packed,
        map: (f as protobuf.Field & { map?: boolean }).map === true,
        keyType: (f as protobuf.Field & { keyType?: string }).keyType,
        oneof: f.partOf != null,
      };
      if (resolved && 'values' in resolved) spec.ref = { enumValues: Object.entries(resolved.values) };
      else if (resolved) spec.ref = { message: resolved };
      return spec;
    }),
};

const plans = new Map<protobuf.Type, MessagePlan>();

/** The codec plan of a protobufjs type (built once, on first use). */
export function planOf(type: protobuf.Type): MessagePlan {
  return buildPlan(type, protobufjsSource, plans);
}

// ---------------------------------------------------------------------------------- decode

const EMPTY = Buffer.alloc(0);

/**
 * Bytes that are not a valid encoding of the message. A RangeError, as protobufjs throws
 * for truncated input; the texts are those of the gogo-generated Unmarshal methods
 * containerd 1.6 decodes its API with, which its clients see after "grpc: error
 * unmarshalling request: ".
 */
export class ProtoDecodeError extends RangeError {}

function truncated(): ProtoDecodeError {
  return new ProtoDecodeError('unexpected EOF');
}

/** Go's field name for a field (gogo names them so in its errors): lowerCamel → UpperCamel. */
function goFieldName(name: string): string {
  return name.charAt(0).toUpperCase() + name.slice(1);
}

function shortName(fullName: string): string {
  return fullName.slice(fullName.lastIndexOf('.') + 1);
}

function wrongWireType(wt: number, f: FieldPlan): ProtoDecodeError {
  return new ProtoDecodeError(`proto: wrong wireType = ${wt} for field ${goFieldName(f.name)}`);
}

class Reader {
  pos: number;
  constructor(
    readonly buf: Buffer,
    start: number,
    public end: number,
  ) {
    this.pos = start;
  }

  /** A varint of up to 32 significant bits, as an unsigned number (higher bits dropped). */
  uint32(): number {
    const buf = this.buf;
    let pos = this.pos;
    let value = 0;
    for (let shift = 0; shift < 35; shift += 7) {
      if (pos >= this.end) throw truncated();
      const b = buf[pos++] as number;
      value |= (b & 0x7f) << shift;
      if (b < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    // Bytes 6-10 of a 64-bit varint carry bits above 32: skip them.
    for (let i = 0; i < 5; i++) {
      if (pos >= this.end) throw truncated();
      if ((buf[pos++] as number) < 0x80) {
        this.pos = pos;
        return value >>> 0;
      }
    }
    throw new ProtoDecodeError('proto: integer overflow');
  }

  /** A 64-bit varint as [low 32 bits, high 32 bits]. */
  varint64(): [number, number] {
    const buf = this.buf;
    let lo = 0;
    let hi = 0;
    let pos = this.pos;
    for (let i = 0; i < 10; i++) {
      if (pos >= this.end) throw truncated();
      const b = buf[pos++] as number;
      if (i < 4) lo |= (b & 0x7f) << (7 * i);
      else if (i === 4) {
        lo |= (b & 0x0f) << 28;
        hi |= (b & 0x7f) >> 4;
      } else hi |= (b & 0x7f) << (7 * i - 32);
      if (b < 0x80) {
        this.pos = pos;
        return [lo >>> 0, hi >>> 0];
      }
    }
    throw new ProtoDecodeError('proto: integer overflow');
  }

  int64(unsigned: boolean): number {
    const [lo, hi] = this.varint64();
    return toNumber(lo, hi, unsigned);
  }

  sint64(): number {
    const [lo, hi] = this.varint64();
    // zig-zag: (n >>> 1) ^ -(n & 1), on two 32-bit halves
    const mask = -(lo & 1);
    const nlo = (((lo >>> 1) | (hi << 31)) ^ mask) >>> 0;
    const nhi = ((hi >>> 1) ^ mask) >>> 0;
    return toNumber(nlo, nhi, false);
  }

  fixed32(): number {
    if (this.pos + 4 > this.end) throw truncated();
    const v = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return v;
  }

  fixed64(signed: boolean): number {
    if (this.pos + 8 > this.end) throw truncated();
    const lo = this.buf.readUInt32LE(this.pos);
    const hi = this.buf.readUInt32LE(this.pos + 4);
    this.pos += 8;
    return toNumber(lo, hi, !signed);
  }

  float(): number {
    if (this.pos + 4 > this.end) throw truncated();
    const v = this.buf.readFloatLE(this.pos);
    this.pos += 4;
    return v;
  }

  double(): number {
    if (this.pos + 8 > this.end) throw truncated();
    const v = this.buf.readDoubleLE(this.pos);
    this.pos += 8;
    return v;
  }

  /** The end of a length-delimited field starting here (its length read). */
  delimited(): number {
    // All 64 bits: a length of 2^32 + 3 is not a length of 3.
    const [n, hi] = this.varint64();
    if (hi >= 0x80000000) throw new ProtoDecodeError('proto: negative length found during unmarshaling');
    if (hi !== 0 || this.pos + n > this.end) throw truncated();
    return this.pos + n;
  }

  skip(wireType: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint64();
        return;
      case WIRE_I64:
        if (this.pos + 8 > this.end) throw truncated();
        this.pos += 8;
        return;
      case WIRE_LEN:
        this.pos = this.delimited();
        return;
      case WIRE_I32:
        if (this.pos + 4 > this.end) throw truncated();
        this.pos += 4;
        return;
      case 3: {
        // a group: skip to its end tag
        for (;;) {
          const t = this.uint32();
          const wt = t & 7;
          if (wt === 4) return;
          this.skip(wt);
        }
      }
      default:
        throw new ProtoDecodeError(`proto: illegal wireType ${wireType}`);
    }
  }
}

/** protobufjs LongBits.toNumber: two's complement when signed and the top bit is set. */
function toNumber(lo: number, hi: number, unsigned: boolean): number {
  if (!unsigned && hi >>> 31) {
    let nlo = (~lo + 1) >>> 0;
    let nhi = ~hi >>> 0;
    if (!nlo) nhi = (nhi + 1) >>> 0;
    return -(nlo + nhi * 4294967296);
  }
  return lo + hi * 4294967296;
}

function defaultOf(f: FieldPlan): unknown {
  if (f.repeated) return [];
  if (f.map) return {};
  return scalarDefault(f);
}

/** The default of one value of the field's kind (a map value, or a singular field). */
function scalarDefault(f: FieldPlan): unknown {
  switch (f.kind) {
    case Kind.String:
      return '';
    case Kind.Bool:
      return false;
    case Kind.Bytes:
      return EMPTY;
    case Kind.Enum:
      return (f.enum as EnumPlan).defaultName;
    case Kind.Message:
      return null;
    default:
      return 0;
  }
}

function readScalar(r: Reader, f: FieldPlan): unknown {
  switch (f.kind) {
    case Kind.String: {
      const end = r.delimited();
      const s = r.buf.toString('utf8', r.pos, end);
      r.pos = end;
      return s;
    }
    case Kind.Bytes: {
      const end = r.delimited();
      const b = r.buf.subarray(r.pos, end);
      r.pos = end;
      return b;
    }
    case Kind.Message: {
      const end = r.delimited();
      const saved = r.end;
      r.end = end;
      const m = decodeFields(r, f.message as MessagePlan);
      r.end = saved;
      return m;
    }
    case Kind.Int32:
      return r.uint32() | 0;
    case Kind.Uint32:
      return r.uint32();
    case Kind.Sint32: {
      const n = r.uint32();
      return (n >>> 1) ^ -(n & 1);
    }
    case Kind.Enum: {
      const n = r.uint32() | 0;
      const name = (f.enum as EnumPlan).byNumber.get(n);
      return name === undefined ? n : name;
    }
    case Kind.Bool:
      return r.uint32() !== 0;
    case Kind.Int64:
      return r.int64(false);
    case Kind.Uint64:
      return r.int64(true);
    case Kind.Sint64:
      return r.sint64();
    case Kind.Fixed32:
      return r.fixed32();
    case Kind.Sfixed32:
      return r.fixed32() | 0;
    case Kind.Fixed64:
      return r.fixed64(false);
    case Kind.Sfixed64:
      return r.fixed64(true);
    case Kind.Float:
      return r.float();
    case Kind.Double:
      return r.double();
  }
}

/** One map entry (key = 1, value = 2) into `into`. */
function readMapEntry(r: Reader, f: FieldPlan, into: Plain): void {
  const end = r.delimited();
  const saved = r.end;
  r.end = end;
  let key = '';
  let value: unknown = scalarDefault(f);
  while (r.pos < end) {
    const t = r.uint32();
    const id = t >>> 3;
    if (id === 1 && (t & 7) === WIRE_LEN) {
      const e = r.delimited();
      key = r.buf.toString('utf8', r.pos, e);
      r.pos = e;
    } else if (id === 2 && (t & 7) === wireTypeOf(f.kind)) {
      value = readScalar(r, f);
    } else r.skip(t & 7);
  }
  r.end = saved;
  into[key] = value;
}

function decodeFields(r: Reader, plan: MessagePlan): Plain {
  const out: Plain = {};
  for (const f of plan.keyOrder) out[f.name] = defaultOf(f);
  while (r.pos < r.end) {
    const t = r.uint32();
    const wt = t & 7;
    if (wt === 4) throw new ProtoDecodeError(`proto: ${shortName(plan.fullName)}: wiretype end group for non-group`);
    if (t >>> 3 === 0) throw new ProtoDecodeError(`proto: ${shortName(plan.fullName)}: illegal tag 0 (wire type ${wt})`);
    const f = plan.byId.get(t >>> 3);
    if (f === undefined) {
      r.skip(wt);
      continue;
    }
    // A known field with another wire type is an error, as in containerd's gogo-generated
    // decoders (protobuf-go would keep it as an unknown field; containerd 1.6 answers
    // INTERNAL "grpc: error unmarshalling request: proto: wrong wireType = ...").
    if (f.map) {
      if (wt !== WIRE_LEN) throw wrongWireType(wt, f);
      readMapEntry(r, f, out[f.name] as Plain);
      continue;
    }
    const expected = wireTypeOf(f.kind);
    if (f.repeated) {
      const list = out[f.name] as unknown[];
      if (wt === WIRE_LEN && expected !== WIRE_LEN) {
        // packed
        const end = r.delimited();
        while (r.pos < end) list.push(readScalar(r, f));
        if (r.pos !== end) throw new RangeError(`packed field ${plan.fullName}.${f.name} overruns its length`);
      } else if (wt === expected) list.push(readScalar(r, f));
      else throw wrongWireType(wt, f);
      continue;
    }
    if (wt !== expected) throw wrongWireType(wt, f);
    out[f.name] = readScalar(r, f);
  }
  return out;
}

/** Decodes `bytes` as the plan's message type into berth's plain-object shape. */
export function decodePlain(plan: MessagePlan, bytes: Uint8Array): Plain {
  const buf = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return decodeFields(new Reader(buf, 0, buf.length), plan);
}

// ---------------------------------------------------------------------------------- encode

class Writer {
  buf: Buffer = Buffer.allocUnsafe(1024);
  pos = 0;

  reserve(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  uint32(v: number): void {
    this.reserve(5);
    let n = v >>> 0;
    while (n > 0x7f) {
      this.buf[this.pos++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[this.pos++] = n;
  }

  /** A negative int32 is a 10-byte varint (sign-extended to 64 bits). */
  int32(v: number): void {
    if (v >= 0) this.uint32(v);
    else this.varint64(v >>> 0, 0xffffffff);
  }

  varint64(lo: number, hi: number): void {
    this.reserve(10);
    let l = lo >>> 0;
    let h = hi >>> 0;
    while (h > 0 || l > 0x7f) {
      this.buf[this.pos++] = (l & 0x7f) | 0x80;
      l = ((l >>> 7) | (h << 25)) >>> 0;
      h >>>= 7;
    }
    this.buf[this.pos++] = l;
  }

  fixed32(v: number): void {
    this.reserve(4);
    this.buf.writeUInt32LE(v >>> 0, this.pos);
    this.pos += 4;
  }

  fixed64(lo: number, hi: number): void {
    this.reserve(8);
    this.buf.writeUInt32LE(lo >>> 0, this.pos);
    this.buf.writeUInt32LE(hi >>> 0, this.pos + 4);
    this.pos += 8;
  }

  bytes(b: Uint8Array): void {
    this.uint32(b.length);
    this.reserve(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  string(s: string): void {
    // ASCII-length guess first: most strings here are ASCII.
    const max = s.length * 3;
    this.reserve(max + 5);
    if (s.length < 0x80 / 3) {
      const n = this.buf.write(s, this.pos + 1, 'utf8');
      this.buf[this.pos] = n;
      this.pos += 1 + n;
      return;
    }
    const n = Buffer.byteLength(s, 'utf8');
    this.uint32(n);
    this.buf.write(s, this.pos, n, 'utf8');
    this.pos += n;
  }

  /** Starts a length-delimited value; returns the mark to pass to end(). */
  begin(): number {
    this.reserve(5);
    const mark = this.pos;
    this.pos += 5;
    return mark;
  }

  /** Ends the value begun at mark: writes its length and closes the 5-byte gap. */
  end(mark: number): void {
    const len = this.pos - mark - 5;
    let vlen = 1;
    for (let n = len >>> 7; n > 0; n >>>= 7) vlen++;
    if (vlen < 5) this.buf.copyWithin(mark + vlen, mark + 5, this.pos);
    this.pos -= 5 - vlen;
    let p = mark;
    let n = len;
    while (n > 0x7f) {
      this.buf[p++] = (n & 0x7f) | 0x80;
      n >>>= 7;
    }
    this.buf[p] = n;
  }
}

/** [low, high] 32-bit halves of an int64 given as a number, a decimal string or a Long-like. */
function int64Parts(v: unknown): [number, number] {
  if (typeof v === 'number') {
    if (Number.isSafeInteger(v) && v >= 0 && v <= 0xffffffff) return [v, 0];
    const big = BigInt.asUintN(64, BigInt(Math.trunc(v)));
    return [Number(big & 0xffffffffn), Number(big >> 32n)];
  }
  if (typeof v === 'string') {
    const big = BigInt.asUintN(64, BigInt(v.trim() === '' ? 0 : v.trim()));
    return [Number(big & 0xffffffffn), Number(big >> 32n)];
  }
  if (typeof v === 'bigint') {
    const big = BigInt.asUintN(64, v);
    return [Number(big & 0xffffffffn), Number(big >> 32n)];
  }
  if (v !== null && typeof v === 'object' && 'low' in v && 'high' in v) {
    const l = v as { low: number; high: number };
    return [l.low >>> 0, l.high >>> 0];
  }
  return [0, 0];
}

function bytesOf(v: unknown): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (typeof v === 'string') return Buffer.from(v, 'base64');
  if (Array.isArray(v)) return Buffer.from(v as number[]);
  return EMPTY;
}

function enumNumber(f: FieldPlan, v: unknown): number | undefined {
  if (typeof v === 'number') return v | 0;
  if (typeof v === 'string') return (f.enum as EnumPlan).byName.get(v);
  return undefined;
}

/** Whether a scalar value is proto3's default (and so not written). */
function isDefault(f: FieldPlan, v: unknown): boolean {
  switch (f.kind) {
    case Kind.String:
      return v === '';
    case Kind.Bool:
      return v === false;
    case Kind.Bytes:
      return bytesOf(v).length === 0;
    case Kind.Enum:
      return enumNumber(f, v) === 0;
    case Kind.Message:
      return false;
    case Kind.Int64:
    case Kind.Uint64:
    case Kind.Sint64:
    case Kind.Fixed64:
    case Kind.Sfixed64: {
      if (typeof v === 'number') return v === 0;
      const [lo, hi] = int64Parts(v);
      return lo === 0 && hi === 0;
    }
    default:
      return Number(v) === 0 && !Object.is(Number(v), -0);
  }
}

/** The value of a scalar (not message) field, without its tag. */
function writeValue(w: Writer, f: FieldPlan, v: unknown): void {
  switch (f.kind) {
    case Kind.String:
      w.string(typeof v === 'string' ? v : String(v));
      return;
    case Kind.Bytes:
      w.bytes(bytesOf(v));
      return;
    case Kind.Bool:
      w.uint32(v ? 1 : 0);
      return;
    case Kind.Int32:
      w.int32(Number(v) | 0);
      return;
    case Kind.Uint32:
      w.uint32(Number(v) >>> 0);
      return;
    case Kind.Sint32: {
      const n = Number(v) | 0;
      w.uint32(((n << 1) ^ (n >> 31)) >>> 0);
      return;
    }
    case Kind.Enum:
      w.int32(enumNumber(f, v) ?? 0);
      return;
    case Kind.Int64:
    case Kind.Uint64: {
      const [lo, hi] = int64Parts(v);
      w.varint64(lo, hi);
      return;
    }
    case Kind.Sint64: {
      const [lo, hi] = int64Parts(v);
      const mask = hi >> 31; // -1 when negative
      w.varint64(((lo << 1) ^ mask) >>> 0, (((hi << 1) | (lo >>> 31)) ^ mask) >>> 0);
      return;
    }
    case Kind.Fixed32:
      w.fixed32(Number(v) >>> 0);
      return;
    case Kind.Sfixed32:
      w.fixed32(Number(v) | 0);
      return;
    case Kind.Fixed64:
    case Kind.Sfixed64: {
      const [lo, hi] = int64Parts(v);
      w.fixed64(lo, hi);
      return;
    }
    case Kind.Float:
      w.reserve(4);
      w.buf.writeFloatLE(Number(v), w.pos);
      w.pos += 4;
      return;
    case Kind.Double:
      w.reserve(8);
      w.buf.writeDoubleLE(Number(v), w.pos);
      w.pos += 8;
      return;
    case Kind.Message:
      return;
  }
}

function objectExpected(f: FieldPlan): TypeError {
  return new TypeError(`.${f.owner}.${f.name}: object expected`);
}

function writeMessage(w: Writer, f: FieldPlan, v: unknown): void {
  if (typeof v !== 'object' || v === null) throw objectExpected(f);
  const mark = w.begin();
  encodeFields(w, f.message as MessagePlan, v as Plain);
  w.end(mark);
}

function encodeFields(w: Writer, plan: MessagePlan, obj: Plain): void {
  for (const f of plan.fields) {
    const v = obj[f.name];
    if (v === null || v === undefined) continue;
    if (f.map) {
      if (typeof v !== 'object') throw objectExpected(f);
      const entries = v as Plain;
      for (const key of Object.keys(entries)) {
        const value = entries[key];
        w.uint32(f.tag);
        const mark = w.begin();
        w.uint32((1 << 3) | WIRE_LEN);
        w.string(key);
        if (f.kind === Kind.Message) {
          if (value !== null && value !== undefined) {
            w.uint32((2 << 3) | WIRE_LEN);
            writeMessage(w, f, value);
          }
        } else {
          w.uint32((2 << 3) | wireTypeOf(f.kind));
          writeValue(w, f, value);
        }
        w.end(mark);
      }
      continue;
    }
    if (f.repeated) {
      if (!Array.isArray(v)) throw new TypeError(`.${f.owner}.${f.name}: array expected`);
      if (v.length === 0) continue;
      if (f.packed) {
        w.uint32(f.tag);
        const mark = w.begin();
        for (const e of v) writeValue(w, f, e);
        w.end(mark);
      } else {
        for (const e of v) {
          w.uint32(f.tag);
          if (f.kind === Kind.Message) writeMessage(w, f, e);
          else writeValue(w, f, e);
        }
      }
      continue;
    }
    if (f.kind === Kind.Message) {
      w.uint32(f.tag);
      writeMessage(w, f, v);
      continue;
    }
    if (f.kind === Kind.Enum && enumNumber(f, v) === undefined) continue; // unknown name: unset, as protobufjs
    if (isDefault(f, v)) continue;
    w.uint32(f.tag);
    writeValue(w, f, v);
  }
}

/** One writer reused by every encode (encoding is synchronous), grown as needed. */
const shared = new Writer();

/** Encodes a plain object (see the header for what it accepts) as the plan's type. */
export function encodePlain(plan: MessagePlan, obj: object): Buffer {
  const w = shared;
  w.pos = 0;
  try {
    encodeFields(w, plan, obj as Plain);
    const out = Buffer.allocUnsafe(w.pos);
    w.buf.copy(out, 0, 0, w.pos);
    return out;
  } finally {
    // A large message must not pin a large buffer for the daemon's life.
    if (w.buf.length > 1 << 20) w.buf = Buffer.allocUnsafe(1024);
  }
}
