import type { AnyValue } from '../metadata/records';
import { decodeMessage, encodeMessage, hasMessageType } from './registry';
import { typeNameOf } from './type-url';

/** The wire shape of google.protobuf.Any as decoded by the registry. */
export interface WireAny {
  type_url: string;
  value: Buffer;
}

/** containerd's typeurl convention: the bare message name, no type.googleapis.com/ prefix. */
export function packAny(messageName: string, obj: object): AnyValue {
  return { typeUrl: messageName, value: encodeMessage(messageName, obj) };
}

export function anyFromWire(a: WireAny | null | undefined): AnyValue | undefined {
  if (!a || (!a.type_url && (!a.value || a.value.length === 0))) return undefined;
  return { typeUrl: a.type_url, value: Buffer.from(a.value ?? Buffer.alloc(0)) };
}

export function anyToWire(a: AnyValue | undefined): WireAny | null {
  return a ? { type_url: a.typeUrl, value: a.value } : null;
}

/** Decode an Any whose type the registry knows (accepting a type.googleapis.com/ prefix). */
export function unpackAny(a: AnyValue): Record<string, unknown> | undefined {
  const name = typeNameOf(a.typeUrl);
  if (!hasMessageType(name)) return undefined;
  try {
    return decodeMessage<Record<string, unknown>>(name, a.value);
  } catch {
    return undefined;
  }
}
