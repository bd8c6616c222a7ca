#!/usr/bin/env node
// Generates src/generated/ from proto/:
//   src/generated/descriptor.json  protobufjs JSON descriptor of every .proto (field names kept as written)
//   src/generated/types/           TypeScript types from @grpc/proto-loader's proto-loader-gen-types
//   src/generated/client-wire.json the codec table of what a client of containerd's gRPC API
//                                  sends and receives (src/proto/wire-table.ts): the CLI and
//                                  the client library encode and decode with it instead of
//                                  loading protobufjs and the whole descriptor at start-up
// Deterministic (sorted inputs), removes the old output first, exits non-zero on any failure.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = path.join(repo, 'proto');
const outDir = path.join(repo, 'src', 'generated');
const typesDir = path.join(outDir, 'types');
const require = createRequire(import.meta.url);
const protobuf = require('protobufjs');

function fail(msg) {
  process.stderr.write(`gen-proto: ${msg}\n`);
  process.exit(1);
}

/** All .proto files under proto/, as '/'-separated paths relative to proto/, sorted. */
function listProtos(dir, rel = '') {
  const out = [];
  for (const ent of fs.readdirSync(dir, { withFileTypes: true })) {
    const r = rel ? `${rel}/${ent.name}` : ent.name;
    if (ent.isDirectory()) out.push(...listProtos(path.join(dir, ent.name), r));
    else if (ent.isFile() && ent.name.endsWith('.proto')) out.push(r);
  }
  return out.sort();
}

const files = listProtos(protoDir);
if (files.length === 0) fail(`no .proto files under ${protoDir}`);

fs.rmSync(outDir, { recursive: true, force: true });
fs.mkdirSync(typesDir, { recursive: true });

// 1. descriptor.json. Imports resolve against proto/ only; google/protobuf/* well-known
// types come from protobufjs's bundled definitions (Root.load handles those itself).
let json;
try {
  const root = new protobuf.Root();
  root.resolvePath = (_origin, target) => (path.isAbsolute(target) ? target : path.join(protoDir, target));
  root.loadSync(files, { keepCase: true });
  root.resolveAll(); // throws on any unresolved type reference
  json = root.toJSON({ keepComments: false });
} catch (err) {
  fail(`protobufjs failed to load proto/: ${err && err.stack ? err.stack : err}`);
}
fs.writeFileSync(path.join(outDir, 'descriptor.json'), JSON.stringify(json, null, 2) + '\n');

// 1b. client-wire.json: for every method of containerd's gRPC services (not CRI's, not the
// shim's ttrpc ones) its request and response types, and every message and enum they reach,
// plus the types containerd packs into Any for clients (events, runtime options, cgroup
// metrics). A field is [name, id, type, flags]: type is a scalar name or the full name of an
// enum or message of the table; flags as WIRE_FLAG in src/proto/wire-table.ts. Read with
// protobufjs's own resolution (packed, map, oneof) so the plans match planOf's
// (test/unit/wire-table.test.ts).
{
  const root = protobuf.Root.fromJSON(json);
  root.resolveAll();
  const bare = (n) => n.replace(/^\./, '');
  const wire = { methods: {}, messages: {}, enums: {} };
  const addType = (t) => {
    const name = bare(t.fullName);
    if (t instanceof protobuf.Enum) {
      if (!wire.enums[name]) wire.enums[name] = Object.entries(t.values);
      return;
    }
    if (wire.messages[name]) return;
    const fields = [];
    wire.messages[name] = fields;
    for (const f of [...t.fieldsArray].sort((a, b) => a.id - b.id)) {
      f.resolve();
      const flags = (f.repeated ? 1 : 0) | (f.packed ? 2 : 0) | (f.map ? 4 : 0) | (f.partOf ? 8 : 0) | (f.map && f.keyType !== 'string' ? 16 : 0);
      fields.push([f.name, f.id, f.resolvedType ? bare(f.resolvedType.fullName) : f.type, flags]);
      if (f.resolvedType) addType(f.resolvedType);
    }
  };
  const walk = (ns, fn) => {
    for (const o of ns.nestedArray) {
      fn(o);
      if (o.nestedArray) walk(o, fn);
    }
  };
  const grpcService = /^containerd\.services\.[a-z]+\.v1\.[A-Za-z]+$/;
  const packedInAny = /^containerd\.(events|runc|linux\.runc|types\.transfer)\.|^containerd\.services\.streaming\.v1\.StreamInit$|^google\.protobuf\.Empty$|^runtimeoptions\.|^io\.containerd\.cgroups\./;
  walk(root, (o) => {
    const name = bare(o.fullName);
    if (o instanceof protobuf.Service && grpcService.test(name)) {
      for (const m of o.methodsArray.slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        m.resolve();
        wire.methods[`/${name}/${m.name}`] = [bare(m.resolvedRequestType.fullName), bare(m.resolvedResponseType.fullName)];
        addType(m.resolvedRequestType);
        addType(m.resolvedResponseType);
      }
    } else if ((o instanceof protobuf.Type || o instanceof protobuf.Enum) && packedInAny.test(name)) addType(o);
  });
  const sorted = (o) => Object.fromEntries(Object.keys(o).sort().map((k) => [k, o[k]]));
  wire.methods = sorted(wire.methods);
  wire.messages = sorted(wire.messages);
  wire.enums = sorted(wire.enums);
  if (Object.keys(wire.methods).length === 0) fail('no containerd gRPC service methods for client-wire.json');
  fs.writeFileSync(path.join(outDir, 'client-wire.json'), JSON.stringify(wire) + '\n');
}

