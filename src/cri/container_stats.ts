// ContainerStats and ListContainerStats (containerd's container_stats.go and
// container_stats_list.go): cpu and memory from each running task's cgroup metrics, the
// writable layer's usage from the snapshotter.
import type { ContainerStatsRequest__Output } from '../generated/types/runtime/v1/ContainerStatsRequest';
import type { ContainerStatsResponse } from '../generated/types/runtime/v1/ContainerStatsResponse';
import type { ContainerStats } from '../generated/types/runtime/v1/ContainerStats';
import type { ListContainerStatsRequest__Output } from '../generated/types/runtime/v1/ListContainerStatsRequest';
import type { ListContainerStatsResponse } from '../generated/types/runtime/v1/ListContainerStatsResponse';
import { UnknownError } from '../errdefs/errors';
import type { WireAny } from '../proto/any';
import { K8S_NAMESPACE } from './constants';
import type { CriContainer } from './container_store';
import { findTask } from './core_ops';
import type { PodRuntime } from './pod_runtime';
import { completeId, matchLabels } from './sandbox_list';
import { usageFromMetrics } from './stats_metrics';
import { nowNanos } from './time';
import { wrapErr } from './wrap_error';

/** A task's metrics, or undefined when it has no running task (containerd's Tasks.Metrics skips those). */
export async function taskMetrics(rt: PodRuntime, id: string): Promise<WireAny | undefined> {
  const task = findTask(rt, id);
  if (!task) return undefined;
  try {
    return (await task.stats({ timeoutMs: 5000 })) ?? undefined;
  } catch {
    return undefined;
  }
}

export async function containerMetrics(rt: PodRuntime, c: CriContainer, data: WireAny | undefined): Promise<ContainerStats> {
  const m = c.metadata;
  let used = 0n;
  let inodes = 0n;
  const at = nowNanos();
  try {
    const u = await rt.deps.core.snapshotters.get(rt.config.snapshotter).view(K8S_NAMESPACE).usage(c.id);
    used = BigInt(u.size);
    inodes = BigInt(u.inodes);
  } catch {
    // no snapshot (removed meanwhile): zero, as containerd reports
  }
  const cs: ContainerStats = {
    attributes: { id: m.id, metadata: m.config.metadata, labels: m.config.labels, annotations: m.config.annotations },
    writable_layer: {
      timestamp: at.toString(),
      fs_id: { mountpoint: rt.config.imageFsPath },
      used_bytes: { value: used.toString() },
      inodes_used: { value: inodes.toString() },
    },
  };
  if (data) {
    const usage = usageFromMetrics(c.id, data, at, rt.cpuSamples);
    cs.cpu = usage.cpu;
    cs.memory = usage.memory;
  }
  return cs;
}

export async function containerStatsRpc(rt: PodRuntime, req: ContainerStatsRequest__Output): Promise<ContainerStatsResponse> {
  let c: CriContainer;
  try {
    c = rt.containers.get(req.container_id);
  } catch (err) {
    throw wrapErr('failed to find container', err);
  }
  const data = await taskMetrics(rt, c.id);
  if (!data) throw new UnknownError('unexpected metrics response: []');
  return { stats: await containerMetrics(rt, c, data) };
}

export async function listContainerStatsRpc(rt: PodRuntime, req: ListContainerStatsRequest__Output): Promise<ListContainerStatsResponse> {
  const f = req.filter;
  let list = rt.containers.list();
  if (f) {
    const id = completeId((x) => rt.containers.get(x), f.id);
    const sb = completeId((x) => rt.sandboxes.get(x), f.pod_sandbox_id);
    list = list.filter((c) => (id === '' || c.id === id) && (sb === '' || c.metadata.sandboxId === sb) && matchLabels(f.label_selector, c.metadata.config.labels));
  }
  const stats = await Promise.all(list.map(async (c) => containerMetrics(rt, c, await taskMetrics(rt, c.id))));
  return { stats };
}
