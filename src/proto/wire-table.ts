// The codec table of what a client of containerd's gRPC API sends and receives, written at
// build time from proto/ by scripts/gen-proto.mjs (src/generated/client-wire.json). The CLI
// and the client library encode and decode with plans built from it, lazily, type by type:
// loading protobufjs and resolving the whole descriptor instead cost `berth run` ~55 ms of
// its start (issue 15). berthd and the shim keep the protobufjs registry (src/proto/registry.ts);
// test/unit/wire-table.test.ts checks both give the same plans for every type of the table.
import wire from '../generated/client-wire.json';
import { buildPlan, decodePlain, encodePlain, type FieldSource, type MessagePlan, type TypeSource } from './codec';
import { typeNameOf } from './type-url';

/** Bits of a field's flags in client-wire.json. */
export const WIRE_FLAG = { repeated: 1, packed: 2, map: 4, oneof: 8, nonStringKey: 16 } as const;

type WireField = readonly [name: string, id: number, type: string, flags: number];

interface WireTable {
  methods: Record<string, readonly [request: string, response: string]>;
  messages: Record<string, readonly WireField[]>;
  enums: Record<string, ReadonlyArray<readonly [string, number]>>;
}

const table = wire as unknown as WireTable;

const tableSource: TypeSource<string> = {
  fullName: (name) => name,
  fields: (name) => {
    const fields = table.messages[name];
    if (!fields) throw new TypeError(`no message type ${name} in the client's wire table`);
    return fields.map(([fieldName, id, type, flags]) => {
      const spec: FieldSource<string> = {
        name: fieldName,
        id,
        type,
        repeated: (flags & WIRE_FLAG.repeated) !== 0,
        packed: (flags & WIRE_FLAG.packed) !== 0,
        map: (flags & WIRE_FLAG.map) !== 0,
        keyType: (flags & WIRE_FLAG.nonStringKey) !== 0 ? 'other' : 'string',
        oneof: (flags & WIRE_FLAG.oneof) !== 0,
      };
      const values = table.enums[type];
      if (values) spec.ref = { enumValues: values };
      else if (table.messages[type]) spec.ref = { message: type };
      return spec;
    });
  },
};

const plans = new Map<string, MessagePlan>();

/** The codec plan of a message type of the table, e.g. `containerd.types.Mount`. */
export function wirePlan(fullName: string): MessagePlan {
  return buildPlan(fullName, tableSource, plans);
}

/** Whether the table knows a message type (to decode an Any by its type URL). */
export function hasWireMessage(fullName: string): boolean {
  return Object.prototype.hasOwnProperty.call(table.messages, fullName);
}

/** The request and response types of `/<package.Service>/<Method>`, if the table has it. */
export function wireMethod(path: string): { request: string; response: string } | undefined {
  const m = Object.prototype.hasOwnProperty.call(table.methods, path) ? table.methods[path] : undefined;
  return m && { request: m[0], response: m[1] };
}

/** Every message type name of the table (for tests). */
export function wireMessageNames(): string[] {
  return Object.keys(table.messages);
}

export function encodeWire(fullName: string, obj: object): Buffer {
  return encodePlain(wirePlan(fullName), obj);
}

export function decodeWire<T>(fullName: string, bytes: Uint8Array): T {
  return decodePlain(wirePlan(fullName), bytes) as T;
}

/** An Any decoded when the table knows its type (a type.googleapis.com/ prefix accepted), as
 * src/proto/any.ts's unpackAny does with the full registry. */
export function unpackWireAny(typeUrl: string, value: Uint8Array): Record<string, unknown> | undefined {
  const name = typeNameOf(typeUrl);
  if (!hasWireMessage(name)) return undefined;
  try {
    return decodeWire<Record<string, unknown>>(name, value);
  } catch {
    return undefined;
  }
}
