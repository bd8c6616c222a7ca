// The CRI test tools: cri-tools' crictl and critest, and the ginkgo CLI critest runs itself
// under for -parallel, built by scripts/ensure-deps.sh from the module test/go-cri pins
// (sigs.k8s.io/cri-tools v1.34.0) into <cache>/cri-tools/<key>/; and Debian's dynamic
// busybox, extracted by ensure-deps.sh into <cache>/busybox/ (it conflicts with the
// busybox-static package the other tests use). <cache> is $BERTH_CRI_CACHE or
// /var/cache/berth-test/cri; key = sha256(go.mod, go.sum, `go env GOVERSION`) as
// ensure-deps.sh computes it, so a changed pin or toolchain is never served a stale binary.
import * as childProcess from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from './berthd';
import { GO_BIN } from './go';

/** The Go module pinning cri-tools and k8s.io/cri-api (separate from test/go's containerd 1.6 pins). */
export const CRI_GO_MODULE_DIR = path.join(REPO_ROOT, 'test', 'go-cri');

/** Where ensure-deps.sh caches the CRI test tools. */
export function criCacheDir(): string {
  return process.env.BERTH_CRI_CACHE || '/var/cache/berth-test/cri';
}

/** The cri-tools version test/go-cri/go.mod pins ("v1.34.0"). */
export function criToolsVersion(): string {
  const mod = fs.readFileSync(path.join(CRI_GO_MODULE_DIR, 'go.mod'), 'utf8');
  const m = /sigs\.k8s\.io\/cri-tools (v\S+)/.exec(mod);
  if (!m?.[1]) throw new Error(`no sigs.k8s.io/cri-tools requirement in ${CRI_GO_MODULE_DIR}/go.mod`);
  return m[1];
}

export interface CriTools {
  crictl: string;
  critest: string;
  /** The ginkgo CLI; its directory must be on critest's PATH for -parallel > 1. */
  ginkgo: string;
  /** cri-tools version ("v1.34.0"). */
  version: string;
}

let memo: CriTools | undefined;

/** The built tools; throws (naming the fix) when ensure-deps.sh has not built them for these pins. */
export function criTools(): CriTools {
  if (memo) return memo;
  const goVersion = childProcess.execFileSync(GO_BIN, ['env', 'GOVERSION'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' } });
  const h = crypto.createHash('sha256');
  h.update(fs.readFileSync(path.join(CRI_GO_MODULE_DIR, 'go.mod')));
  h.update(fs.readFileSync(path.join(CRI_GO_MODULE_DIR, 'go.sum')));
  h.update(goVersion);
  const dir = path.join(criCacheDir(), 'cri-tools', h.digest('hex').slice(0, 32));
  const tools: CriTools = {
    crictl: path.join(dir, 'crictl'),
    critest: path.join(dir, 'critest'),
    ginkgo: path.join(dir, 'ginkgo'),
    version: criToolsVersion(),
  };
  for (const bin of [tools.crictl, tools.critest, tools.ginkgo]) {
    if (!fs.existsSync(bin)) throw new Error(`${bin} not found: the CRI test tools (cri-tools ${tools.version}) are not built; run scripts/ensure-deps.sh`);
  }
  memo = tools;
  return tools;
}

/** Debian's dynamically linked busybox (applets are hard links to it in the test images). */
export function dynamicBusybox(): string {
  const bin = path.join(criCacheDir(), 'busybox', 'bin', 'busybox');
  if (!fs.existsSync(bin)) throw new Error(`${bin} not found (Debian's dynamic busybox); run scripts/ensure-deps.sh`);
  return bin;
}
