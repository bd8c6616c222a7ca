// The pause container's OCI spec (containerd's sandboxContainerSpec and
// sandboxContainerSpecOpts, sandbox_run_linux.go).
import type { PodSandboxConfig__Output } from '../generated/types/runtime/v1/PodSandboxConfig';
import { UnknownError } from '../errdefs/errors';
import {
  generateSpec,
  withDefaultSandboxShares,
  withRelativeRoot,
  withSupplementalGroups,
  withSysctls,
  withoutDefaultSecuritySettings,
  withoutNamespace,
  withCgroup,
  withEnv,
  withHostname,
  withLinuxNamespace,
  withMounts,
  withOOMScoreAdj,
  withProcessArgs,
  withProcessCwd,
  withRootFSReadonly,
  withUser,
  withoutRunMount,
  type ImageConfig,
  type Spec,
  type SpecOpt,
} from '../oci';
import {
  ANNOTATION_CONTAINER_TYPE,
  ANNOTATION_SANDBOX_ID,
  ANNOTATION_SANDBOX_LOG_DIR,
  ANNOTATION_SANDBOX_NAME,
  ANNOTATION_SANDBOX_NAMESPACE,
  ANNOTATION_SANDBOX_UID,
  CONTAINER_TYPE_SANDBOX,
  K8S_NAMESPACE,
} from './constants';
import { DEFAULT_SANDBOX_OOM_ADJ, cgroupsPathOf, withAnnotation } from './spec_opts';
import { generateUserString } from './user_string';

export interface SandboxSpecInput {
  id: string;
  config: PodSandboxConfig__Output;
  image: ImageConfig;
  /** The pinned netns ('' for host network). */
  netnsPath: string;
  /** Host paths bound into the pause container. */
  shmPath: string;
  resolvPath: string;
  restrictOomScoreAdj: boolean;
  /** Mounts the image's rootfs read-only around an option that reads it (user names). */
  mountRootfs?: <T>(fn: (root: string) => Promise<T>) => Promise<T>;
}

export function sandboxNamespaces(config: PodSandboxConfig__Output): { network: string; pid: string; ipc: string } {
  const o = config.linux?.security_context?.namespace_options;
  return { network: o?.network ?? 'POD', pid: o?.pid ?? 'POD', ipc: o?.ipc ?? 'POD' };
}

export async function sandboxSpec(input: SandboxSpecInput): Promise<Spec> {
  const { id, config, image } = input;
  const opts: SpecOpt[] = [
    withoutRunMount,
    withoutDefaultSecuritySettings,
    withRelativeRoot('rootfs'),
    withEnv(image.Env ?? []),
    withRootFSReadonly(),
    withHostname(config.hostname),
  ];
  if (image.WorkingDir) opts.push(withProcessCwd(image.WorkingDir));
  const args = [...(image.Entrypoint ?? []), ...(image.Cmd ?? [])];
  if (args.length === 0) throw new UnknownError(`invalid empty entrypoint and cmd in image config`);
  opts.push(withProcessArgs(...args));
  const linux = config.linux;
  if (linux && linux.cgroup_parent !== '') opts.push(withCgroup(cgroupsPathOf(linux.cgroup_parent, id)));

  const ns = sandboxNamespaces(config);
  if (ns.network === 'NODE') {
    opts.push(withoutNamespace('network'), withoutNamespace('uts'));
  } else {
    opts.push(withLinuxNamespace({ type: 'network', path: input.netnsPath }));
  }
  if (ns.pid === 'NODE') opts.push(withoutNamespace('pid'));
  if (ns.ipc === 'NODE') opts.push(withoutNamespace('ipc'));
  opts.push(
    withMounts([
      { source: ns.ipc === 'NODE' ? '/dev/shm' : input.shmPath, destination: '/dev/shm', type: 'bind', options: ['rbind', 'ro'] },
      { source: input.resolvPath, destination: '/etc/resolv.conf', type: 'bind', options: ['rbind', 'ro'] },
    ]),
  );
  const sc = linux?.security_context;
  opts.push(withSupplementalGroups((sc?.supplemental_groups ?? []).map(Number)));
  opts.push(withSysctls(linux?.sysctls ?? {}));
  opts.push(withDefaultSandboxShares);
  const res = linux?.resources;
  if (res) {
    opts.push(
      withAnnotation('io.kubernetes.cri.sandbox-cpu-period', String(res.cpu_period)),
      withAnnotation('io.kubernetes.cri.sandbox-cpu-quota', String(res.cpu_quota)),
      withAnnotation('io.kubernetes.cri.sandbox-cpu-shares', String(res.cpu_shares)),
      withAnnotation('io.kubernetes.cri.sandbox-memory', String(res.memory_limit_in_bytes)),
    );
  }
  opts.push(withOOMScoreAdj(DEFAULT_SANDBOX_OOM_ADJ, input.restrictOomScoreAdj));
  opts.push(
    withAnnotation(ANNOTATION_CONTAINER_TYPE, CONTAINER_TYPE_SANDBOX),
    withAnnotation(ANNOTATION_SANDBOX_ID, id),
    withAnnotation(ANNOTATION_SANDBOX_NAMESPACE, config.metadata?.namespace ?? ''),
    withAnnotation(ANNOTATION_SANDBOX_UID, config.metadata?.uid ?? ''),
    withAnnotation(ANNOTATION_SANDBOX_NAME, config.metadata?.name ?? ''),
    withAnnotation(ANNOTATION_SANDBOX_LOG_DIR, config.log_directory),
  );
  // sandboxContainerSpecOpts: the user (seccomp of the pod is the next issue's breadth).
  let user = generateUserString('', sc?.run_as_user, sc?.run_as_group);
  if (user === '') user = image.User ?? '';
  if (user !== '') opts.push(withUser(user));
  return generateSpec({ namespace: K8S_NAMESPACE, containerId: id, mountRootfs: input.mountRootfs }, opts);
}
