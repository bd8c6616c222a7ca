// The few protobuf messages the `start` and `delete` commands touch, hand-encoded so
// those short-lived processes never load the proto registry (reference §10.3, §10.7).
// test/unit/shim-wire.test.ts checks them against the registry.

import type { WallTime } from '../time/wall';
import { typeNameOf } from '../proto/type-url';

function varint(out: number[], v: number): void {
  // non-negative integers up to 2^53
  while (v > 0x7f) {
    out.push((v % 128) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function int64(out: number[], v: number): void {
  if (v >= 0) return varint(out, v);
  // two's complement, 10 bytes
  let big = BigInt.asUintN(64, BigInt(v));
  for (let i = 0; i < 9; i++) {
    out.push(Number(big & 0x7fn) | 0x80);
    big >>= 7n;
  }
  out.push(Number(big));
}

/** containerd.task.v2.DeleteResponse{1 pid, 2 exit_status, 3 exited_at Timestamp}. */
export function encodeDeleteResponse(pid: number, exitStatus: number, exitedAt: WallTime): Buffer {
  const { seconds, nanos } = exitedAt;
  const ts: number[] = [];
  if (seconds !== 0) {
    ts.push(0x08);
    int64(ts, seconds);
  }
  if (nanos !== 0) {
    ts.push(0x10);
    varint(ts, nanos);
  }
  const out: number[] = [];
  if (pid !== 0) {
    out.push(0x08);
    varint(out, pid);
  }
  if (exitStatus !== 0) {
    out.push(0x10);
    varint(out, exitStatus);
  }
  out.push(0x1a);
  varint(out, ts.length);
  out.push(...ts);
  return Buffer.from(out);
}

interface Field {
  no: number;
  wire: number;
  /** varint value (wire 0) */
  num?: number;
  /** bytes (wire 2) */
  bytes?: Buffer;
}

/** Top-level fields of a message (varint and length-delimited; fixed32/64 skipped). */
export function readFields(buf: Buffer): Field[] {
  const out: Field[] = [];
  let pos = 0;
  const readVarint = (): number => {
    let result = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (pos >= buf.length) throw new RangeError('truncated varint');
      const b = buf[pos++]!;
      result += (b & 0x7f) * mul;
      if ((b & 0x80) === 0) return result;
      mul *= 128;
    }
    throw new RangeError('varint too long');
  };
  while (pos < buf.length) {
    const tag = readVarint();
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    if (wire === 0) out.push({ no, wire, num: readVarint() });
    else if (wire === 2) {
      const len = readVarint();
      if (pos + len > buf.length) throw new RangeError('truncated field');
      out.push({ no, wire, bytes: buf.subarray(pos, pos + len) });
      pos += len;
    } else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else throw new RangeError(`unsupported wire type ${wire}`);
  }
  return out;
}

/** google.protobuf.Any{1 type_url, 2 value} → parts (undefined for empty input). */
export function decodeAny(buf: Buffer): { typeUrl: string; value: Buffer } | undefined {
  if (buf.length === 0) return undefined;
  let typeUrl = '';
  let value = Buffer.alloc(0);
  for (const f of readFields(buf)) {
    if (f.no === 1 && f.bytes) typeUrl = f.bytes.toString('utf8');
    else if (f.no === 2 && f.bytes) value = Buffer.from(f.bytes);
  }
  return { typeUrl, value };
}

/** containerd.runc.v1.Options.shim_cgroup (field 3) from the options `start` gets on stdin. */
export function shimCgroupFromOptions(anyBytes: Buffer): string {
  const any = decodeAny(anyBytes);
  if (!any || typeNameOf(any.typeUrl) !== 'containerd.runc.v1.Options') return '';
  for (const f of readFields(any.value)) if (f.no === 3 && f.bytes) return f.bytes.toString('utf8');
  return '';
}
