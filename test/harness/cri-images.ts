// The images CRI tests pull, built here without any network: every image critest
// (cri-tools v1.34.0) hard-codes under registry.k8s.io/e2e-test-images/ and
// gcr.io/k8s-staging-cri-tools/, the pause image, and a busybox and a web server image for
// the CRI engineers' own tests. They are pushed into a loopback registry under the same
// repository paths, and the daemons' registry host config routes those hosts to it.
//
// - pause: one static C program (test/fixtures/cri/pause.c): sleeps, reaps, exits on TERM/INT.
// - busybox: Debian's dynamic busybox with every applet as a hard link in /bin (a real
//   image's layout: `ls` is a separate exec, which critest's masked-path checks rely on), the
//   libraries it links, /etc/passwd and /etc/group like the upstream busybox image's, and
//   shell stand-ins for the two tools critest runs that this busybox lacks (pgrep, ipcs).
// - web servers (nginx, httpd, hostnet-nginx): busybox plus test/fixtures/cri/webserver.c,
//   a forking HTTP/1.0 server installed under the name critest looks for ("nginx" writes
//   /var/run/nginx.pid; "httpd" says "httpd" in its log).
// - nonewprivs: busybox plus a setuid-root program printing its effective UID.
// - test-image-*: busybox plus a marker file, with the USER values and tag layouts critest
//   checks (different tags of one image, different images, USER uid/name/group variants,
//   a group defined in the image's /etc/group).
// The static programs are compiled once per machine (cached by the sha256 of the source
// and the compiler version); the image archives are rebuilt per run (same bytes each time).
import * as childProcess from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  buildLayer,
  buildOciArchive,
  hostPlatform,
  type ImageConfig,
  type Layer,
  type LayerEntry,
} from '../fixtures/images';
import { REPO_ROOT } from './berthd';
import { criCacheDir, dynamicBusybox } from './cri-tools';
import { pushArchive, type RegistryHandle } from './registry';

export const CRI_FIXTURES_DIR = path.join(REPO_ROOT, 'test', 'fixtures', 'cri');

const GCC = '/usr/bin/gcc';

