// The spec options containerd 1.6's CRI plugin adds over the oci package (pkg/cri/opts),
// for CRI here: command and args of a CRI ContainerConfig over the image's, capability
// add/drop lists with "ALL", the sandbox's namespaces, and the settings a pod sandbox
// drops. Where a name would collide with the oci option of the same containerd name
// (WithProcessArgs, WithCapabilities, WithAdditionalGIDs), it carries "CRI".
import { UnknownError } from '../errdefs/errors';
import { hugetlbControllerPresent, swapControllerAvailable } from './cgroup-host';
import type { ImageConfig } from './opts-image';
import { withAddedCapabilities, withCapabilities, withDroppedCapabilities } from './opts-capabilities';
import { withLinuxNamespace } from './opts-linux';
import { withProcessArgs } from './opts-process';
import { withAdditionalGIDs } from './opts-user';
import { applyOpts, type SpecOpt } from './spec-opt';
import { ensureCapabilities, ensureCpu, ensureLinux, ensureProcess, ensureRoot } from './spec-sections';
import type { LinuxNamespaceType } from './spec-types';

/**
 * The process's args from a CRI ContainerConfig's command and args over the image's
 * Entrypoint and Cmd (docker's rules, as containerd's CRI applies them): no command → the
 * image's Entrypoint (unless it is [""]) with args, or the image's Cmd when no args either.
 * Neither anywhere is an error.
 */
export function withCRIProcessArgs(command: readonly string[], args: readonly string[], image: ImageConfig): SpecOpt {
  return (ctx, spec) => {
    let cmd = [...command];
    let rest = [...args];
    if (cmd.length === 0) {
      if (rest.length === 0) rest = [...(image.Cmd ?? [])];
      const entrypoint = image.Entrypoint ?? [];
      if (!(entrypoint.length === 1 && entrypoint[0] === '')) cmd = [...entrypoint];
    }
    if (cmd.length === 0 && rest.length === 0) throw new UnknownError('no command specified');
    return withProcessArgs(...cmd, ...rest)(ctx, spec);
  };
}

/** A CRI security context's capability changes: names without the CAP_ prefix, any case, "ALL". */
export interface CRICapabilityChanges {
  add?: readonly string[];
  drop?: readonly string[];
}

/**
 * Applies a CRI container's capability changes as containerd's CRI does: "ALL" in add sets
 * allCaps (containerd passes its own current capabilities), "ALL" in drop clears every set,
 * then each named capability (prefixed CAP_, upper-cased) is added, then each dropped.
 * undefined (no capabilities in the security context) changes nothing.
 */
export function withCRICapabilities(changes: CRICapabilityChanges | undefined, allCaps: readonly string[]): SpecOpt {
  return async (ctx, spec) => {
    if (!changes) return;
    const add = changes.add ?? [];
    const drop = changes.drop ?? [];
    const isAll = (c: string) => c.toUpperCase() === 'ALL';
    const opts: SpecOpt[] = [];
    if (add.some(isAll)) opts.push(withCapabilities(allCaps));
    if (drop.some(isAll)) opts.push(withCapabilities([]));
    opts.push(withAddedCapabilities(add.filter((c) => !isAll(c)).map((c) => `CAP_${c.toUpperCase()}`)));
    opts.push(withDroppedCapabilities(drop.filter((c) => !isAll(c)).map((c) => `CAP_${c.toUpperCase()}`)));
    await applyOpts(ctx, spec, opts);
  };
}

/**
 * Sets the supplementary groups of userstr from the rootfs's /etc/group (withAdditionalGIDs)
 * and keeps the ones the spec had: merged, without duplicates, sorted (containerd CRI's
 * WithAdditionalGIDs).
 */
export function withCRIAdditionalGIDs(userstr: string): SpecOpt {
  return async (ctx, spec) => {
    const before = ensureProcess(spec).user.additionalGids ?? [];
    await withAdditionalGIDs(userstr)(ctx, spec);
    const user = ensureProcess(spec).user;
    const merged = [...new Set([...(user.additionalGids ?? []), ...before])].sort((a, b) => a - b);
    if (merged.length > 0) user.additionalGids = merged;
    else delete user.additionalGids;
  };
}

/** Removes every namespace of this type (containerd CRI's WithoutNamespace). */
export function withoutNamespace(type: LinuxNamespaceType): SpecOpt {
  return (_ctx, spec) => {
    if (!spec.linux) return;
    const kept = (spec.linux.namespaces ?? []).filter((n) => n.type !== type);
    if (kept.length > 0) spec.linux.namespaces = kept;
    else delete spec.linux.namespaces;
  };
}

/** CRI's namespace modes (runtime.v1 NamespaceMode). */
export type CRINamespaceMode = 'POD' | 'CONTAINER' | 'NODE' | 'TARGET';

/**
 * Joins the sandbox's network, IPC and UTS namespaces (/proc/<sandboxPid>/ns/…), and the
 * PID namespace of targetPid unless the pid mode is CONTAINER (containerd CRI's WithPodNamespaces).
 */
export function withPodNamespaces(pidMode: CRINamespaceMode, sandboxPid: number, targetPid: number): SpecOpt {
  return async (ctx, spec) => {
    const join = (type: LinuxNamespaceType, pid: number, name: string) => withLinuxNamespace({ type, path: `/proc/${pid}/ns/${name}` });
    const opts = [join('network', sandboxPid, 'net'), join('ipc', sandboxPid, 'ipc'), join('uts', sandboxPid, 'uts')];
    if (pidMode !== 'CONTAINER') opts.push(join('pid', targetPid, 'pid'));
    await applyOpts(ctx, spec, opts);
  };
}

