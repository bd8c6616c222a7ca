// PodSandboxStats and ListPodSandboxStats (containerd's sandbox_stats*.go): the pod's cpu
// and memory from the pod's cgroup (the cgroup parent all its containers live under, as
// containerd reads it), its default interface's counters read in the pod's network
// namespace, its process count, and its containers' stats.
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { cgroupOfPid, readStats, type CgroupRef } from '../shim/cgroups';
import type { WireAny } from '../proto/any';
import type { PodSandboxStatsRequest__Output } from '../generated/types/runtime/v1/PodSandboxStatsRequest';
import type { PodSandboxStatsResponse } from '../generated/types/runtime/v1/PodSandboxStatsResponse';
import type { PodSandboxStats } from '../generated/types/runtime/v1/PodSandboxStats';
import type { ListPodSandboxStatsRequest__Output } from '../generated/types/runtime/v1/ListPodSandboxStatsRequest';
import type { ListPodSandboxStatsResponse } from '../generated/types/runtime/v1/ListPodSandboxStatsResponse';
import { UnavailableError } from '../errdefs/errors';
import { DEFAULT_IF_NAME } from './constants';
import { containerMetrics, taskMetrics } from './container_stats';
import { stateOf } from './container_status_file';
import { findTask } from './core_ops';
import type { PodRuntime } from './pod_runtime';
import { completeId, matchLabels } from './sandbox_list';
import type { Sandbox } from './sandbox_store';
import { usageFromMetrics } from './stats_metrics';
import { nowNanos } from './time';
import { wrapErr } from './wrap_error';

/**
 * The pod's cgroup: with a cgroup parent, the pause container's cgroup is <parent>/<pod id>
 * and every container's <parent>/<container id>, so the parent holds them all (kubelet's pod
 * cgroup). Found from where the pause process really is (/proc/<pid>/cgroup), each
 * controller's directory one level up. Undefined without a cgroup parent: each container
 * then has a cgroup of its own under the namespace's, and no cgroup is the pod's.
 */
export function podCgroupOf(sandboxId: string, cgroupParent: string, pausePid: number): CgroupRef | undefined {
  if (cgroupParent === '' || pausePid <= 0) return undefined;
  const pause = cgroupOfPid(pausePid);
  if (!pause) return undefined;
  return podCgroupFromPause(sandboxId, pause);
}

/** The parent of the pause container's cgroup, per controller (only those where the pause
 * process sits in a cgroup named after the pod: a controller runc did not join is left out). */
export function podCgroupFromPause(sandboxId: string, pause: CgroupRef): CgroupRef | undefined {
  if (pause.mode === 'v2') return path.basename(pause.dir) === sandboxId ? { mode: 'v2', dir: path.dirname(pause.dir) } : undefined;
  const dirs = new Map<string, string>();
  for (const [controller, dir] of pause.dirs) if (path.basename(dir) === sandboxId) dirs.set(controller, path.dirname(dir));
  return dirs.size > 0 ? { mode: 'v1', dirs } : undefined;
}

/** The pod's cgroup metrics (as a shim's Stats answers them), or the pause task's when the
 * pod has no cgroup of its own. */
async function podMetrics(rt: PodRuntime, sb: Sandbox): Promise<WireAny | undefined> {
  const cg = podCgroupOf(sb.id, sb.metadata.config.linux?.cgroup_parent ?? '', sb.status().pid);
  if (!cg) return taskMetrics(rt, sb.id);
  const { typeUrl, value } = readStats(cg);
  return { type_url: typeUrl, value };
}

/** rx/tx bytes and errors of one interface from /proc/<pid>/net/dev: the file shows the
 * network namespace of the process, here the pause process's, which is the pod's. */
