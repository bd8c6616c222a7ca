// Device nodes of the host as the runtime spec describes them (containerd's
// oci.DeviceFromPath, HostDevices and getDevices): type, major/minor, permission bits and
// owner of the node itself (lstat: a symlink is not a device).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';
import { PathError } from './go-errors';
import type { LinuxDevice } from './spec-types';

/** containerd's ErrNotADevice. */
export class NotADeviceError extends UnknownError {
  constructor() {
    super('not a device node');
  }
}

const S_IFMT = 0o170000n;
const S_IFBLK = 0o060000n;
const S_IFCHR = 0o020000n;
const S_IFIFO = 0o010000n;

/** glibc's major(): bits 8-19 and 32-43 of a dev_t. */
export function deviceMajor(dev: bigint): number {
  return Number(((dev >> 8n) & 0xfffn) | ((dev >> 32n) & 0xfffff000n));
}

/** glibc's minor(): bits 0-7 and 20-31 (and up) of a dev_t. */
export function deviceMinor(dev: bigint): number {
  return Number((dev & 0xffn) | ((dev >> 12n) & 0xffffff00n));
}

/** The device node at devicePath (containerd's DeviceFromPath); NotADeviceError for anything else. */
export function deviceFromPath(devicePath: string): LinuxDevice {
  let st: fs.BigIntStats;
  try {
    st = fs.lstatSync(devicePath, { bigint: true });
  } catch (err) {
    throw new PathError('lstat', devicePath, err);
  }
  const kind = st.mode & S_IFMT;
  let type: string;
  if (kind === S_IFBLK) type = 'b';
  else if (kind === S_IFCHR) type = 'c';
  else if (kind === S_IFIFO) type = 'p';
  else throw new NotADeviceError();
  return {
    path: devicePath,
    type,
    major: deviceMajor(st.rdev),
    minor: deviceMinor(st.rdev),
    fileMode: Number(st.mode & ~S_IFMT),
    uid: Number(st.uid),
    gid: Number(st.gid),
  };
}

/** Subdirectories of /dev that hold no devices for a container (containerd's list). */
const SKIPPED_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.lxd-mounts', '.udev']);

/**
 * The devices at devicePath: the node itself, or every device below a directory (in name
 * order, skipping SKIPPED_DIRS, "console", FIFOs and non-devices), renamed under
 * containerPath when given (containerd's getDevices).
 */
export function getDevices(devicePath: string, containerPath: string): LinuxDevice[] {
  let st: fs.Stats;
  try {
    st = fs.statSync(devicePath);
  } catch (err) {
    throw new UnknownError(`error stating device path: ${new PathError('stat', devicePath, err).message}`);
  }
  if (!st.isDirectory()) {
    const dev = deviceFromPath(devicePath);
    if (containerPath !== '') dev.path = containerPath;
    return [dev];
  }
  // Go's os.ReadDir sorts by name, byte-wise.
  const entries = fs.readdirSync(devicePath, { withFileTypes: true }).sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)));
  const out: LinuxDevice[] = [];
  for (const entry of entries) {
    if (entry.isDirectory()) {
      if (SKIPPED_DIRS.has(entry.name)) continue;
      const sub = containerPath !== '' ? path.join(containerPath, entry.name) : '';
      out.push(...getDevices(path.join(devicePath, entry.name), sub));
      continue;
    }
    if (entry.name === 'console') continue;
    let dev: LinuxDevice;
    try {
      dev = deviceFromPath(path.join(devicePath, entry.name));
    } catch (err) {
      // Not a device, or gone since the listing.
      if (err instanceof NotADeviceError || (err instanceof PathError && err.notExist)) continue;
      throw err;
    }
    if (dev.type === 'p') continue;
    if (containerPath !== '') dev.path = path.join(containerPath, entry.name);
    out.push(dev);
  }
  return out;
}

/** Every device under the host's /dev (containerd's HostDevices). */
export function hostDevices(): LinuxDevice[] {
  return getDevices('/dev', '');
}
