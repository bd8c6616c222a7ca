// Contract test for the CRI: our proto/k8s/cri/runtime/v1/api.proto (as compiled into
// src/generated/descriptor.json) against k8s.io/cri-api's own api.proto, from the Go module cache
// at the version cri-tools v1.34.0 requires (the crictl/critest the tests build). cri-api's file is
// compiled with protoc into a FileDescriptorSet; both sides are reduced to the same model
// (messages: field name, number, type, label, map key/value; enums: values; services: methods,
// request/response types, streaming) and compared both ways: nothing missing, nothing extra,
// nothing different.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as protobuf from 'protobufjs';
import * as descriptorExt from 'protobufjs/ext/descriptor';
import { goModuleDirSync } from '../harness/go';

/** The k8s.io/cri-api version that sigs.k8s.io/cri-tools v1.34.0's go.mod requires. */
export const CRI_API_MODULE = 'k8s.io/cri-api@v0.34.0-rc.2';

const repo = path.resolve(__dirname, '..', '..');
const descriptorJson = path.join(repo, 'src', 'generated', 'descriptor.json');
const PKG = '.runtime.v1.';

interface Field {
  name: string;
  number: number;
  type: string;
  repeated: boolean;
}
type Def =
  | { kind: 'message'; fields: Field[] }
  | { kind: 'enum'; values: Record<string, number> }
  | { kind: 'service'; methods: string[] };

const fmtField = (f: Field) => `${f.number} ${f.name} ${f.repeated ? 'repeated ' : ''}${f.type}`;

function ours(): Map<string, Def> {
  const root = protobuf.Root.fromJSON(JSON.parse(fs.readFileSync(descriptorJson, 'utf8')));
  root.resolveAll();
  const out = new Map<string, Def>();
  const typeName = (t: protobuf.Enum | protobuf.Type | null, scalar: string) =>
    t instanceof protobuf.Enum ? `enum:${t.fullName}` : t instanceof protobuf.Type ? `message:${t.fullName}` : scalar;
  const walk = (ns: protobuf.NamespaceBase) => {
    for (const obj of ns.nestedArray) {
      if (obj instanceof protobuf.Type) {
        const fields = obj.fieldsArray.map((f): Field => {
          f.resolve();
          if (f instanceof protobuf.MapField) {
            return { name: f.name, number: f.id, type: `map<${f.keyType},${typeName(f.resolvedType, f.type)}>`, repeated: false };
          }
          return { name: f.name, number: f.id, type: typeName(f.resolvedType, f.type), repeated: f.repeated };
        });
        out.set(obj.fullName, { kind: 'message', fields: fields.sort((a, b) => a.number - b.number) });
      } else if (obj instanceof protobuf.Enum) {
        out.set(obj.fullName, { kind: 'enum', values: { ...obj.values } });
      } else if (obj instanceof protobuf.Service) {
        const methods = obj.methodsArray.map((m) => {
          m.resolve();
          return `${m.name}(${m.requestStream ? 'stream ' : ''}${m.resolvedRequestType!.fullName}) returns (${m.responseStream ? 'stream ' : ''}${m.resolvedResponseType!.fullName})`;
        });
        out.set(obj.fullName, { kind: 'service', methods: methods.sort() });
      }
      if (obj instanceof protobuf.Namespace || obj instanceof protobuf.Type) walk(obj as protobuf.NamespaceBase);
    }
  };
  walk(root);
  return new Map([...out].filter(([n]) => n.startsWith(PKG)));
}

const scalars: Record<string, string> = {
  TYPE_DOUBLE: 'double', TYPE_FLOAT: 'float', TYPE_INT64: 'int64', TYPE_UINT64: 'uint64', TYPE_INT32: 'int32',
  TYPE_FIXED64: 'fixed64', TYPE_FIXED32: 'fixed32', TYPE_BOOL: 'bool', TYPE_STRING: 'string', TYPE_BYTES: 'bytes',
  TYPE_UINT32: 'uint32', TYPE_SFIXED32: 'sfixed32', TYPE_SFIXED64: 'sfixed64', TYPE_SINT32: 'sint32', TYPE_SINT64: 'sint64',
};

interface DescField { name: string; number: number; type: string; typeName?: string; label: string; proto3Optional?: boolean; oneofIndex?: number }
interface DescEnum { name: string; value: Array<{ name: string; number: number }> }
interface DescMessage { name: string; field?: DescField[]; nestedType?: DescMessage[]; enumType?: DescEnum[]; options?: { mapEntry?: boolean } }
interface DescService { name: string; method: Array<{ name: string; inputType: string; outputType: string; clientStreaming?: boolean; serverStreaming?: boolean }> }
interface DescFile { package: string; messageType?: DescMessage[]; enumType?: DescEnum[]; service?: DescService[] }

