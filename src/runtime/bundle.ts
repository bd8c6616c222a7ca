// A task bundle, laid out as containerd's runtime v2 does (runtime/v2/bundle.go):
//
//   <state>/tasks/<ns>/<id>/        0700 (0710 + remapped root gid with user namespaces)
//     config.json                   the container's spec Any value, verbatim (0666)
//     rootfs/                       0711, empty mount point (the shim mounts the rootfs here)
//     work -> <root>/tasks/<ns>/<id> the shim's work dir (0711)
//     log                           FIFO the shim writes its log to (created at start)
//     address                       written by the shim's start
//     shim-binary-path              written after start: the shim binary, for reconnect
//
// Removal unmounts rootfs and renames each directory to a hidden name before deleting it
// (in the background), so a half-removed bundle is never mistaken for a live one.
//
// Creating and removing a bundle is a dozen small metadata operations, on the path of every
// Tasks.Create and Tasks.Delete. They are done synchronously: each takes microseconds,
// while a round trip through libuv's thread pool costs ~0.2 ms of latency apiece.
import * as fs from 'node:fs';
import { promises as fsp, mkdirSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError, withContext } from '../errdefs/errors';
import { validateIdentifier } from '../identifiers/validate';
import { removeTree, unmountAll } from '../native';

export const ADDRESS_FILE = 'address';
export const SHIM_BINARY_PATH_FILE = 'shim-binary-path';
export const LOG_FIFO = 'log';
export const CONFIG_FILE = 'config.json';

export class Bundle {
  constructor(
    readonly id: string,
    readonly namespace: string,
    /** <state>/tasks/<ns>/<id> */
    readonly path: string,
    /** <root>/tasks/<ns>/<id> */
    readonly workPath: string,
  ) {}

  get rootfs(): string {
    return path.join(this.path, 'rootfs');
  }

  /** containerd's NewBundle. `stateDir`/`rootDir` are the runtime's <state>/tasks and <root>/tasks. */
  static async create(stateDir: string, rootDir: string, ns: string, id: string, spec: Buffer): Promise<Bundle> {
    withContext(`invalid task id ${id}`, () => validateIdentifier(id));
    const gid = remappedGid(spec);
    const b = new Bundle(id, ns, path.join(stateDir, ns, id), path.join(rootDir, ns, id));
    const made: string[] = [];
    try {
      mkdirSync(path.dirname(b.path), { recursive: true, mode: 0o711 });
      fs.mkdirSync(b.path, { mode: 0o700 });
      made.push(b.path);
      if (gid !== 0) {
        fs.chownSync(b.path, -1, gid);
        fs.chmodSync(b.path, 0o710);
      }
      mkdirSync(path.dirname(b.workPath), { recursive: true, mode: 0o711 });
      fs.mkdirSync(b.rootfs, { mode: 0o711 });
      try {
        fs.mkdirSync(b.workPath, { mode: 0o711 });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
        await fsp.rm(b.workPath, { recursive: true, force: true });
        fs.mkdirSync(b.workPath, { mode: 0o711 });
      }
      made.push(b.workPath);
      fs.symlinkSync(b.workPath, path.join(b.path, 'work'));
      fs.writeFileSync(path.join(b.path, CONFIG_FILE), spec, { mode: 0o666 });
    } catch (err) {
      for (const d of made) await fsp.rm(d, { recursive: true, force: true }).catch(() => undefined);
      throw err;
    }
    return b;
  }

  /** An existing bundle (reconnect after a restart). */
  static load(stateDir: string, rootDir: string, ns: string, id: string): Bundle {
    return new Bundle(id, ns, path.join(stateDir, ns, id), path.join(rootDir, ns, id));
  }

  async readFile(name: string): Promise<string | undefined> {
    try {
      return await fsp.readFile(path.join(this.path, name), 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async writeFile(name: string, data: string, mode = 0o600): Promise<void> {
    fs.writeFileSync(path.join(this.path, name), data, { mode });
  }

  /** containerd's Bundle.Delete: unmount rootfs, remove it, then the bundle and work dirs. */
  async delete(): Promise<void> {
    let work: string | undefined;
    try {
      work = fs.readlinkSync(path.join(this.path, 'work'));
    } catch {
      work = undefined;
    }
    await unmountAll(this.rootfs);
    // containerd removes rootfs here (rmdir, ~0.4 ms on this path on ext4); here it goes
    // with the rest of the renamed tree, in the background. That is as safe: removeTree
    // never crosses a mount, so a rootfs still mounted is left alone (and the hidden
    // directory is removed when the daemon next loads).
    let first: unknown;
    try {
      atomicDelete(this.path);
    } catch (err) {
      first = err;
    }
    // The work dir is removed even if the link is gone (the path is fixed).
    atomicDelete(work ?? this.workPath);
    if (first) throw first;
  }
}

/**
 * Renames p to a hidden, unique name (so the bundle is gone from its place at once and
 * the id can be used again right away), then deletes the tree in the background, in one
 * thread-pool job (removeTree: fs.rm's round trip and JavaScript per entry cost ~2.5 ms of
 * the event loop per `ctr run --rm`). A rootfs still mounted stays (removeTree does not
 * cross mounts). A crash meanwhile leaves a hidden directory, which the task manager
 * removes when it loads.
 */
function atomicDelete(p: string): void {
  const hidden = path.join(path.dirname(p), `.${path.basename(p)}-${randomBytes(4).toString('hex')}`);
  try {
    fs.renameSync(p, hidden);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw err;
  }
  void removeTree(hidden).catch(() => undefined);
}

/** The host gid that container gid 0 maps to (user namespaces), 0 if none. */
function remappedGid(spec: Buffer): number {
  // Cheap pre-check: parsing a 10 kB spec is only needed when it maps ids.
  if (!spec.includes('gidMappings')) return 0;
  let parsed: unknown;
  try {
    parsed = JSON.parse(spec.toString('utf8'));
  } catch (err) {
    throw new InvalidArgumentError(`invalid spec: ${(err as Error).message}`);
  }
  const mappings = (parsed as { linux?: { gidMappings?: Array<{ containerID?: number; hostID?: number }> } }).linux?.gidMappings;
  if (!Array.isArray(mappings)) return 0;
  for (const m of mappings) if (m.containerID === 0 || m.containerID === undefined) return m.hostID ?? 0;
  return 0;
}
