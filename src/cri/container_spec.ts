// A CRI container's OCI spec (containerd's containerSpec and containerSpecOpts,
// container_create_linux.go, with the options of pkg/cri/opts): the image config merged
// with the CRI config, the pod's files and namespaces, resources, mounts, devices.
import { hostname as osHostname } from 'node:os';
import type { ContainerConfig__Output } from '../generated/types/runtime/v1/ContainerConfig';
import type { Mount__Output } from '../generated/types/runtime/v1/Mount';
import type { PodSandboxConfig__Output } from '../generated/types/runtime/v1/PodSandboxConfig';
import type { LinuxContainerResources__Output } from '../generated/types/runtime/v1/LinuxContainerResources';
import { UnknownError } from '../errdefs/errors';
import {
  currentCapabilities,
  generateSpec,
  withAllDevicesAllowed,
  withCgroup,
  withCRIAdditionalGIDs,
  withCRICapabilities,
  withCRIDevices,
  withCRIMounts,
  withCRIProcessArgs,
  withCRIResources,
  withDefaultPathEnv,
  withDefaultSeccompProfile,
  withEnv,
  withHostDevices,
  withLinuxNamespace,
  withMaskedPaths,
  withNewPrivileges,
  withNoNewPrivileges,
  withOOMScoreAdj,
  withPodNamespaces,
  withPrivileged,
  withProcessCwd,
  withReadonlyPaths,
  withRelativeRoot,
  withRootFSReadonly,
  withSeccompProfile,
  withSupplementalGroups,
  withTTY,
  withUser,
  withoutAmbientCapabilities,
  withoutDefaultSecuritySettings,
  withoutRunMount,
  type CRILinuxResources,
  type CRIMount,
  type ImageConfig,
  type Spec,
  type SpecOpt,
} from '../oci';
import {
  ANNOTATION_CONTAINER_NAME,
  ANNOTATION_CONTAINER_TYPE,
  ANNOTATION_IMAGE_NAME,
  ANNOTATION_SANDBOX_ID,
  ANNOTATION_SANDBOX_NAME,
  ANNOTATION_SANDBOX_NAMESPACE,
  ANNOTATION_SANDBOX_UID,
  CONTAINER_TYPE_CONTAINER,
  K8S_NAMESPACE,
} from './constants';
import { cgroupsPathOf, withAnnotation } from './spec_opts';
import { generateUserString } from './user_string';

export interface ContainerSpecInput {
  id: string;
  sandboxId: string;
  sandboxPid: number;
  /** Pid whose pid namespace a TARGET-mode container joins. */
  targetPid: number;
  containerName: string;
  imageName: string;
  config: ContainerConfig__Output;
  sandboxConfig: PodSandboxConfig__Output;
  image: ImageConfig;
  /** The pod's hostname, hosts, resolv.conf and /dev/shm (containerd's containerMounts). */
  extraMounts: Mount__Output[];
  restrictOomScoreAdj: boolean;
  /** Mounts the container's rootfs read-only around an option that reads it (users, groups). */
  mountRootfs: <T>(fn: (root: string) => Promise<T>) => Promise<T>;
  cgroupUnified: boolean;
}

/** A CRI LinuxContainerResources as src/oci's withCRIResources takes it. */
export function criResources(r: LinuxContainerResources__Output | null | undefined): CRILinuxResources | undefined {
  if (!r) return undefined;
  return {
    cpuPeriod: Number(r.cpu_period),
    cpuQuota: Number(r.cpu_quota),
    cpuShares: Number(r.cpu_shares),
    memoryLimitInBytes: Number(r.memory_limit_in_bytes),
    oomScoreAdj: Number(r.oom_score_adj),
    cpusetCpus: r.cpuset_cpus,
    cpusetMems: r.cpuset_mems,
    hugepageLimits: r.hugepage_limits.map((h) => ({ pageSize: h.page_size, limit: Number(h.limit) })),
    unified: { ...r.unified },
    memorySwapLimitInBytes: Number(r.memory_swap_limit_in_bytes),
  };
}

function criMount(m: Mount__Output): CRIMount {
  return {
    containerPath: m.container_path,
    hostPath: m.host_path,
    readonly: m.readonly,
    selinuxRelabel: m.selinux_relabel,
    propagation: String(m.propagation) as CRIMount['propagation'],
  };
}

