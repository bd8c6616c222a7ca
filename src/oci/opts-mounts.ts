// Mounts and the root filesystem (containerd's WithMounts, WithoutMounts, WithRootFSPath,
// WithRootFSReadonly, WithHost*File, WithDevShmSize, WithWriteableSysfs/Cgroupfs).
import * as path from 'node:path';
import { UnknownError } from '../errdefs/errors';
import type { SpecOpt } from './spec-opt';
import { ensureLinux, ensureRoot, setString } from './spec-sections';
import type { Mount, Spec } from './spec-types';

/** Go's filepath.Clean of a slash path ("/run/" and "/run/." are "/run"). */
function cleanPath(p: string): string {
  if (p === '') return '.';
  const n = path.posix.normalize(p);
  return n.length > 1 && n.endsWith('/') ? n.slice(0, -1) : n;
}

/** Appends mounts after the ones the spec has (containerd's WithMounts). */
export function withMounts(mounts: readonly Mount[]): SpecOpt {
  return (_ctx, spec) => {
    if (mounts.length === 0) return;
    spec.mounts = [...(spec.mounts ?? []), ...mounts.map(copyMount)];
  };
}

function copyMount(m: Mount): Mount {
  const out: Mount = { destination: m.destination };
  if (m.type) out.type = m.type;
  if (m.source) out.source = m.source;
  if (m.options && m.options.length > 0) out.options = [...m.options];
  return out;
}

/** Removes the mounts at these destinations (cleaned paths compared; containerd's WithoutMounts). */
export function withoutMounts(...destinations: string[]): SpecOpt {
  return (_ctx, spec) => {
    const kept = (spec.mounts ?? []).filter((m) => !destinations.includes(cleanPath(m.destination)));
    if (kept.length > 0) spec.mounts = kept;
    else delete spec.mounts;
  };
}

/** Removes the default /run tmpfs (containerd's WithoutRunMount). */
export const withoutRunMount: SpecOpt = withoutMounts('/run');

function hostFileBind(file: string): SpecOpt {
  return (_ctx, spec) => {
    spec.mounts = [...(spec.mounts ?? []), { destination: file, type: 'bind', source: file, options: ['rbind', 'ro'] }];
  };
}

/** Binds the host's /etc/hosts read-only (containerd's WithHostHostsFile). */
export const withHostHostsFile: SpecOpt = hostFileBind('/etc/hosts');
/** Binds the host's /etc/resolv.conf read-only (containerd's WithHostResolvconf). */
export const withHostResolvconf: SpecOpt = hostFileBind('/etc/resolv.conf');
/** Binds the host's /etc/localtime read-only (containerd's WithHostLocaltime). */
export const withHostLocaltime: SpecOpt = hostFileBind('/etc/localtime');

/** Sets the size of the default /dev/shm tmpfs in KiB (containerd's WithDevShmSize). */
export function withDevShmSize(kb: number): SpecOpt {
  return (_ctx, spec) => {
    const shm = (spec.mounts ?? []).find((m) => cleanPath(m.destination) === '/dev/shm' && m.source === 'shm' && m.type === 'tmpfs');
    if (!shm) throw new UnknownError('no /dev/shm mount specified');
    shm.options = [...(shm.options ?? []).filter((o) => !o.startsWith('size=')), `size=${kb}k`];
  };
}

function rewriteRo(spec: Spec, type: string): void {
  for (const m of spec.mounts ?? []) {
    if (m.type !== type || !m.options) continue;
    m.options = m.options.map((o) => (o === 'ro' ? 'rw' : o));
  }
}

/** Makes sysfs mounts read-write (containerd's WithWriteableSysfs). */
export const withWriteableSysfs: SpecOpt = (_ctx, spec) => rewriteRo(spec, 'sysfs');
/** Makes cgroup mounts read-write (containerd's WithWriteableCgroupfs). */
export const withWriteableCgroupfs: SpecOpt = (_ctx, spec) => rewriteRo(spec, 'cgroup');

/** Sets root.path, e.g. an unmanaged rootfs (containerd's WithRootFSPath). */
export function withRootFSPath(rootPath: string): SpecOpt {
  return (_ctx, spec) => {
    ensureRoot(spec).path = rootPath;
  };
}

/** Mounts the root filesystem read-only (containerd's WithRootFSReadonly). */
export function withRootFSReadonly(): SpecOpt {
  return (_ctx, spec) => {
    ensureRoot(spec).readonly = true;
  };
}

/** The propagation modes runc accepts for the rootfs mount. */
export type RootfsPropagation = 'private' | 'rprivate' | 'slave' | 'rslave' | 'shared' | 'rshared' | 'unbindable' | 'runbindable';

/**
 * Sets linux.rootfsPropagation. containerd's oci package has no such option: its CRI sets
 * "rshared" for a Bidirectional mount and "rslave" for a HostToContainer one (unless already
 * rshared) while it builds the mounts; CRI here does the same through this option.
 */
export function withRootfsPropagation(mode: RootfsPropagation | ''): SpecOpt {
  return (_ctx, spec) => setString(ensureLinux(spec), 'rootfsPropagation', mode);
}
