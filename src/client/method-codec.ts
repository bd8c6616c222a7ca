// Encoders and decoders for one gRPC method of containerd's API, from the client's wire
// table (src/proto/wire-table.ts, generated at build time) and berth's table-driven codec.
import { decodePlain, encodePlain } from '../proto/codec';
import { wireMethod, wirePlan } from '../proto/wire-table';

export interface MethodCodec {
  encode(req: object): Buffer;
  decode(bytes: Buffer): unknown;
}

const codecs = new Map<string, MethodCodec>();

/** The codec of `/<package.Service>/<Method>`. */
export function methodCodec(path: string): MethodCodec {
  let c = codecs.get(path);
  if (c) return c;
  if (!/^\/([^/]+)\/([^/]+)$/.test(path)) throw new TypeError(`not a gRPC method path: ${path}`);
  const method = wireMethod(path);
  if (!method) throw new TypeError(`no method ${path} in containerd's gRPC API`);
  const req = wirePlan(method.request);
  const res = wirePlan(method.response);
  c = { encode: (o) => encodePlain(req, o), decode: (b) => decodePlain(res, b) };
  codecs.set(path, c);
  return c;
}