// 2. TypeScript types.
const genTypes = require.resolve('@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
const args = [
  genTypes,
  '--keepCase',
  '--longs=Number',
  '--enums=String',
  '--defaults',
  '--oneofs',
  '--grpcLib=@grpc/grpc-js',
  // Relative paths keep the generated "// Original file:" comments independent of the checkout path.
  '--includeDirs',
  'proto',
  '--outDir',
  path.relative(repo, typesDir),
  ...files,
];
const res = spawnSync(process.execPath, args, { cwd: repo, encoding: 'utf8' });
if (res.error) fail(`cannot run proto-loader-gen-types: ${res.error.message}`);
if (res.status !== 0) {
  fail(`proto-loader-gen-types exited with ${res.status ?? res.signal}\n${res.stdout}${res.stderr}`);
}
// proto-loader-gen-types reports some problems on stderr but still exits 0.
const noise = (res.stderr || '').trim();
if (noise) fail(`proto-loader-gen-types wrote to stderr:\n${noise}`);

// The per-basename root files (types/<basename>.ts, one ProtoGrpcType per group of .proto files
// sharing a basename) declare `grpc` and `SubtypeConstructor` even when the group has no service;
// strip them there so the output passes the repo's noUnusedLocals.
const grpcImport = "import type * as grpc from '@grpc/grpc-js';\n";
const subtypeDecl =
  'type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {\n' +
  '  new(...args: ConstructorParameters<Constructor>): Subtype;\n' +
  '};\n';
for (const name of fs.readdirSync(typesDir).sort()) {
  if (!name.endsWith('.ts')) continue;
  const file = path.join(typesDir, name);
  let text = fs.readFileSync(file, 'utf8');
  if (text.includes('SubtypeConstructor<typeof grpc.Client')) continue;
  if (!text.includes(grpcImport) || !text.includes(subtypeDecl)) {
    fail(`unexpected proto-loader-gen-types root file layout in ${name}; update gen-proto.mjs`);
  }
  text = text.replace(grpcImport, '').replace(subtypeDecl + '\n', '').replace(subtypeDecl, '');
  fs.writeFileSync(file, text);
}

let count = 0;
(function walk(d) {
  for (const ent of fs.readdirSync(d, { withFileTypes: true })) {
    if (ent.isDirectory()) walk(path.join(d, ent.name));
    else if (ent.name.endsWith('.ts')) count++;
  }
})(typesDir);
if (count === 0) fail('proto-loader-gen-types produced no files');

process.stdout.write(
  `gen-proto: ${files.length} proto files -> src/generated/descriptor.json, ${count} type files in src/generated/types\n`,
);
