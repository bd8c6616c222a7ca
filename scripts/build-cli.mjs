// Bundles the CLI (src/cli/main.ts) into dist/bundle/berth.js, the one file bin/berth
// loads (see bin/berth for why one file and its V8 code cache), written as a CommonJS
// module function: `(function (exports, require, module, __filename, __dirname) {…});`.
//
// Then esbuild's ES-module interop around node's built-in modules is taken out: for each
// `import * as fs from 'node:fs'` the bundle calls __toESM(require("node:fs")), which
// copies every property of the module onto a new object: ~1 ms of each berth start over
// the dozens of such imports (V8 CPU profiles of `berth run`, __copyProps). The module
// itself serves just as well when nothing asks it for a default export; the check below
// fails the build if a source file ever imports a built-in by default.
import { buildSync } from 'esbuild';
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = join(dirname(fileURLToPath(import.meta.url)), '..');
const outfile = join(repo, 'dist', 'bundle', 'berth.js');

function tsFiles(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? tsFiles(p) : p.endsWith('.ts') ? [p] : [];
  });
}

// `import x from 'node:fs'` or `import x, { y } from 'node:fs'`: x would be the module's
// default export, which only the interop provides.
const defaultImport = /^\s*import\s+(?!type\b)[A-Za-z_$][\w$]*\s*(?:,[^;]*?)?\s*from\s+['"]node:/m;
for (const f of tsFiles(join(repo, 'src'))) {
  if (defaultImport.test(readFileSync(f, 'utf8'))) {
    throw new Error(`${f}: a default import of a node: built-in; the CLI bundle leaves out the interop it needs (scripts/build-cli.mjs)`);
  }
}

buildSync({
  entryPoints: [join(repo, 'src', 'cli', 'main.ts')],
  bundle: true,
  platform: 'node',
  target: 'node20',
  minifyWhitespace: true,
  minifySyntax: true,
  outfile,
  logLevel: 'warning',
});

const code = readFileSync(outfile, 'utf8').replace(/__toESM\(require\("(node:[a-z0-9_/]+)"\)\)/g, 'require("$1")');
// The file is the module function itself, as node's loader would wrap it: bin/berth
// compiles it as it is read. Wrapping it there (Module.wrap) made a second copy of the
// whole source in V8's young generation, ~360 KB that brought the first scavenge forward
// onto `berth run`'s path to its first call.
writeFileSync(outfile, `(function (exports, require, module, __filename, __dirname) {${code}\n});\n`);
