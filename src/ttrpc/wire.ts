// ttrpc's envelope messages (github.com/containerd/ttrpc types.go), encoded by hand on
// protobufjs/minimal's Reader/Writer: they are not part of proto/ and hand coding keeps
// this path free of reflection.
//
//   Request  { 1 service string, 2 method string, 3 payload bytes, 4 timeout_nano int64,
//              5 metadata repeated KeyValue{1 key string, 2 value string} }
//   Response { 1 status google.rpc.Status{1 code int32, 2 message string, 3 details repeated Any},
//              2 payload bytes }
// Proto3 defaults are omitted, as Go's marshaller does (a successful Response has no status).
import { Reader, Writer } from 'protobufjs/minimal';

/** The request metadata key that carries the containerd namespace on ttrpc. */
export const NAMESPACE_METADATA_KEY = 'containerd-namespace-ttrpc';

export interface KeyValue {
  key: string;
  value: string;
}

export interface WireRequest {
  service: string;
  method: string;
  payload: Uint8Array;
  /** Remaining deadline in nanoseconds; 0 = none. Can be negative (already expired). */
  timeoutNano: number;
  metadata: KeyValue[];
}

export interface AnyValue {
  typeUrl: string;
  value: Uint8Array;
}

export interface WireStatus {
  code: number;
  message: string;
  details: AnyValue[];
}

export interface WireResponse {
  /** Absent (or code 0) on success. */
  status?: WireStatus;
  payload: Uint8Array;
}

const WIRE_VARINT = 0;
const WIRE_LEN = 2;

function tag(field: number, wireType: number): number {
  return (field << 3) | wireType;
}

function toNumber(v: unknown): number {
  if (typeof v === 'number') return v;
  // A Long when the `long` package is installed (protobufjs' optional dependency).
  return (v as { toNumber(): number }).toNumber();
}

function expectWireType(field: number, got: number, want: number, message: string): void {
  if (got !== want) throw new Error(`proto: ${message}: wrong wireType = ${got} for field ${field}`);
}

export function encodeRequest(req: WireRequest): Uint8Array {
  const w = Writer.create();
  if (req.service) w.uint32(tag(1, WIRE_LEN)).string(req.service);
  if (req.method) w.uint32(tag(2, WIRE_LEN)).string(req.method);
  if (req.payload.length > 0) w.uint32(tag(3, WIRE_LEN)).bytes(req.payload);
  if (req.timeoutNano !== 0) w.uint32(tag(4, WIRE_VARINT)).int64(req.timeoutNano);
  for (const kv of req.metadata) {
    w.uint32(tag(5, WIRE_LEN)).fork();
    if (kv.key) w.uint32(tag(1, WIRE_LEN)).string(kv.key);
    if (kv.value) w.uint32(tag(2, WIRE_LEN)).string(kv.value);
    w.ldelim();
  }
  return w.finish();
}

function decodeKeyValue(r: Reader, end: number): KeyValue {
  const kv: KeyValue = { key: '', value: '' };
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1) {
      expectWireType(1, t & 7, WIRE_LEN, 'KeyValue');
      kv.key = r.string();
    } else if (field === 2) {
      expectWireType(2, t & 7, WIRE_LEN, 'KeyValue');
      kv.value = r.string();
    } else {
      r.skipType(t & 7);
    }
  }
  if (r.pos !== end) throw new Error('proto: KeyValue: unexpected end of message');
  return kv;
}

