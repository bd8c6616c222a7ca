// Go programs of the CRI Go module (test/go-cri, pinned to cri-tools v1.34.0 and the k8s.io
// modules it uses: client-go's remotecommand and portforward at the versions critest and
// crictl speak). Built with `go build` inside test/go-cri (go.sum committed, -mod=readonly),
// cached under os.tmpdir()/berth-go-cache/go-cri-<sha256 of the sources, go.mod, go.sum and
// the toolchain>/ so only the first run on a machine pays for the build (seconds when
// ensure-deps.sh has built cri-tools: its Go build cache is reused).
import * as path from 'node:path';
import { CRI_GO_MODULE_DIR, criCacheDir } from './cri-tools';
import { buildGoModuleProgram } from './go';

export function buildGoCriProgram(name: string, timeoutMs = 600_000): Promise<string> {
  // ensure-deps.sh compiled these k8s.io packages for crictl/critest with the same flags into
  // its Go build cache: building against that cache compiles only this program.
  return buildGoModuleProgram(CRI_GO_MODULE_DIR, name, { prefix: 'go-cri', goCache: path.join(criCacheDir(), 'gocache'), timeoutMs });
}
