// OCI runtime specs for containers, as containerd 1.6 builds them: generateSpec gives
// containerd's default Linux spec with options applied in order; the options carry
// containerd's names (oci.With* → with*, seccomp.WithDefaultProfile → withDefaultSeccompProfile)
// and semantics, so code written against containerd's Go client reads the same here. The
// options containerd's CRI plugin adds (pkg/cri/opts) are here too, "CRI" in the name where
// containerd's would collide. Used by CRI (src/cri) and the client library's newContainer.
//
//   const spec = await generateSpec({ namespace: 'default', containerId: 'web', rootfs },
//     [withImageConfig(image.config), withProcessArgs('nginx', '-g', 'daemon off;'),
//      withMemoryLimit(256 << 20), withDefaultSeccompProfile]);
export type * from './spec-types';
export { OCI_VERSION } from './spec-types';
export { applyOpts, compose, type SpecContext, type SpecOpt } from './spec-opt';
export {
  DEFAULT_MASKED_PATHS,
  DEFAULT_READONLY_PATHS,
  DEFAULT_UNIX_CAPS,
  DEFAULT_UNIX_ENV,
  defaultMounts,
  defaultUnixNamespaces,
  defaultUnixSpec,
  generateSpec,
  withDefaultSpec,
} from './default-spec';
export { replaceOrAppendEnvValues } from './env';
export {
  withAnnotations,
  withApparmorProfile,
  withDefaultPathEnv,
  withEnv,
  withHostname,
  withNewPrivileges,
  withNoNewPrivileges,
  withOOMScoreAdj,
  withProcessArgs,
  withProcessCwd,
  withSelinuxLabel,
  withTTY,
  withTTYSize,
} from './opts-process';
export { withImageConfig, withImageConfigArgs, type ImageConfig } from './opts-image';
export {
  withAdditionalGIDs,
  withAppendAdditionalGroups,
  withSupplementalGroups,
  withUIDGID,
  withUser,
  withUserID,
  withUsername,
} from './opts-user';
export { NoGroupsFoundError, NoUsersFoundError } from './passwd';
export { PathError } from './go-errors';
export {
  withDevShmSize,
  withHostHostsFile,
  withHostLocaltime,
  withHostResolvconf,
  withMounts,
  withoutMounts,
  withoutRunMount,
  withRootFSPath,
  withRootFSReadonly,
  withRootfsPropagation,
  withWriteableCgroupfs,
  withWriteableSysfs,
  type RootfsPropagation,
} from './opts-mounts';
export {
  withCgroup,
  withHostNamespace,
  withLinuxNamespace,
  withMaskedPaths,
  withNamespacedCgroup,
  withReadonlyPaths,
  withSeccompUnconfined,
  withSysctls,
  withUserNamespace,
} from './opts-linux';
export { withCPUCFS, withCPUs, withCPUShares, withCPUsMems, withMemoryLimit, withMemorySwap, withPidsLimit } from './opts-resources';
export { currentCapabilities, KNOWN_CAPABILITIES } from './capabilities';
export { hugetlbControllerPresent, isCgroup2UnifiedMode, swapControllerAvailable } from './cgroup-host';
export {
  withAddedCapabilities,
  withAllCurrentCapabilities,
  withAllKnownCapabilities,
  withAmbientCapabilities,
  withCapabilities,
  withDroppedCapabilities,
  withPrivileged,
} from './opts-capabilities';
export { deviceFromPath, getDevices, hostDevices, NotADeviceError } from './devices';
export {
  withAllDevicesAllowed,
  withDefaultUnixDevices,
  withDevices,
  withHostDevices,
  withLinuxDevice,
  withLinuxDevices,
  withParentCgroupDevices,
} from './opts-devices';
export { defaultSeccompProfile, withDefaultSeccompProfile, type DefaultProfileHost } from './seccomp-default';
export { withSeccompProfile } from './seccomp-profile';
export { withCRIDevices, withCRIMounts, type CRIDevice, type CRIMount, type CRIMountPropagation } from './opts-cri-mounts';
export { lookupMount, type MountInfo } from './mount-lookup';
export {
  DEFAULT_SANDBOX_CPU_SHARES,
  withCRIAdditionalGIDs,
  withCRICapabilities,
  withCRIProcessArgs,
  withCRIResources,
  withDefaultSandboxShares,
  withDisabledCgroups,
  withoutAmbientCapabilities,
  withoutDefaultSecuritySettings,
  withoutNamespace,
  withoutRoot,
  withPodNamespaces,
  withRelativeRoot,
  type CRICapabilityChanges,
  type CRINamespaceMode,
  type CRILinuxResources,
  type CRIResourcesPolicy,
} from './opts-cri';
