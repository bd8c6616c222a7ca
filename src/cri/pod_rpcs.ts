// The RuntimeService's pod and container RPCs as gRPC handlers, one RPC file each; the
// service wiring (service-runtime.ts) merges them with Version, Status and
// UpdateRuntimeConfig.
import type { RuntimeServiceHandlers } from '../generated/types/runtime/v1/RuntimeService';
import type { Logger } from '../log/logger';
import { unary } from '../services/call';
import { createContainerRpc } from './container_create';
import { execSyncRpc } from './container_execsync';
import { reopenContainerLogRpc } from './container_log_reopen';
import { removeContainerRpc } from './container_remove';
import { startContainerRpc } from './container_start';
import { containerStatsRpc, listContainerStatsRpc } from './container_stats';
import { containerStatusRpc, listContainersRpc } from './container_status';
import { stopContainerRpc } from './container_stop';
import { updateContainerResourcesRpc } from './container_update';
import type { PodRuntime } from './pod_runtime';
import { listPodSandboxRpc } from './sandbox_list';
import { removePodSandboxRpc } from './sandbox_remove';
import { runPodSandbox } from './sandbox_run';
import { listPodSandboxStatsRpc, podSandboxStatsRpc } from './sandbox_stats';
import { podSandboxStatusRpc } from './sandbox_status';
import { stopPodSandboxRpc } from './sandbox_stop';

type PodRpcNames =
  | 'RunPodSandbox' | 'StopPodSandbox' | 'RemovePodSandbox' | 'PodSandboxStatus' | 'ListPodSandbox'
  | 'CreateContainer' | 'StartContainer' | 'StopContainer' | 'RemoveContainer' | 'ListContainers' | 'ContainerStatus'
  | 'UpdateContainerResources' | 'ReopenContainerLog' | 'ExecSync'
  | 'ContainerStats' | 'ListContainerStats' | 'PodSandboxStats' | 'ListPodSandboxStats';

export function podRpcs(rt: PodRuntime, log: Logger): Pick<RuntimeServiceHandlers, PodRpcNames> {
  const u = <Req, Res>(name: string, fn: (rt: PodRuntime, req: Req) => Promise<Res>) => unary<Req, Res>(log, `RuntimeService.${name}`, (req) => fn(rt, req));
  return {
    RunPodSandbox: u('RunPodSandbox', runPodSandbox),
    StopPodSandbox: u('StopPodSandbox', stopPodSandboxRpc),
    RemovePodSandbox: u('RemovePodSandbox', removePodSandboxRpc),
    PodSandboxStatus: u('PodSandboxStatus', podSandboxStatusRpc),
    ListPodSandbox: u('ListPodSandbox', listPodSandboxRpc),
    CreateContainer: u('CreateContainer', createContainerRpc),
    StartContainer: u('StartContainer', startContainerRpc),
    StopContainer: u('StopContainer', stopContainerRpc),
    RemoveContainer: u('RemoveContainer', removeContainerRpc),
    ListContainers: u('ListContainers', listContainersRpc),
    ContainerStatus: u('ContainerStatus', containerStatusRpc),
    UpdateContainerResources: u('UpdateContainerResources', updateContainerResourcesRpc),
    ReopenContainerLog: u('ReopenContainerLog', reopenContainerLogRpc),
    ExecSync: u('ExecSync', execSyncRpc),
    ContainerStats: u('ContainerStats', containerStatsRpc),
    ListContainerStats: u('ListContainerStats', listContainerStatsRpc),
    PodSandboxStats: u('PodSandboxStats', podSandboxStatsRpc),
    ListPodSandboxStats: u('ListPodSandboxStats', listPodSandboxStatsRpc),
  };
}
