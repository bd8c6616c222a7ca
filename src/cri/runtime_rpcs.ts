import type { RuntimeServiceHandlers } from '../generated/types/runtime/v1/RuntimeService';
import { podRpcs } from './pod_rpcs';
import type { CriDeps } from './service-deps';

/**
 * The RuntimeService's pod and container RPCs (RunPodSandbox … ListPodSandboxStats), one file
 * per RPC, built by the `crirt` work (sandbox_*.ts, container_*.ts). service-runtime.ts adds
 * Version, Status and UpdateRuntimeConfig and answers Unimplemented for whatever is missing.
 * This is the one place those handlers are collected: each RPC file adds its line here.
 */
export function runtimeRpcs(deps: CriDeps): Partial<RuntimeServiceHandlers> {
  return podRpcs(deps.pods, deps.log);
}
