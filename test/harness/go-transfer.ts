// Go programs of the containerd 2 client module (test/go-transfer, pinned to
// github.com/containerd/containerd/v2 v2.4.2): containerd 2's own client calling the
// Transfer and Streaming services, which containerd 1.6's client (test/go) does not have.
import * as path from 'node:path';
import { REPO_ROOT } from './berthd';
import { buildGoModuleProgram } from './go';

export const TRANSFER_GO_MODULE_DIR = path.join(REPO_ROOT, 'test', 'go-transfer');

export function buildGoTransferProgram(name: string, timeoutMs = 600_000): Promise<string> {
  return buildGoModuleProgram(TRANSFER_GO_MODULE_DIR, name, { prefix: 'go-transfer', timeoutMs });
}
