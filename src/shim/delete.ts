// `containerd-shim-berth-v1 … delete` (reference §10.7): cleanup after a shim that died
// or cannot be reached. cwd (or -bundle) is the task's bundle. Force-deletes the runc
// container with the runtime and root recorded at Create (bundle files `runtime` and
// `options.json`; nothing when the runtime has no state for it), unmounts <bundle>/rootfs, and prints DeleteResponse{pid from init.pid,
// exit_status 137, exited_at now} on stdout. Problems are warnings on stderr: containerd
// runs this on every task teardown, when there is usually nothing left to do.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ShimArgs } from './args';
import { defaultRuncRoot } from './address';
import { DEFAULT_RUNTIME, EXIT_STATUS_KILLED } from './constants';
import { Runc } from './runc';
import { encodeDeleteResponse } from './wire';
import { wallNow } from '../time/wall';

export async function deleteCommand(args: ShimArgs): Promise<number> {
  let bundle = args.bundle;
  if (!bundle) {
    try {
      bundle = process.cwd();
    } catch {
      // the bundle is already gone (containerd removes it concurrently): nothing left to clean
      fs.writeSync(1, encodeDeleteResponse(0, EXIT_STATUS_KILLED, wallNow()));
      return 0;
    }
  }
  const id = args.id || path.basename(bundle);
  const opts = readOptions(bundle);
  const runtime = readText(path.join(bundle, 'runtime')) || opts.binary_name || DEFAULT_RUNTIME;
  const root = path.join(opts.root || defaultRuncRoot(args.address), args.namespace);
  // Only when the runtime has state for it: `runc delete` would create a missing --root.
  if (fs.existsSync(path.join(root, id))) {
    const r = await new Runc({ command: runtime, root, log: path.join(bundle, 'log.json') }).delete(id, true);
    if (r.code !== 0) warn(`failed to remove runc container: ${r.output.trim() || `exit ${r.code}`}`);
  }
  try {
    const { unmountAll } = await import('../native/mount');
    await unmountAll(path.join(bundle, 'rootfs'), 0);
  } catch (err) {
    warn(`failed to cleanup rootfs mount: ${(err as Error).message}`);
  }
  const pid = Number(readText(path.join(bundle, 'init.pid')) || '0');
  if (!Number.isInteger(pid) || pid <= 0) warn('failed to read init pid file');
  fs.writeSync(1, encodeDeleteResponse(Number.isInteger(pid) && pid > 0 ? pid : 0, EXIT_STATUS_KILLED, wallNow()));
  return 0;
}

interface RecordedOptions {
  binary_name?: string;
  root?: string;
}

function readOptions(bundle: string): RecordedOptions {
  const text = readText(path.join(bundle, 'options.json'));
  if (!text) return {};
  try {
    const v = JSON.parse(text) as RecordedOptions;
    return typeof v === 'object' && v !== null ? v : {};
  } catch {
    return {};
  }
}

function readText(p: string): string {
  try {
    return fs.readFileSync(p, 'utf8').trim();
  } catch {
    return '';
  }
}

function warn(msg: string): void {
  process.stderr.write(`${JSON.stringify({ time: new Date().toISOString(), level: 'warning', msg })}\n`);
}