function theirs(buf: Buffer): Map<string, Def> {
  const set = descriptorExt.FileDescriptorSet.toObject(descriptorExt.FileDescriptorSet.decode(buf), {
    enums: String,
    longs: Number,
    arrays: true,
  }) as unknown as { file: DescFile[] };
  const file = set.file.find((f) => f.package === 'runtime.v1');
  if (!file) throw new Error('cri-api descriptor set has no runtime.v1 file');
  const entries = new Map<string, DescMessage>();
  const collect = (prefix: string, ms: DescMessage[]) => {
    for (const m of ms) {
      entries.set(`${prefix}.${m.name}`, m);
      collect(`${prefix}.${m.name}`, m.nestedType ?? []);
    }
  };
  collect('.runtime.v1', file.messageType ?? []);
  const typeOf = (f: DescField) =>
    f.type === 'TYPE_MESSAGE' ? `message:${f.typeName}` : f.type === 'TYPE_ENUM' ? `enum:${f.typeName}` : scalars[f.type] ?? `?${f.type}`;
  const out = new Map<string, Def>();
  const addEnums = (prefix: string, es: DescEnum[]) => {
    for (const e of es) out.set(`${prefix}.${e.name}`, { kind: 'enum', values: Object.fromEntries(e.value.map((v) => [v.name, v.number])) });
  };
  const addMessages = (prefix: string, ms: DescMessage[]) => {
    for (const m of ms) {
      const fq = `${prefix}.${m.name}`;
      addEnums(fq, m.enumType ?? []);
      addMessages(fq, m.nestedType ?? []);
      if (m.options?.mapEntry) continue;
      const fields = (m.field ?? []).map((f): Field => {
        if (f.proto3Optional || (f.oneofIndex !== undefined && f.oneofIndex !== null)) {
          throw new Error(`${fq}.${f.name}: optional/oneof fields are new in cri-api; extend this test`);
        }
        const entry = f.typeName ? entries.get(f.typeName) : undefined;
        if (entry?.options?.mapEntry) {
          const [k, v] = [1, 2].map((n) => entry.field!.find((x) => x.number === n)!);
          return { name: f.name, number: f.number, type: `map<${typeOf(k!)},${typeOf(v!)}>`, repeated: false };
        }
        return { name: f.name, number: f.number, type: typeOf(f), repeated: f.label === 'LABEL_REPEATED' };
      });
      out.set(fq, { kind: 'message', fields: fields.sort((a, b) => a.number - b.number) });
    }
  };
  addEnums('.runtime.v1', file.enumType ?? []);
  addMessages('.runtime.v1', file.messageType ?? []);
  for (const s of file.service ?? []) {
    const methods = s.method.map(
      (m) => `${m.name}(${m.clientStreaming ? 'stream ' : ''}${m.inputType}) returns (${m.serverStreaming ? 'stream ' : ''}${m.outputType})`,
    );
    out.set(`.runtime.v1.${s.name}`, { kind: 'service', methods: methods.sort() });
  }
  return out;
}

function differences(name: string, a: Def, b: Def): string[] {
  if (a.kind !== b.kind) return [`${name}: ours is a ${a.kind}, cri-api's a ${b.kind}`];
  const lines = (d: Def): string[] =>
    d.kind === 'message' ? d.fields.map(fmtField) : d.kind === 'enum' ? Object.entries(d.values).map(([k, v]) => `${k}=${v}`) : d.methods;
  const ol = new Set(lines(a));
  const tl = new Set(lines(b));
  return [
    ...[...tl].filter((l) => !ol.has(l)).map((l) => `${name}: missing "${l}"`),
    ...[...ol].filter((l) => !tl.has(l)).map((l) => `${name}: extra "${l}"`),
  ];
}

const criApiDir = goModuleDirSync(CRI_API_MODULE);

describe(`CRI v1 proto contract against ${CRI_API_MODULE}`, () => {
  let tmp = '';
  let mine: Map<string, Def>;
  let ref: Map<string, Def>;

  beforeAll(() => {
    // Not a skip: ensure-deps installs protoc and the Go module proxy is reachable in CI.
    if (!criApiDir) throw new Error(`cannot download ${CRI_API_MODULE} with go mod download (test/go)`);
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cri-contract-'));
    // cri-api marks credentials [debug_redact = true], an option newer than Debian's protoc
    // (3.21) knows; it changes nothing on the wire, so it is dropped from a copy before compiling.
    const src = fs.readFileSync(path.join(criApiDir, 'pkg/apis/runtime/v1/api.proto'), 'utf8');
    fs.writeFileSync(path.join(tmp, 'api.proto'), src.replace(/\s*\[debug_redact\s*=\s*true\]/g, ''));
    const out = path.join(tmp, 'cri.pb');
    const r = spawnSync('protoc', [`-I${tmp}`, `--descriptor_set_out=${out}`, 'api.proto'], { cwd: tmp, encoding: 'utf8' });
    if (r.error || r.status !== 0) throw new Error(`protoc failed (${r.status ?? r.error}): ${r.stderr}`);
    ref = theirs(fs.readFileSync(out));
    mine = ours();
  });
  afterAll(() => {
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  it('reads a plausible reference (not an empty or misread file)', () => {
    expect([...ref.values()].filter((d) => d.kind === 'message').length).toBeGreaterThan(150);
    const rs = ref.get('.runtime.v1.RuntimeService');
    expect(rs?.kind === 'service' && rs.methods.length).toBeGreaterThanOrEqual(30);
    expect(ref.get('.runtime.v1.ImageService')?.kind).toBe('service');
  });

  it('every cri-api message, enum and service exists in ours, and ours has nothing more', () => {
    const missing = [...ref.keys()].filter((n) => !mine.has(n)).sort();
    const extra = [...mine.keys()].filter((n) => !ref.has(n)).sort();
    expect({ missing, extra }).toEqual({ missing: [], extra: [] });
  });

  it('messages, enums and services match field by field, value by value, method by method', () => {
    const diffs = [...ref.keys()].filter((n) => mine.has(n)).flatMap((n) => differences(n, mine.get(n)!, ref.get(n)!));
    expect(diffs).toEqual([]);
  });

  it('keeps cri-api field names as written (snake_case, and its two camelCase fields)', () => {
    const mount = mine.get('.runtime.v1.Mount');
    expect(mount?.kind === 'message' && mount.fields.map((f) => f.name)).toEqual(
      expect.arrayContaining(['container_path', 'uidMappings', 'gidMappings']),
    );
  });
});
