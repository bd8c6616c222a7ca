// Request/response message types of a ttrpc method, from berth's proto registry
// (the JSON descriptor of proto/, loaded with protobufjs/light — no .proto parsing).
import type * as protobuf from 'protobufjs/light';
import { root } from '../proto/registry';
import { decodePlain, encodePlain, planOf } from '../proto/codec';
import { EncodedMessage } from '../proto/encoded';

export interface MethodTypes {
  readonly service: string;
  readonly method: string;
  readonly requestType: protobuf.Type;
  readonly responseType: protobuf.Type;
}

const serviceCache = new Map<string, Map<string, MethodTypes>>();

/** Every unary method of a service, e.g. `containerd.task.v2.Task`. Throws if the
 * registry has no such service. */
export function serviceMethods(service: string): Map<string, MethodTypes> {
  let methods = serviceCache.get(service);
  if (methods) return methods;
  const svc = root.lookupService(service);
  methods = new Map();
  for (const m of svc.methodsArray) {
    if (m.requestStream === true || m.responseStream === true) continue; // ttrpc 1.1: unary only
    m.resolve();
    methods.set(m.name, {
      service,
      method: m.name,
      requestType: m.resolvedRequestType as protobuf.Type,
      responseType: m.resolvedResponseType as protobuf.Type,
    });
  }
  serviceCache.set(service, methods);
  return methods;
}

export function methodTypes(service: string, method: string): MethodTypes {
  let methods: Map<string, MethodTypes>;
  try {
    methods = serviceMethods(service);
  } catch (err) {
    throw new Error(`ttrpc: service ${service} is not in berth's proto registry: ${(err as Error).message}`);
  }
  const m = methods.get(method);
  if (!m) throw new Error(`ttrpc: service ${service} has no unary method ${method} in berth's proto registry`);
  return m;
}

/** Encodes a message object (or passes an EncodedMessage through untouched). */
export function encodeWith(type: protobuf.Type, obj: object): Uint8Array {
  if (obj instanceof EncodedMessage) return obj.bytes;
  return encodePlain(planOf(type), obj);
}

/** Decodes to berth's plain-object shape (registry DECODE_OPTIONS: defaults filled,
 * int64 as number, enums as names, bytes as Buffer). */
export function decodeWith<T>(type: protobuf.Type, bytes: Uint8Array): T {
  return decodePlain(planOf(type), bytes) as T;
}