/** The seccomp profile CRI asks for (containerd's generateSeccompSpecOpts), runtime/default or none. */
function seccompOpts(config: ContainerConfig__Output, privileged: boolean): SpecOpt[] {
  if (privileged) return [];
  const sc = config.linux?.security_context;
  let type: string | undefined;
  let localhostRef = '';
  if (sc?.seccomp) {
    type = String(sc.seccomp.profile_type);
    localhostRef = sc.seccomp.localhost_ref;
  } else if (sc?.seccomp_profile_path) {
    const p = sc.seccomp_profile_path;
    if (p === 'unconfined') type = 'Unconfined';
    else if (p === 'runtime/default' || p === 'docker/default') type = 'RuntimeDefault';
    else if (p.startsWith('localhost/')) {
      type = 'Localhost';
      localhostRef = p.slice('localhost/'.length);
    } else throw new UnknownError(`unsupported seccomp profile "${p}"`);
  }
  if (type === undefined) return [];
  if (type !== 'Localhost' && localhostRef !== '') throw new UnknownError('seccomp config invalid LocalhostRef must only be set if ProfileType is Localhost');
  switch (type) {
    case 'Unconfined':
      return [];
    case 'RuntimeDefault':
      return [withDefaultSeccompProfile];
    case 'Localhost':
      return [withSeccompProfile(localhostRef.replace(/^localhost\//, ''))];
    default:
      throw new UnknownError('seccomp unknown ProfileType');
  }
}

export async function containerSpec(input: ContainerSpecInput): Promise<Spec> {
  const { config, sandboxConfig, image } = input;
  const sc = config.linux?.security_context ?? null;
  const opts: SpecOpt[] = [
    withoutRunMount,
    withoutDefaultSecuritySettings,
    withRelativeRoot('rootfs'),
    withCRIProcessArgs(config.command, config.args, image),
    withDefaultPathEnv,
    withNewPrivileges,
  ];
  if (config.working_dir !== '') opts.push(withProcessCwd(config.working_dir));
  else if (image.WorkingDir) opts.push(withProcessCwd(image.WorkingDir));
  if (config.tty) opts.push(withTTY);
  const hostname = sandboxConfig.hostname !== '' ? sandboxConfig.hostname : osHostname();
  opts.push(withEnv([`HOSTNAME=${hostname}`]));
  opts.push(withEnv([...(image.Env ?? []), ...config.envs.map((e) => `${e.key}=${e.value}`)]));
  opts.push(withCRIMounts(config.mounts.map(criMount), input.extraMounts.map(criMount)));
  opts.push(withMaskedPaths([]), withReadonlyPaths([]));
  if (sc && sc.masked_paths.length > 0) opts.push(withMaskedPaths(sc.masked_paths));
  if (sc && sc.readonly_paths.length > 0) opts.push(withReadonlyPaths(sc.readonly_paths));
  opts.push(withCRIDevices(config.devices.map((d) => ({ containerPath: d.container_path, hostPath: d.host_path, permissions: d.permissions }))));
  const caps = sc?.capabilities;
  opts.push(withCRICapabilities(caps ? { add: caps.add_capabilities, drop: caps.drop_capabilities } : undefined, currentCapabilities()));
  if (sc?.privileged) {
    if (!sandboxConfig.linux?.security_context?.privileged) throw new UnknownError('no privileged container allowed in sandbox');
    opts.push(withPrivileged, withHostDevices, withAllDevicesAllowed);
  }
  opts.push(withoutAmbientCapabilities);
  if (sc?.no_new_privs) opts.push(withNoNewPrivileges);
  if (sc?.readonly_rootfs) opts.push(withRootFSReadonly());
  opts.push(withCRIResources(criResources(config.linux?.resources)));
  const parent = sandboxConfig.linux?.cgroup_parent ?? '';
  if (parent !== '') opts.push(withCgroup(cgroupsPathOf(parent, input.id)));
  const resources = config.linux?.resources;
  if (resources) opts.push(withOOMScoreAdj(Number(resources.oom_score_adj), input.restrictOomScoreAdj));
  const pidMode = (sc?.namespace_options?.pid ?? 'POD') as 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';
  opts.push(withPodNamespaces(pidMode, input.sandboxPid, pidMode === 'TARGET' ? input.targetPid : input.sandboxPid));
  opts.push(withSupplementalGroups((sc?.supplemental_groups ?? []).map(Number)));
  const md = sandboxConfig.metadata;
  opts.push(
    withAnnotation(ANNOTATION_CONTAINER_TYPE, CONTAINER_TYPE_CONTAINER),
    withAnnotation(ANNOTATION_SANDBOX_ID, input.sandboxId),
    withAnnotation(ANNOTATION_SANDBOX_NAMESPACE, md?.namespace ?? ''),
    withAnnotation(ANNOTATION_SANDBOX_UID, md?.uid ?? ''),
    withAnnotation(ANNOTATION_SANDBOX_NAME, md?.name ?? ''),
    withAnnotation(ANNOTATION_CONTAINER_NAME, input.containerName),
    withAnnotation(ANNOTATION_IMAGE_NAME, input.imageName),
  );
  if (input.cgroupUnified && !sc?.privileged) opts.push(withLinuxNamespace({ type: 'cgroup' }));

  // containerSpecOpts: user, additional groups, seccomp (applied after the spec, as
  // containerd's NewContainer does).
  let user = generateUserString(sc?.run_as_username ?? '', sc?.run_as_user, sc?.run_as_group);
  if (user === '') user = image.User ?? '';
  if (user !== '') opts.push(withUser(user));
  const gidsUser = sc?.run_as_username ? sc.run_as_username : String(sc?.run_as_user?.value ?? 0);
  opts.push(withCRIAdditionalGIDs(gidsUser), withSupplementalGroups((sc?.supplemental_groups ?? []).map(Number)));
  opts.push(...seccompOpts(config, sc?.privileged ?? false));
  return generateSpec({ namespace: K8S_NAMESPACE, containerId: input.id, mountRootfs: input.mountRootfs }, opts);
}

