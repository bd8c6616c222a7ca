// A spec option changes a spec the way one of containerd's `oci.SpecOpts` does. Options
// are applied in order over the default spec (generateSpec) and compose: later options see
// what earlier ones did (withImageConfig then withProcessArgs replaces the image's command;
// withCapabilities then withDefaultSeccompProfile derives the profile from the final caps).
import type { Spec } from './spec-types';

/** What an option may need beyond the spec itself. */
export interface SpecContext {
  /** The containerd namespace the container lives in (default spec: linux.cgroupsPath). */
  readonly namespace: string;
  /** The container's id. */
  readonly containerId: string;
  /**
   * A host directory holding the container's root filesystem, read (never written) by the
   * user options to resolve names and groups from its /etc/passwd and /etc/group. containerd
   * mounts the container's snapshot read-only for this; a caller here mounts it (or points
   * at an unpacked tree) and passes the path. Absent: mountRootfs, else the spec's
   * root.path when it is absolute, as containerd does for a container without a snapshot.
   */
  readonly rootfs?: string;
  /**
   * Makes the rootfs available only while fn runs, for each option that reads it, as
   * containerd's client mounts a container's snapshot read-only around each user lookup
   * (so no mount is made for a spec with no user options). Used when rootfs is absent.
   */
  readonly mountRootfs?: <T>(fn: (root: string) => Promise<T>) => Promise<T>;
}

/** One change to a spec; may be async (it may read the rootfs or the host's /dev). */
export type SpecOpt = (ctx: SpecContext, spec: Spec) => void | Promise<void>;

/** Applies opts to spec in order (containerd's oci.ApplyOpts); the first failure stops it. */
export async function applyOpts(ctx: SpecContext, spec: Spec, opts: readonly SpecOpt[]): Promise<void> {
  for (const opt of opts) await opt(ctx, spec);
}

/** One option made of several, applied in order (containerd's oci.Compose). */
export function compose(...opts: SpecOpt[]): SpecOpt {
  return (ctx, spec) => applyOpts(ctx, spec, opts);
}
