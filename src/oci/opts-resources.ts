// cgroup resource limits (containerd's WithMemoryLimit, WithMemorySwap, WithCPUShares,
// WithCPUs, WithCPUsMems, WithCPUCFS, WithPidsLimit). As in containerd, WithCPUs is the
// cpuset ("0-2"); a CPU count such as ctr's --cpus 1.5 is WithCPUCFS(150000, 100000).
import type { SpecOpt } from './spec-opt';
import { ensureCpu, ensureResources, setString } from './spec-sections';
import type { LinuxMemory, Spec } from './spec-types';

function ensureMemory(spec: Spec): LinuxMemory {
  const resources = ensureResources(spec);
  if (!resources.memory) resources.memory = {};
  return resources.memory;
}

/** Memory limit in bytes (containerd's WithMemoryLimit). */
export function withMemoryLimit(bytes: number): SpecOpt {
  return (_ctx, spec) => {
    if (!spec.linux) return;
    ensureMemory(spec).limit = bytes;
  };
}

/** Memory + swap limit in bytes, -1 unlimited (containerd's WithMemorySwap). */
export function withMemorySwap(bytes: number): SpecOpt {
  return (_ctx, spec) => {
    ensureMemory(spec).swap = bytes;
  };
}

/** CPU shares, the relative weight (containerd's WithCPUShares). */
export function withCPUShares(shares: number): SpecOpt {
  return (_ctx, spec) => {
    ensureCpu(spec).shares = shares;
  };
}

/** The CPUs the container may run on, a cpuset list like "0-2,4" (containerd's WithCPUs). */
export function withCPUs(cpus: string): SpecOpt {
  return (_ctx, spec) => setString(ensureCpu(spec), 'cpus', cpus);
}

/** The memory nodes the container may use, like "0" (containerd's WithCPUsMems). */
export function withCPUsMems(mems: string): SpecOpt {
  return (_ctx, spec) => setString(ensureCpu(spec), 'mems', mems);
}

/** CFS quota and period in microseconds: quota/period CPUs at most (containerd's WithCPUCFS). */
export function withCPUCFS(quota: number, period: number): SpecOpt {
  return (_ctx, spec) => {
    const cpu = ensureCpu(spec);
    cpu.quota = quota;
    cpu.period = period;
  };
}

/** The most processes (pids) the container may have (containerd's WithPidsLimit). */
export function withPidsLimit(limit: number): SpecOpt {
  return (_ctx, spec) => {
    const resources = ensureResources(spec);
    resources.pids = { limit };
  };
}
