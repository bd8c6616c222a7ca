import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempRoot, startBerthd, type BerthdHandle, type TempRoot } from '../harness';

// The package as a user gets it: `npm pack`, installed into an empty project with npm
// offline (--offline: npm's cache only, no request leaves the machine; the dependencies are
// pinned by a lockfile made from the repo's package-lock.json, so npm needs no registry
// metadata and takes the tarballs `npm ci` cached, by integrity), then the examples
// type-checked there against the shipped declarations, strictly and without skipLibCheck,
// and one of them run against a private berthd.

const REPO = path.join(__dirname, '..', '..');
const NPM_ENV = { ...process.env, npm_config_offline: 'true', npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' };

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dev?: boolean;
  dependencies?: Record<string, string>;
  [k: string]: unknown;
}

let tmp: TempRoot;
let project: string;
let d: BerthdHandle | undefined;

/**
 * A lockfile for the consumer: berth from the tarball, and every package berth needs at
 * run time (the entries of our own lock not marked dev), plus typescript and @types/node
 * (and what they need) for the type-check. With a lock, `npm ci` reads no package metadata:
 * tarballs come from the cache by integrity.
 */
function consumerLock(tarball: string, pkg: { version: string; dependencies: Record<string, string> }): object {
  const lock = JSON.parse(fs.readFileSync(path.join(REPO, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
  const packages: Record<string, LockEntry> = {};
  const want = (key: string): void => {
    const e = lock.packages[key];
    if (!e || packages[key]) return;
    packages[key] = { ...e, dev: undefined, devOptional: undefined } as LockEntry;
    for (const dep of Object.keys(e.dependencies ?? {})) want(`node_modules/${dep}`);
  };
  for (const [key, e] of Object.entries(lock.packages)) if (key !== '' && !e.dev && !e.devOptional) packages[key] = e;
  want('node_modules/typescript');
  want('node_modules/@types/node');
  const integrity = `sha512-${execFileSync('openssl', ['dgst', '-sha512', '-binary', tarball]).toString('base64')}`;
  const tsVersion = lock.packages['node_modules/typescript']!.version!;
  const nodeTypes = lock.packages['node_modules/@types/node']!.version!;
  return {
    name: 'consumer',
    version: '1.0.0',
    lockfileVersion: 3,
    requires: true,
    packages: {
      '': { name: 'consumer', version: '1.0.0', dependencies: { berth: `file:${path.basename(tarball)}`, typescript: tsVersion, '@types/node': nodeTypes } },
      'node_modules/berth': { version: pkg.version, resolved: `file:${path.basename(tarball)}`, integrity, license: 'Apache-2.0', dependencies: pkg.dependencies, bin: { berth: 'bin/berth', berthd: 'bin/berthd', 'containerd-shim-berth-v1': 'bin/containerd-shim-berth-v1' }, engines: { node: '>=20' } },
      ...packages,
    },
  };
}

beforeAll(() => {
  tmp = makeTempRoot('berth-pack-');
  project = path.join(tmp.path, 'consumer');
  fs.mkdirSync(project);
  const packed = execFileSync('npm', ['pack', '--json', '--pack-destination', tmp.path], { cwd: REPO, env: NPM_ENV, encoding: 'utf8' });
  const tarball = path.join(tmp.path, (JSON.parse(packed) as Array<{ filename: string }>)[0]!.filename);
  fs.renameSync(tarball, path.join(project, path.basename(tarball)));
  const pkg = JSON.parse(fs.readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
  const lock = consumerLock(path.join(project, path.basename(tarball)), pkg) as { packages: Record<string, { dependencies?: Record<string, string> }> };
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', private: true, dependencies: lock.packages['']!.dependencies }, null, 2));
  fs.writeFileSync(path.join(project, 'package-lock.json'), JSON.stringify(lock, null, 2));
  // --ignore-scripts: nothing needs building for a type-check, and the addon ships built.
  execFileSync('npm', ['ci', '--offline', '--ignore-scripts', '--no-audit', '--no-fund'], { cwd: project, env: NPM_ENV, stdio: ['ignore', 'pipe', 'pipe'] });
}, 240_000);

afterAll(async () => {
  await d?.cleanup();
  await tmp?.cleanup();
});

describe('the npm package', () => {
  it('installs offline and its declarations type-check the examples (strict, no skipLibCheck)', () => {
    fs.mkdirSync(path.join(project, 'src'));
    for (const f of fs.readdirSync(path.join(REPO, 'examples'))) {
      if (f.endsWith('.ts')) fs.copyFileSync(path.join(REPO, 'examples', f), path.join(project, 'src', f));
    }
    fs.writeFileSync(
      path.join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: { target: 'ES2022', module: 'node16', moduleResolution: 'node16', strict: true, skipLibCheck: false, types: ['node'], outDir: 'out', rootDir: 'src' },
        include: ['src'],
      }),
    );
    const tsc = spawnSync(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, encoding: 'utf8' });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
    // A use of the API that is wrong must fail: the check is real.
    fs.writeFileSync(path.join(project, 'src', 'wrong.ts'), "import { Client } from 'berth';\nconst c: number = Client.connect('/x').namespace;\nexport { c };\n");
    const bad = spawnSync(process.execPath, [path.join(project, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, encoding: 'utf8' });
    expect(bad.status).not.toBe(0);
    expect(bad.stdout).toContain("Type 'string' is not assignable to type 'number'");
    fs.rmSync(path.join(project, 'src', 'wrong.ts'));
    fs.rmSync(path.join(project, 'out', 'wrong.js'), { force: true });
  });

  it('the compiled example runs from the installed package against berthd', async () => {
    if (process.getuid?.() !== 0) return;
    d = await startBerthd();
    const r = spawnSync(process.execPath, [path.join(project, 'out', 'content-roundtrip.js'), d.address], { cwd: project, encoding: 'utf8', timeout: 30_000 });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(/^sha256:[0-9a-f]{64} 17 \{ example: 'yes' \}\nhello from berth\n\ndeleted\n$/);
    const cli = spawnSync(process.execPath, [path.join(project, 'node_modules', 'berth', 'bin', 'berth'), '-a', d.address, 'namespaces', 'ls', '-q'], { encoding: 'utf8' });
    expect(cli.stdout).toBe('examples\n');
  });
});