export function decodeRequest(buf: Uint8Array): WireRequest {
  const r = new Reader(buf); // base Reader: bounds-checked strings (BufferReader clamps)
  const req: WireRequest = { service: '', method: '', payload: new Uint8Array(0), timeoutNano: 0, metadata: [] };
  while (r.pos < r.len) {
    const t = r.uint32();
    const field = t >>> 3;
    switch (field) {
      case 1:
        expectWireType(1, t & 7, WIRE_LEN, 'Request');
        req.service = r.string();
        break;
      case 2:
        expectWireType(2, t & 7, WIRE_LEN, 'Request');
        req.method = r.string();
        break;
      case 3:
        expectWireType(3, t & 7, WIRE_LEN, 'Request');
        req.payload = r.bytes();
        break;
      case 4:
        expectWireType(4, t & 7, WIRE_VARINT, 'Request');
        req.timeoutNano = toNumber(r.int64());
        break;
      case 5: {
        expectWireType(5, t & 7, WIRE_LEN, 'Request');
        const len = r.uint32();
        const end = r.pos + len;
        if (end > r.len) throw new RangeError(`index out of range: ${r.pos} + ${len} > ${r.len}`);
        req.metadata.push(decodeKeyValue(r, end));
        break;
      }
      default:
        r.skipType(t & 7);
    }
  }
  return req;
}

export function encodeResponse(res: WireResponse): Uint8Array {
  const w = Writer.create();
  const st = res.status;
  if (st && (st.code !== 0 || st.message !== '' || st.details.length > 0)) {
    w.uint32(tag(1, WIRE_LEN)).fork();
    if (st.code !== 0) w.uint32(tag(1, WIRE_VARINT)).int32(st.code);
    if (st.message) w.uint32(tag(2, WIRE_LEN)).string(st.message);
    for (const d of st.details) {
      w.uint32(tag(3, WIRE_LEN)).fork();
      if (d.typeUrl) w.uint32(tag(1, WIRE_LEN)).string(d.typeUrl);
      if (d.value.length > 0) w.uint32(tag(2, WIRE_LEN)).bytes(d.value);
      w.ldelim();
    }
    w.ldelim();
  }
  if (res.payload.length > 0) w.uint32(tag(2, WIRE_LEN)).bytes(res.payload);
  return w.finish();
}

function decodeAny(r: Reader, end: number): AnyValue {
  const a: AnyValue = { typeUrl: '', value: new Uint8Array(0) };
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1) {
      expectWireType(1, t & 7, WIRE_LEN, 'Any');
      a.typeUrl = r.string();
    } else if (field === 2) {
      expectWireType(2, t & 7, WIRE_LEN, 'Any');
      a.value = r.bytes();
    } else {
      r.skipType(t & 7);
    }
  }
  if (r.pos !== end) throw new Error('proto: Any: unexpected end of message');
  return a;
}

function decodeStatus(r: Reader, end: number): WireStatus {
  const st: WireStatus = { code: 0, message: '', details: [] };
  while (r.pos < end) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1) {
      expectWireType(1, t & 7, WIRE_VARINT, 'Status');
      st.code = r.int32();
    } else if (field === 2) {
      expectWireType(2, t & 7, WIRE_LEN, 'Status');
      st.message = r.string();
    } else if (field === 3) {
      expectWireType(3, t & 7, WIRE_LEN, 'Status');
      const len = r.uint32();
      const dend = r.pos + len;
      if (dend > end) throw new RangeError(`index out of range: ${r.pos} + ${len} > ${end}`);
      st.details.push(decodeAny(r, dend));
    } else {
      r.skipType(t & 7);
    }
  }
  if (r.pos !== end) throw new Error('proto: Status: unexpected end of message');
  return st;
}

export function decodeResponse(buf: Uint8Array): WireResponse {
  const r = new Reader(buf); // base Reader: bounds-checked strings (BufferReader clamps)
  const res: WireResponse = { payload: new Uint8Array(0) };
  while (r.pos < r.len) {
    const t = r.uint32();
    const field = t >>> 3;
    if (field === 1) {
      expectWireType(1, t & 7, WIRE_LEN, 'Response');
      const len = r.uint32();
      const end = r.pos + len;
      if (end > r.len) throw new RangeError(`index out of range: ${r.pos} + ${len} > ${r.len}`);
      res.status = decodeStatus(r, end);
    } else if (field === 2) {
      expectWireType(2, t & 7, WIRE_LEN, 'Response');
      res.payload = r.bytes();
    } else {
      r.skipType(t & 7);
    }
  }
  return res;
}