/** Clears the ambient capabilities (containerd CRI's WithoutAmbientCaps). */
export const withoutAmbientCapabilities: SpecOpt = (_ctx, spec) => {
  delete ensureCapabilities(spec).ambient;
};

/**
 * Drops AppArmor profile, seccomp profile and rlimits, for a privileged sandbox
 * (containerd CRI's WithoutDefaultSecuritySettings).
 */
export const withoutDefaultSecuritySettings: SpecOpt = (_ctx, spec) => {
  const process = ensureProcess(spec);
  delete process.apparmorProfile;
  if (spec.linux) delete spec.linux.seccomp;
  delete process.rlimits;
};

/** Clears linux.cgroupsPath (containerd CRI's WithDisabledCgroups). */
export const withDisabledCgroups: SpecOpt = (_ctx, spec) => {
  delete ensureLinux(spec).cgroupsPath;
};

/** Sets root.path, relative to the bundle (containerd CRI's WithRelativeRoot). */
export function withRelativeRoot(rootPath: string): SpecOpt {
  return (_ctx, spec) => {
    ensureRoot(spec).path = rootPath;
  };
}

/** Removes root (containerd CRI's WithoutRoot). */
export const withoutRoot: SpecOpt = (_ctx, spec) => {
  delete spec.root;
};

/** The CPU shares containerd's CRI gives a pod sandbox. */
export const DEFAULT_SANDBOX_CPU_SHARES = 2;

/** Sets the sandbox's CPU shares (containerd CRI's WithDefaultSandboxShares). */
export const withDefaultSandboxShares: SpecOpt = (_ctx, spec) => {
  ensureCpu(spec).shares = DEFAULT_SANDBOX_CPU_SHARES;
};

/** A CRI container's Linux resources (runtime.v1 LinuxContainerResources); 0 or absent: unset. */
export interface CRILinuxResources {
  cpuPeriod?: number;
  cpuQuota?: number;
  cpuShares?: number;
  memoryLimitInBytes?: number;
  /** Not applied here: withOOMScoreAdj takes it. */
  oomScoreAdj?: number;
  cpusetCpus?: string;
  cpusetMems?: string;
  hugepageLimits?: Array<{ pageSize: string; limit: number }>;
  unified?: Record<string, string>;
  memorySwapLimitInBytes?: number;
}

/** containerd's CRI settings for hugepages; absent fields take containerd's config defaults. */
export interface CRIResourcesPolicy {
  /**
   * [cri] tolerate_missing_hugetlb_controller (default true): on a host without the hugetlb
   * controller, skip hugepage limits. false fails every container with resources there,
   * hugepage limits or not, as containerd does.
   */
  tolerateMissingHugetlbController?: boolean;
  /** [cri] disable_hugetlb_controller (default true): never write hugepage limits. */
  disableHugetlbController?: boolean;
}

/**
 * Applies a CRI container's resources as containerd's CRI does (criopts.WithResources):
 * cpu and memory sections always made; a memory limit without a swap limit also limits
 * memory+swap to it where the host's cgroups can (no swapping by default); hugepage limits
 * only with the hugetlb controller (an error without it unless tolerated); unified keys merged.
 */
export function withCRIResources(resources: CRILinuxResources | undefined, policy: CRIResourcesPolicy = {}): SpecOpt {
  return (_ctx, spec) => {
    if (!resources) return;
    const cpu = ensureCpu(spec);
    const linuxResources = ensureLinux(spec).resources ?? {};
    ensureLinux(spec).resources = linuxResources;
    const memory = (linuxResources.memory ??= {});
    if (resources.cpuPeriod) cpu.period = resources.cpuPeriod;
    if (resources.cpuQuota) cpu.quota = resources.cpuQuota;
    if (resources.cpuShares) cpu.shares = resources.cpuShares;
    if (resources.cpusetCpus) cpu.cpus = resources.cpusetCpus;
    if (resources.cpusetMems) cpu.mems = resources.cpusetMems;
    const limit = resources.memoryLimitInBytes ?? 0;
    const swapLimit = resources.memorySwapLimitInBytes ?? 0;
    if (limit !== 0) {
      memory.limit = limit;
      if (swapLimit === 0 && swapControllerAvailable()) memory.swap = limit;
    }
    if (swapLimit !== 0) memory.swap = swapLimit;
    if (!(policy.disableHugetlbController ?? true)) {
      if (hugetlbControllerPresent()) {
        const limits = [...(linuxResources.hugepageLimits ?? []), ...(resources.hugepageLimits ?? []).map((h) => ({ pageSize: h.pageSize, limit: h.limit }))];
        if (limits.length > 0) linuxResources.hugepageLimits = limits;
      } else if (!(policy.tolerateMissingHugetlbController ?? true)) {
        throw new UnknownError(
          'huge pages limits are specified but hugetlb cgroup controller is missing. Please set tolerate_missing_hugetlb_controller to `true` to ignore this error',
        );
      }
    }
    if (resources.unified) {
      const merged = { ...(linuxResources.unified ?? {}), ...resources.unified };
      if (Object.keys(merged).length > 0) linuxResources.unified = merged;
    }
  };
}
