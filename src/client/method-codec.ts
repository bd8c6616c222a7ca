// Encoders and decoders for one gRPC method of berth's wire contract, from the registry
// built at compile time (src/generated/descriptor.json) and berth's table-driven codec.
import type * as protobuf from 'protobufjs/light';
import { decodePlain, encodePlain, planOf } from '../proto/codec';
import { root } from '../proto/registry';

export interface MethodCodec {
  encode(req: object): Buffer;
  decode(bytes: Buffer): unknown;
}

const codecs = new Map<string, MethodCodec>();

/** The codec of `/<package.Service>/<Method>`. */
export function methodCodec(path: string): MethodCodec {
  let c = codecs.get(path);
  if (c) return c;
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) throw new TypeError(`not a gRPC method path: ${path}`);
  const method = root.lookupService(m[1]!).methods[m[2]!];
  if (!method) throw new TypeError(`no method ${m[2]} in ${m[1]}`);
  method.resolve();
  const req = planOf(method.resolvedRequestType as protobuf.Type);
  const res = planOf(method.resolvedResponseType as protobuf.Type);
  c = { encode: (o) => encodePlain(req, o), decode: (b) => decodePlain(res, b) };
  codecs.set(path, c);
  return c;
}
