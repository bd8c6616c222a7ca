// StopPodSandbox (containerd 1.6's sandbox_stop.go): kill every container of the pod, the
// pause task, then CNI DEL — also when the pause task already died — and remove the netns.
// Stopping twice is fine, and so is stopping an unknown id (the CRI calls StopPodSandbox
// idempotent: kubelet retries it for pods already removed; containerd 1.6 answers NotFound,
// later containerd OK, which critest's Idempotence spec checks).
import type { StopPodSandboxRequest__Output } from '../generated/types/runtime/v1/StopPodSandboxRequest';
import type { StopPodSandboxResponse } from '../generated/types/runtime/v1/StopPodSandboxResponse';
import { NotFoundError } from '../errdefs/errors';
import { stopContainer } from './container_stop';
import { findTask } from './core_ops';
import { handleSandboxExit } from './exit_monitor';
import { findSandbox } from './lookup';
import type { PodRuntime } from './pod_runtime';
import { cleanupSandboxFiles } from './sandbox_files';
import { podNetworkOptions } from './sandbox_network';
import type { Sandbox } from './sandbox_store';
import { wrapErr } from './wrap_error';
import { UNKNOWN_EXIT_CODE } from './constants';

const SIGKILL = 9;

export async function stopPodSandboxRpc(rt: PodRuntime, req: StopPodSandboxRequest__Output): Promise<StopPodSandboxResponse> {
  let sb: Sandbox;
  try {
    sb = findSandbox(rt, req.pod_sandbox_id);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    rt.log.debug('StopPodSandbox of an unknown pod', { id: req.pod_sandbox_id });
    return {};
  }
  await stopPodSandbox(rt, sb);
  return {};
}

export async function stopPodSandbox(rt: PodRuntime, sb: Sandbox): Promise<void> {
  const id = sb.id;
  for (const c of rt.containers.ofSandbox(id)) {
    try {
      await stopContainer(rt, c, 0);
    } catch (err) {
      throw wrapErr(`failed to stop container "${c.id}"`, err);
    }
  }
  try {
    cleanupSandboxFiles(rt, id, sb.metadata.config);
  } catch (err) {
    throw wrapErr('failed to cleanup sandbox files', err);
  }
  const state = sb.status().state;
  if (state === 'ready' || state === 'unknown') {
    try {
      await stopSandboxContainer(rt, sb);
    } catch (err) {
      throw wrapErr(`failed to stop sandbox container "${id}" in "${state === 'ready' ? 'SANDBOX_READY' : 'SANDBOX_UNKNOWN'}" state`, err);
    }
  }
  const netns = sb.metadata.netnsPath;
  if (netns !== '') {
    // CNI's spec: DEL with an empty netns path when the namespace is gone already.
    const path = rt.deps.netns.exists(netns) ? netns : '';
    try {
      await rt.deps.network.teardown(id, path, podNetworkOptions(id, sb.metadata.config));
    } catch (err) {
      throw wrapErr(`failed to destroy network for sandbox "${id}"`, err);
    }
    try {
      await rt.deps.netns.remove(netns);
    } catch (err) {
      throw wrapErr(`failed to remove network namespace for sandbox "${id}"`, err);
    }
  }
}

async function stopSandboxContainer(rt: PodRuntime, sb: Sandbox): Promise<void> {
  const task = findTask(rt, sb.id);
  if (!task) {
    if (sb.status().state === 'unknown') await handleSandboxExit(rt, sb, { pid: 0, exitStatus: UNKNOWN_EXIT_CODE, exitedAt: null });
    return;
  }
  await task.kill('', SIGKILL, false).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw wrapErr('failed to kill sandbox container', err);
  });
  await sb.stopped.wait();
}