/** Compiles test/fixtures/cri/<name>.c statically (cached per machine); resolves with the binary's path. */
export function compileStaticProgram(name: string): string {
  const src = path.join(CRI_FIXTURES_DIR, `${name}.c`);
  const source = fs.readFileSync(src);
  if (!fs.existsSync(GCC)) throw new Error(`${GCC} not found (Debian gcc; run scripts/ensure-deps.sh)`);
  const ccVersion = childProcess.execFileSync(GCC, ['--version'], { encoding: 'utf8' });
  const key = crypto.createHash('sha256').update(source).update('\0').update(ccVersion).digest('hex').slice(0, 32);
  const dir = path.join(criCacheDir(), 'programs', key);
  const bin = path.join(dir, name);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(dir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  try {
    childProcess.execFileSync(GCC, ['-static', '-O2', '-s', '-Wall', '-Wextra', '-Werror', '-o', tmp, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (e) {
    const err = e as { stderr?: Buffer };
    throw new Error(`gcc -static ${src} failed:\n${err.stderr?.toString() ?? String(e)}`);
  }
  fs.renameSync(tmp, bin); // atomic: a concurrent reader sees the whole binary or none
  return bin;
}

/** The shared libraries a dynamic binary loads, as `ldd` resolves them on this host (absolute paths). */
function sharedLibraries(bin: string): string[] {
  const out = childProcess.execFileSync('ldd', [bin], { encoding: 'utf8' });
  const libs: string[] = [];
  for (const line of out.split('\n')) {
    // "libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)"
    const m = /(?:=>\s*)?(\/\S+)\s+\(0x/.exec(line);
    if (m?.[1]) libs.push(m[1]);
  }
  if (libs.length === 0) throw new Error(`ldd found no libraries for ${bin}:\n${out}`);
  return libs;
}

const PASSWD = [
  'root:x:0:0:root:/root:/bin/sh',
  'daemon:x:1:1:daemon:/usr/sbin:/bin/false',
  'bin:x:2:2:bin:/bin:/bin/false',
  'sys:x:3:3:sys:/dev:/bin/false',
  'sync:x:4:100:sync:/bin:/bin/sync',
  'mail:x:8:8:mail:/var/spool/mail:/bin/false',
  'www-data:x:33:33:www-data:/var/www:/bin/false',
  'operator:x:37:37:Operator:/var:/bin/false',
  'nobody:x:65534:65534:nobody:/home:/bin/false',
];
const GROUP = [
  'root:x:0:',
  'daemon:x:1:',
  'bin:x:2:',
  'sys:x:3:',
  'adm:x:4:',
  'tty:x:5:',
  'disk:x:6:',
  'wheel:x:10:root',
  'mail:x:8:',
  'www-data:x:33:',
  'operator:x:37:',
  'users:x:100:',
  'nogroup:x:65534:',
];

/** `pgrep PATTERN`: PIDs whose command name matches (busybox here has no pgrep). */
const PGREP = `#!/bin/sh
# Stand-in for pgrep (this busybox has none): prints the PIDs whose command name matches
# the extended regular expression $1, never its own; exits 1 when none does.
[ $# -ge 1 ] || { echo "usage: pgrep PATTERN" >&2; exit 2; }
found=1
for d in /proc/[0-9]*; do
  pid=\${d#/proc/}
  [ "$pid" = "$$" ] && continue
  comm=$(cat "$d/comm" 2>/dev/null) || continue
  if echo "$comm" | grep -Eq -- "$1"; then echo "$pid"; found=0; fi
done
exit $found
`;

/** `ipcs -m`: the System V shared memory segments of this IPC namespace (busybox here has no ipcs). */
const IPCS = `#!/bin/sh
# Stand-in for ipcs (this busybox has none): lists System V shared memory segments from
# /proc/sysvipc/shm in ipcs -m's columns (key, shmid, owner uid, perms, bytes, nattch).
echo
echo "------ Shared Memory Segments --------"
echo "key        shmid      owner      perms      bytes      nattch     status"
awk 'NR > 1 { printf "0x%08x %-10s %-10s %-10s %-10s %-10s\\n", $1, $2, $8, $3, $4, $7 }' /proc/sysvipc/shm
echo
`;

/** The busybox root fs: dynamic busybox, applets as hard links, its libraries, users and groups, stand-ins. */
export function busyboxImageEntries(): LayerEntry[] {
  const bb = dynamicBusybox();
  const applets = childProcess
    .execFileSync(bb, ['--list'], { encoding: 'utf8' })
    .split('\n')
    .map((s) => s.trim())
    .filter((s) => s !== '' && s !== 'busybox' && /^[\w.[\]-]+$/.test(s));
  const out: LayerEntry[] = [];
  const dirs = new Set<string>();
  const addDir = (d: string, mode = 0o755): void => {
    const parts = d.split('/').filter(Boolean);
    for (let i = 1; i <= parts.length; i++) {
      const p = parts.slice(0, i).join('/');
      if (dirs.has(p)) continue;
      dirs.add(p);
      out.push({ path: p, type: 'dir', mode: i === parts.length ? mode : 0o755 });
    }
  };
  for (const d of ['bin', 'dev', 'etc', 'home', 'proc', 'run', 'sys', 'usr/bin', 'usr/sbin', 'usr/local/bin', 'var/spool/mail', 'var/www']) addDir(d);
  addDir('root', 0o700);
  addDir('tmp', 0o1777);
  out.push({ path: 'var/run', type: 'symlink', linkname: '../run' });
  out.push({ path: 'bin/busybox', type: 'file', mode: 0o755, content: fs.readFileSync(bb) });
  for (const a of applets) out.push({ path: `bin/${a}`, type: 'hardlink', linkname: 'bin/busybox' });
  for (const lib of sharedLibraries(bb)) {
    const rel = lib.replace(/^\/+/, '');
    addDir(path.posix.dirname(rel));
    out.push({ path: rel, type: 'file', mode: 0o755, content: fs.readFileSync(fs.realpathSync(lib)) });
  }
  if (!applets.includes('pgrep')) out.push({ path: 'bin/pgrep', type: 'file', mode: 0o755, content: PGREP });
  if (!applets.includes('ipcs')) out.push({ path: 'bin/ipcs', type: 'file', mode: 0o755, content: IPCS });
  out.push({ path: 'etc/passwd', type: 'file', content: PASSWD.join('\n') + '\n' });
  out.push({ path: 'etc/group', type: 'file', content: GROUP.join('\n') + '\n' });
  return out;
}

const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** One image to push: its repository path below the registry, its tags, layers and config. */
export interface CriTestImage {
  /** Repository path below the registry host, e.g. "e2e-test-images/busybox". */
  repo: string;
  tags: string[];
  layers: Layer[];
  config: ImageConfig;
}

/** References of the images pushed, by role, as the daemons see them (upstream names). */
export interface CriImageRefs {
  /** registry.k8s.io/pause:3.9 — the sandbox image. */
  pause: string;
  /** registry.k8s.io/e2e-test-images/busybox:1.29-2 — critest's default test image. */
  busybox: string;
  /** registry.k8s.io/e2e-test-images/nginx:1.14-2 — web server on port 80. */
  webServer: string;
  /** registry.k8s.io/e2e-test-images/httpd:2.4.39-4 — web server on port 80. */
  httpd: string;
  /** Every reference pushed (upstream names, tags included). */
  all: string[];
}

/** Upstream host of each registry path prefix the images use (the registry serves them all). */
export const CRI_IMAGE_HOSTS = ['registry.k8s.io', 'gcr.io'] as const;

/** repository path below the loopback registry → upstream reference prefix. */
function upstream(repo: string): string {
  if (repo.startsWith('k8s-staging-cri-tools/')) return `gcr.io/${repo}`;
  return `registry.k8s.io/${repo}`;
}

/** The images critest v1.34.0 and the CRI tests use, built in memory. */
export async function buildCriTestImages(): Promise<CriTestImage[]> {
  const base = await buildLayer(busyboxImageEntries());
  const pauseBin = compileStaticProgram('pause');
  const web = fs.readFileSync(compileStaticProgram('webserver'));
  const nnp = fs.readFileSync(compileStaticProgram('nonewprivs'));
  const arch = hostPlatform().architecture;
  const busyboxConfig: ImageConfig = { Env: [PATH_ENV], Cmd: ['sh'] };
  const marker = (name: string): Promise<Layer> => buildLayer([{ path: name, type: 'file', mode: 0o644, content: '' }]);

  const images: CriTestImage[] = [];
  images.push({
    repo: 'pause',
    tags: ['3.9'],
    layers: [await buildLayer([{ path: 'pause', type: 'file', mode: 0o755, content: fs.readFileSync(pauseBin) }])],
    config: { Env: [PATH_ENV], Entrypoint: ['/pause'], User: '65535:65535' },
  });
  images.push({ repo: 'e2e-test-images/busybox', tags: ['1.29-2', 'latest'], layers: [base], config: busyboxConfig });

  const nginxLayer = await buildLayer([
    { path: 'usr/sbin/nginx', type: 'file', mode: 0o755, content: web },
    { path: 'usr/share/nginx/html/index.html', type: 'file', content: '<html><body>nginx</body></html>\n' },
  ]);
  // Shown as nginx's master shows itself: critest's ContainerPID spec waits for
  // "master process" in /proc/1/cmdline.
  const nginxConfig = (port: number): ImageConfig => ({
    Env: [PATH_ENV],
    Entrypoint: ['/usr/sbin/nginx'],
    Cmd: [String(port), '/var/run/nginx.pid', 'nginx: master process /usr/sbin/nginx'],
  });
  images.push({ repo: 'e2e-test-images/nginx', tags: ['1.14-2'], layers: [base, nginxLayer], config: nginxConfig(80) });
  images.push({ repo: `k8s-staging-cri-tools/hostnet-nginx-${arch}`, tags: ['latest'], layers: [base, nginxLayer], config: nginxConfig(12003) });
  images.push({
    repo: 'e2e-test-images/httpd',
    tags: ['2.4.39-4'],
    layers: [base, await buildLayer([{ path: 'usr/local/apache2/bin/httpd', type: 'file', mode: 0o755, content: web }])],
    config: { Env: [PATH_ENV], Entrypoint: ['/usr/local/apache2/bin/httpd'], Cmd: ['80'] },
  });
  images.push({
    repo: 'e2e-test-images/nonewprivs',
    tags: ['1.3'],
    layers: [base, await buildLayer([{ path: 'usr/local/bin/nnp', type: 'file', mode: 0o4755, uid: 0, gid: 0, content: nnp }])],
    config: { Env: [PATH_ENV], Cmd: ['/usr/local/bin/nnp'] },
  });

  const users: Array<[string, string]> = [
    ['test-image-user-uid', '1002'],
    ['test-image-user-username', 'www-data'],
    ['test-image-user-uid-group', '1003:1004'],
    ['test-image-user-username-group', 'www-data:1004'],
  ];
  for (const [name, user] of users) {
    images.push({ repo: `k8s-staging-cri-tools/${name}`, tags: ['latest'], layers: [base, await marker(name)], config: { ...busyboxConfig, User: user } });
  }
  // default-user (1000) is in group-defined-in-image (50000) through the image's /etc/group.
  images.push({
    repo: 'k8s-staging-cri-tools/test-image-predefined-group',
    tags: ['latest'],
    layers: [
      base,
      await buildLayer([
        { path: 'etc/passwd', type: 'file', content: [...PASSWD, 'default-user:x:1000:1000:Linux User,,,:/home/default-user:/bin/sh'].join('\n') + '\n' },
        { path: 'etc/group', type: 'file', content: [...GROUP, 'default-user:x:1000:', 'group-defined-in-image:x:50000:default-user'].join('\n') + '\n' },
        { path: 'home/default-user', type: 'dir', mode: 0o755, uid: 1000, gid: 1000 },
      ]),
    ],
    config: { ...busyboxConfig, User: '1000' },
  });
  // Different images under different names; the same image under several tags.
  for (const name of ['test-image-latest', 'test-image-1', 'test-image-2', 'test-image-3', 'test-image-digest']) {
    images.push({ repo: `k8s-staging-cri-tools/${name}`, tags: ['latest'], layers: [base, await marker(name)], config: busyboxConfig });
  }
  images.push({ repo: 'k8s-staging-cri-tools/test-image-tags', tags: ['1', '2', '3'], layers: [base, await marker('same-image')], config: busyboxConfig });
  // :test and :all are different images: specs running in parallel pull both, and the
  // "with tag" spec wants its image to carry its own tag only.
  images.push({ repo: 'k8s-staging-cri-tools/test-image-tag', tags: ['test'], layers: [base, await marker('test-image-tag-test')], config: busyboxConfig });
  images.push({ repo: 'k8s-staging-cri-tools/test-image-tag', tags: ['all'], layers: [base, await marker('test-image-tag-all')], config: busyboxConfig });
  return images;
}

export interface PushImagesOptions {
  /** Command prefix for skopeo (e.g. nsenter into the registry's network namespace). */
  wrap?: string[];
  /** Scratch dir for the archives (removed afterwards). */
  scratchDir: string;
}

/**
 * Builds the CRI test images and pushes every tag into the registry (one skopeo copy per
 * tag; shared layers are uploaded once). Resolves with the upstream references by role.
 */
export async function pushCriTestImages(registry: Pick<RegistryHandle, 'host' | 'dir'>, opts: PushImagesOptions): Promise<CriImageRefs> {
  const images = await buildCriTestImages();
  fs.mkdirSync(opts.scratchDir, { recursive: true });
  const all: string[] = [];
  try {
    for (const img of images) {
      const archive = path.join(opts.scratchDir, `${img.repo.replace(/\//g, '_')}_${img.tags[0]}.tar`);
      fs.writeFileSync(archive, await buildOciArchive({ name: `${upstream(img.repo)}:${img.tags[0]}`, layers: img.layers, config: img.config }));
      for (const tag of img.tags) {
        await pushArchive(registry, archive, `${img.repo}:${tag}`, { kind: 'oci', wrap: opts.wrap });
        all.push(`${upstream(img.repo)}:${tag}`);
      }
      fs.rmSync(archive, { force: true });
    }
  } finally {
    fs.rmSync(opts.scratchDir, { recursive: true, force: true });
  }
  return {
    pause: 'registry.k8s.io/pause:3.9',
    busybox: 'registry.k8s.io/e2e-test-images/busybox:1.29-2',
    webServer: 'registry.k8s.io/e2e-test-images/nginx:1.14-2',
    httpd: 'registry.k8s.io/e2e-test-images/httpd:2.4.39-4',
    all,
  };
}
