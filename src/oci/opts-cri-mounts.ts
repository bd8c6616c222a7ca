// A CRI container's volumes and devices as containerd 1.6's CRI puts them in the spec
// (criopts.WithMounts, criopts.WithDevices): volumes ordered by depth, a read-only cgroup
// mount, default mounts a volume replaces (or all of /dev's when /dev is a volume) dropped,
// each volume an rbind with its propagation — and the rootfs made rshared or rslave for
// the propagation to reach the container; a missing host directory is created.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';
import { PathError } from './go-errors';
import { lookupMount } from './mount-lookup';
import { withDevices } from './opts-devices';
import { toUint32 } from './passwd';
import type { SpecOpt } from './spec-opt';
import { ensureLinux, ensureResources } from './spec-sections';
import type { Mount } from './spec-types';

/** CRI's MountPropagation names (runtime.v1). */
export type CRIMountPropagation = 'PROPAGATION_PRIVATE' | 'PROPAGATION_HOST_TO_CONTAINER' | 'PROPAGATION_BIDIRECTIONAL';

/** A CRI volume (runtime.v1 Mount). */
export interface CRIMount {
  containerPath: string;
  hostPath: string;
  readonly?: boolean;
  /** Accepted and ignored: SELinux relabelling is not done here (hosts without SELinux). */
  selinuxRelabel?: boolean;
  propagation?: CRIMountPropagation;
}

/** Go's filepath.Clean of an absolute or relative slash path. */
function clean(p: string): string {
  if (p === '') return '.';
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** The number of '/' in the cleaned path: how deep a mount is, for ordering. */
function depth(m: CRIMount): number {
  return clean(m.containerPath).split('/').length - 1;
}

/** containerd's ResolveSymbolicLink: the path itself when it is not a symlink, else its target fully resolved. */
function resolveSymbolicLink(p: string): string {
  let st: fs.Stats;
  try {
    st = fs.lstatSync(p);
  } catch (err) {
    throw new PathError('lstat', p, err);
  }
  if (!st.isSymbolicLink()) return p;
  try {
    return fs.realpathSync(p);
  } catch (err) {
    throw new PathError('lstat', p, err);
  }
}

function ensureShared(src: string): void {
  const info = lookupMount(src);
  if (info.optional.split(' ').some((o) => o.startsWith('shared:'))) return;
  throw new UnknownError(`path ${JSON.stringify(src)} is mounted on ${JSON.stringify(info.mountpoint)} but it is not a shared mount`);
}

function ensureSharedOrSlave(src: string): void {
  const info = lookupMount(src);
  if (info.optional.split(' ').some((o) => o.startsWith('shared:') || o.startsWith('master:'))) return;
  throw new UnknownError(`path ${JSON.stringify(src)} is mounted on ${JSON.stringify(info.mountpoint)} but it is not a shared or slave mount`);
}

/**
 * Adds a CRI container's volumes (mounts, from its config) and the runtime's own (extra:
 * hostname, hosts, resolv.conf, /dev/shm of the sandbox…; a volume at the same path wins),
 * as containerd's CRI does.
 */
export function withCRIMounts(mounts: readonly CRIMount[], extra: readonly CRIMount[] = []): SpecOpt {
  return (_ctx, spec) => {
    const all = [...mounts, ...extra.filter((e) => !mounts.some((c) => clean(e.containerPath) === clean(c.containerPath)))];
    // Shallow mounts first, so a deeper one is not hidden under a later one. Array.prototype.sort
    // is stable; containerd's sort.Sort is too for up to 12 mounts (insertion sort).
    all.sort((a, b) => depth(a) - depth(b));

    const defaults: Mount[] = [
      ...(spec.mounts ?? []),
      { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
    ];
    const targets = new Set(all.map((m) => clean(m.containerPath)));
    const kept = defaults.filter((m) => {
      const dst = clean(m.destination);
      if (targets.has(dst)) return false;
      return !(targets.has('/dev') && dst.startsWith('/dev/'));
    });

    const added: Mount[] = [];
    for (const m of all) {
      let src = m.hostPath;
      try {
        fs.statSync(src);
      } catch (err) {
        const e = new PathError('stat', src, err);
        if (!e.notExist) throw new UnknownError(`failed to stat ${JSON.stringify(src)}: ${e.message}`);
        try {
          fs.mkdirSync(src, { recursive: true, mode: 0o755 });
        } catch (mkdirErr) {
          throw new UnknownError(`failed to mkdir ${JSON.stringify(src)}: ${new PathError('mkdir', src, mkdirErr).message}`);
        }
      }
      try {
        src = resolveSymbolicLink(src);
      } catch (err) {
        // containerd's message names the result of the failed resolution: "".
        throw new UnknownError(`failed to resolve symlink "": ${(err as Error).message}`);
      }
      const linux = ensureLinux(spec);
      const options = ['rbind'];
      switch (m.propagation ?? 'PROPAGATION_PRIVATE') {
        case 'PROPAGATION_PRIVATE':
          // runc's default rootfs propagation is already rprivate.
          options.push('rprivate');
          break;
        case 'PROPAGATION_BIDIRECTIONAL':
          ensureShared(src);
          options.push('rshared');
          linux.rootfsPropagation = 'rshared';
          break;
        case 'PROPAGATION_HOST_TO_CONTAINER':
          ensureSharedOrSlave(src);
          options.push('rslave');
          if (linux.rootfsPropagation !== 'rshared' && linux.rootfsPropagation !== 'rslave') linux.rootfsPropagation = 'rslave';
          break;
        default:
          options.push('rprivate');
      }
      // A read-only rootfs does not make volumes read-only (containerd's choice too).
      options.push(m.readonly ? 'ro' : 'rw');
      added.push({ destination: m.containerPath, type: 'bind', source: src, options });
    }
    const result = [...kept, ...added];
    if (result.length > 0) spec.mounts = result;
    else delete spec.mounts;
  };
}

/** A CRI device (runtime.v1 Device). */
export interface CRIDevice {
  containerPath: string;
  hostPath: string;
  /** Cgroup access: a combination of r, w, m. */
  permissions: string;
}

/**
 * Adds a CRI container's devices (each host path's symlink resolved, then withDevices), as
 * containerd's CRI does. With deviceOwnership ([cri] device_ownership_from_security_context),
 * a non-zero runAsUser / runAsGroup of the container owns the new device nodes.
 */
export function withCRIDevices(devices: readonly CRIDevice[], deviceOwnership?: { runAsUser?: number; runAsGroup?: number }): SpecOpt {
  return async (ctx, spec) => {
    ensureResources(spec);
    const linux = ensureLinux(spec);
    const before = (linux.devices ?? []).length;
    for (const d of devices) {
      const hostPath = resolveSymbolicLink(d.hostPath);
      await withDevices(hostPath, d.containerPath, d.permissions)(ctx, spec);
    }
    if (!deviceOwnership) return;
    const uid = toUint32(deviceOwnership.runAsUser ?? 0);
    const gid = toUint32(deviceOwnership.runAsGroup ?? 0);
    for (const dev of (linux.devices ?? []).slice(before)) {
      if (uid !== 0) dev.uid = uid;
      if (gid !== 0) dev.gid = gid;
    }
  };
}
