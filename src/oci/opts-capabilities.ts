// Capabilities of the container process and the privileged mode built on them
// (containerd's WithCapabilities, WithAddedCapabilities, WithDroppedCapabilities,
// WithAmbientCapabilities, WithAllKnownCapabilities, WithAllCurrentCapabilities, WithPrivileged).
import { currentCapabilities, KNOWN_CAPABILITIES } from './capabilities';
import { withWriteableCgroupfs, withWriteableSysfs } from './opts-mounts';
import { withMaskedPaths, withReadonlyPaths, withSeccompUnconfined } from './opts-linux';
import { withApparmorProfile, withSelinuxLabel } from './opts-process';
import { compose, type SpecOpt } from './spec-opt';
import { ensureCapabilities, setList } from './spec-sections';
import type { LinuxCapabilities } from './spec-types';

/** The three sets containerd's capability options change together. */
const SETS = ['bounding', 'effective', 'permitted'] as const;

/** Sets bounding, effective and permitted to caps (containerd's WithCapabilities). */
export function withCapabilities(caps: readonly string[]): SpecOpt {
  return (_ctx, spec) => {
    const c = ensureCapabilities(spec);
    for (const set of SETS) setList(c, set, [...caps]);
  };
}

/** Adds caps to bounding, effective and permitted where missing (containerd's WithAddedCapabilities). */
export function withAddedCapabilities(caps: readonly string[]): SpecOpt {
  return (_ctx, spec) => {
    const c = ensureCapabilities(spec);
    for (const cap of caps) {
      for (const set of SETS) {
        const list = c[set] ?? [];
        if (!list.includes(cap)) c[set] = [...list, cap];
      }
    }
  };
}

/** Removes caps from bounding, effective and permitted (containerd's WithDroppedCapabilities). */
export function withDroppedCapabilities(caps: readonly string[]): SpecOpt {
  return (_ctx, spec) => {
    const c: LinuxCapabilities = ensureCapabilities(spec);
    for (const cap of caps) {
      for (const set of SETS) setList(c, set, (c[set] ?? []).filter((x) => x !== cap));
    }
  };
}

/** Sets the inheritable and ambient sets, for non-root processes (containerd's WithAmbientCapabilities). */
export function withAmbientCapabilities(caps: readonly string[]): SpecOpt {
  return (_ctx, spec) => {
    const c = ensureCapabilities(spec);
    setList(c, 'inheritable', [...caps]);
    setList(c, 'ambient', [...caps]);
  };
}

/** Every capability the kernel may know of, in bit order (containerd's WithAllKnownCapabilities). */
export const withAllKnownCapabilities: SpecOpt = (ctx, spec) => withCapabilities(KNOWN_CAPABILITIES)(ctx, spec);

/** The effective capabilities of this process (containerd's WithAllCurrentCapabilities). */
export const withAllCurrentCapabilities: SpecOpt = (ctx, spec) => withCapabilities(currentCapabilities())(ctx, spec);

/**
 * A privileged container as containerd 1.6's WithPrivileged makes it: this daemon's own
 * capabilities, nothing masked or read-only, sysfs and cgroupfs writable, no SELinux label,
 * no AppArmor profile (unconfined) and no seccomp profile. Host devices are separate
 * options, as in containerd: ctr --privileged and CRI add withHostDevices and
 * withAllDevicesAllowed after it.
 */
export const withPrivileged: SpecOpt = compose(
  withAllCurrentCapabilities,
  withMaskedPaths([]),
  withReadonlyPaths([]),
  withWriteableSysfs,
  withWriteableCgroupfs,
  withSelinuxLabel(''),
  withApparmorProfile(''),
  withSeccompUnconfined,
);
