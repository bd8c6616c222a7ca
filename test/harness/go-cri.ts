// Go programs of the CRI Go module (test/go-cri, pinned to cri-tools v1.34.0 and the k8s.io
// modules it uses: client-go's remotecommand and portforward at the versions critest and
// crictl speak). Built with `go build` inside test/go-cri (go.sum committed, -mod=readonly),
// cached under os.tmpdir()/berth-go-cache/go-cri-<sha256 of the sources, go.mod, go.sum and
// the toolchain>/ so only the first run on a machine pays for the build (seconds when
// ensure-deps.sh has built cri-tools: its Go build cache is reused).
import * as childProcess from 'node:child_process';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CRI_GO_MODULE_DIR, criCacheDir } from './cri-tools';
import { GO_BIN, goBuildEnv, goCacheDir } from './go';
import { spawnProcess, stopChild } from './process';

export async function buildGoCriProgram(name: string, timeoutMs = 600_000): Promise<string> {
  const dir = path.join(CRI_GO_MODULE_DIR, name);
  const h = crypto.createHash('sha256');
  for (const f of fs.readdirSync(dir).filter((f) => f.endsWith('.go')).sort()) {
    h.update(f + '\0');
    h.update(fs.readFileSync(path.join(dir, f)));
  }
  for (const f of ['go.mod', 'go.sum']) h.update(fs.readFileSync(path.join(CRI_GO_MODULE_DIR, f)));
  h.update(childProcess.execFileSync(GO_BIN, ['version'], { encoding: 'utf8', env: { ...process.env, GOTOOLCHAIN: 'local' } }));
  const outDir = path.join(goCacheDir(), `go-cri-${h.digest('hex').slice(0, 32)}`);
  const bin = path.join(outDir, name);
  if (fs.existsSync(bin)) return bin;
  fs.mkdirSync(outDir, { recursive: true });
  const tmp = `${bin}.${process.pid}.tmp`;
  // ensure-deps.sh compiled these k8s.io packages for crictl/critest with the same flags into
  // its Go build cache: building against that cache compiles only this program.
  const criGoCache = path.join(criCacheDir(), 'gocache');
  const env = fs.existsSync(criGoCache) ? { ...goBuildEnv(), GOCACHE: criGoCache } : goBuildEnv();
  const p = spawnProcess(GO_BIN, ['build', '-o', tmp, `./${name}`], { cwd: CRI_GO_MODULE_DIR, env });
  const timer = setTimeout(() => void stopChild(p, { signal: 'SIGKILL', timeoutMs: 5_000 }), timeoutMs);
  const st = await p.exited;
  clearTimeout(timer);
  if (st.code !== 0) throw new Error(`go build of test/go-cri/${name} failed (exit ${st.code ?? st.signal}):\n${p.output()}`);
  fs.renameSync(tmp, bin);
  return bin;
}
