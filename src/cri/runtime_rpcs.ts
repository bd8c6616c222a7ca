import type { RuntimeServiceHandlers } from '../generated/types/runtime/v1/RuntimeService';
import { unary } from '../services/call';
import { attachRpc, execRpc, portForwardRpc } from './container_streaming_rpcs';
import { getContainerEventsRpc } from './container_events';
import { podRpcs } from './pod_rpcs';
import type { CriDeps } from './service-deps';

/**
 * The RuntimeService's pod and container RPCs (RunPodSandbox … ListPodSandboxStats), one file
 * per RPC, built by the `crirt` work (sandbox_*.ts, container_*.ts). service-runtime.ts adds
 * Version, Status and UpdateRuntimeConfig and answers Unimplemented for whatever is missing.
 * This is the one place those handlers are collected: each RPC file adds its line here.
 */
export function runtimeRpcs(deps: CriDeps): Partial<RuntimeServiceHandlers> {
  const rpcs: Partial<RuntimeServiceHandlers> = podRpcs(deps.pods, deps.log);
  rpcs.GetContainerEvents = getContainerEventsRpc(deps.pods, deps.log);
  const server = deps.streaming;
  if (server) {
    rpcs.Exec = unary(deps.log, 'RuntimeService.Exec', (req) => execRpc(deps.pods, server, req));
    rpcs.Attach = unary(deps.log, 'RuntimeService.Attach', (req) => attachRpc(deps.pods, server, req));
    rpcs.PortForward = unary(deps.log, 'RuntimeService.PortForward', (req) => portForwardRpc(deps.pods, server, req));
  }
  return rpcs;
}