async function interfaceCounters(pid: number, name: string): Promise<{ rxBytes: bigint; rxErrors: bigint; txBytes: bigint; txErrors: bigint } | undefined> {
  let text: string;
  try {
    text = await fsp.readFile(`/proc/${pid}/net/dev`, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    const [iface, rest] = line.split(':');
    if (rest === undefined || iface?.trim() !== name) continue;
    const f = rest.trim().split(/\s+/).map((x) => BigInt(x));
    return { rxBytes: f[0] ?? 0n, rxErrors: f[2] ?? 0n, txBytes: f[8] ?? 0n, txErrors: f[10] ?? 0n };
  }
  return undefined;
}

async function podSandboxStats(rt: PodRuntime, sb: Sandbox): Promise<PodSandboxStats> {
  const m = sb.metadata;
  if (sb.status().state !== 'ready') {
    throw new UnavailableError(`failed to get pod sandbox stats since sandbox container "${m.id}" is not in ready state`);
  }
  const stats: PodSandboxStats = {
    attributes: { id: m.id, metadata: m.config.metadata, labels: m.config.labels, annotations: m.config.annotations },
    linux: {},
  };
  // The containers' stats are read before the pod's: the pod's cgroup, read last, holds at
  // least what they held (it contains them), so a client sees the pod >= its containers.
  const containers = rt.containers.ofSandbox(m.id);
  const containerStats = await Promise.all(containers.map(async (c) => containerMetrics(rt, c, await taskMetrics(rt, c.id))));
  const data = await podMetrics(rt, sb);
  if (!data) return stats;
  const at = nowNanos();
  const usage = usageFromMetrics(m.id, data, at, rt.cpuSamples);
  const linux = stats.linux!;
  linux.cpu = usage.cpu;
  linux.memory = usage.memory;
  const pid = sb.status().pid;
  if (m.netnsPath !== '' && pid > 0) {
    const c = await interfaceCounters(pid, DEFAULT_IF_NAME);
    if (c) {
      linux.network = {
        timestamp: at.toString(),
        default_interface: {
          name: DEFAULT_IF_NAME,
          rx_bytes: { value: c.rxBytes.toString() },
          rx_errors: { value: c.rxErrors.toString() },
          tx_bytes: { value: c.txBytes.toString() },
          tx_errors: { value: c.txErrors.toString() },
        },
      };
    }
  }
  let pids = 0;
  for (const c of containers) {
    if (stateOf(c.status.get()) !== 'CONTAINER_RUNNING') continue;
    const task = findTask(rt, c.id);
    if (!task) continue;
    pids += (await task.pids().catch(() => [])).length;
  }
  linux.process = { timestamp: at.toString(), process_count: { value: String(pids) } };
  linux.containers = containerStats;
  return stats;
}

export async function podSandboxStatsRpc(rt: PodRuntime, req: PodSandboxStatsRequest__Output): Promise<PodSandboxStatsResponse> {
  let sb: Sandbox;
  try {
    sb = rt.sandboxes.get(req.pod_sandbox_id);
  } catch (err) {
    throw wrapErr(`an error occurred when trying to find sandbox ${req.pod_sandbox_id}`, err);
  }
  try {
    return { stats: await podSandboxStats(rt, sb) };
  } catch (err) {
    throw wrapErr(`failed to decode sandbox container metrics for sandbox "${req.pod_sandbox_id}"`, err);
  }
}

export async function listPodSandboxStatsRpc(rt: PodRuntime, req: ListPodSandboxStatsRequest__Output): Promise<ListPodSandboxStatsResponse> {
  const f = req.filter;
  let list = rt.sandboxes.list();
  if (f) {
    const id = completeId((x) => rt.sandboxes.get(x), f.id);
    list = list.filter((sb) => (id === '' || sb.id === id) && matchLabels(f.label_selector, sb.metadata.config.labels));
  }
  const stats: PodSandboxStats[] = [];
  for (const sb of list) {
    // Pods that are not ready have no stats; containerd skips them with a log line.
    if (sb.status().state !== 'ready') continue;
    try {
      stats.push(await podSandboxStats(rt, sb));
    } catch (err) {
      rt.log.debug('pod sandbox stats', { id: sb.id, error: err as Error });
    }
  }
  return { stats };
}
