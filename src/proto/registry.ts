import * as protobuf from 'protobufjs/light';
import type { ServiceDefinition, MethodDefinition } from '@grpc/grpc-js';
import descriptor from '../generated/descriptor.json';
import { EncodedMessage } from './encoded';
import { decodePlain, encodePlain, planOf, type MessagePlan } from './codec';

// The protobuf registry of berth's wire contract (proto/), loaded from the JSON
// descriptor generated at build time: no .proto parsing at start-up.

// protobufjs reads strings from Buffers leniently: a length running past the end is
// clamped, so a truncated request would decode as if it were whole. Go's decoder (and so
// containerd) rejects it; make ours strict too, so bad input gets an error, not a guess.
const BufferReader = protobuf.BufferReader as unknown as { prototype: protobuf.Reader };
BufferReader.prototype.string = function strictString(this: protobuf.Reader): string {
  const length = this.uint32();
  if (this.pos + length > this.len) throw new RangeError(`index out of range: ${this.pos} + ${length} > ${this.len}`);
  const buf = (this as unknown as { buf: Buffer }).buf;
  const s = buf.toString('utf8', this.pos, this.pos + length);
  this.pos += length;
  return s;
};

export const root: protobuf.Root = protobuf.Root.fromJSON(descriptor as protobuf.INamespace);

/** How decoded messages look to berth: proto field names, int64 as number, enums as
 * names, every field present (defaults filled), bytes as Buffer. Matches the options the
 * generated types in src/generated/types were made with. */
export const DECODE_OPTIONS: protobuf.IConversionOptions = {
  longs: Number,
  enums: String,
  defaults: true,
  arrays: true,
  objects: true,
  oneofs: true,
};

/**
 * Generates every message type's encoder and decoder now. protobufjs does it on a type's
 * first use, ~0.5 ms apiece: without this, the first requests a daemon serves pay ~100 ms
 * of code generation between them (measured over the ~40 calls of a `ctr run`).
 */
export function prepareAllCodecs(ns: protobuf.NamespaceBase = root): number {
  let n = 0;
  for (const o of ns.nestedArray) {
    if (o instanceof protobuf.Type) {
      o.setup();
      n++;
    }
    if (o instanceof protobuf.Namespace || o instanceof protobuf.Type) n += prepareAllCodecs(o);
  }
  return n;
}

const typeCache = new Map<string, protobuf.Type>();

export function messageType(fullName: string): protobuf.Type {
  let t = typeCache.get(fullName);
  if (!t) {
    t = root.lookupType(fullName);
    typeCache.set(fullName, t);
  }
  return t;
}

/** Whether the registry knows a message type (used to decode Any payloads by type URL). */
export function hasMessageType(fullName: string): boolean {
  try {
    messageType(fullName);
    return true;
  } catch {
    return false;
  }
}

/** The codec plan of a message type of the registry (see codec.ts). */
export function messagePlan(fullName: string): MessagePlan {
  return planOf(messageType(fullName));
}

export function encodeMessage(fullName: string, obj: object): Buffer {
  return encodePlain(messagePlan(fullName), obj);
}

export function decodeMessage<T>(fullName: string, bytes: Uint8Array): T {
  return decodePlain(messagePlan(fullName), bytes) as T;
}

/** A grpc-js service definition for one service of the contract, e.g.
 * `containerd.services.containers.v1.Containers`. */
export function serviceDefinition(serviceName: string): ServiceDefinition {
  const svc = root.lookupService(serviceName);
  const def: Record<string, MethodDefinition<object, object>> = {};
  for (const m of svc.methodsArray) {
    m.resolve();
    const req = planOf(m.resolvedRequestType as protobuf.Type);
    const res = planOf(m.resolvedResponseType as protobuf.Type);
    def[m.name] = {
      path: `/${serviceName}/${m.name}`,
      requestStream: m.requestStream === true,
      responseStream: m.responseStream === true,
      requestSerialize: (o: object) => encodePlain(req, o),
      requestDeserialize: (b: Buffer) => decodePlain(req, b),
      responseSerialize: (o: object) => (o instanceof EncodedMessage ? o.bytes : encodePlain(res, o)),
      responseDeserialize: (b: Buffer) => decodePlain(res, b),
      originalName: m.name,
    };
  }
  return def as ServiceDefinition;
}
