// RemovePodSandbox (containerd 1.6.20's sandbox_remove.go): stops the pod forcibly if it
// still runs, then removes its containers, its files, the pause container's record and
// snapshot. An unknown id is not an error.
import type { RemovePodSandboxRequest__Output } from '../generated/types/runtime/v1/RemovePodSandboxRequest';
import type { RemovePodSandboxResponse } from '../generated/types/runtime/v1/RemovePodSandboxResponse';
import { NotFoundError, UnknownError } from '../errdefs/errors';
import { removeContainer } from './container_remove';
import { sendContainerEvent } from './container_events';
import { deleteCoreContainer } from './core_ops';
import type { PodRuntime } from './pod_runtime';
import { removeSandboxDirs } from './sandbox_files';
import { stopPodSandbox } from './sandbox_stop';
import type { Sandbox } from './sandbox_store';
import { wrapErr } from './wrap_error';

export async function removePodSandboxRpc(rt: PodRuntime, req: RemovePodSandboxRequest__Output): Promise<RemovePodSandboxResponse> {
  let sb: Sandbox;
  try {
    sb = rt.sandboxes.get(req.pod_sandbox_id);
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw wrapErr(`an error occurred when try to find sandbox "${req.pod_sandbox_id}"`, err);
  }
  const id = sb.id;
  try {
    await stopPodSandbox(rt, sb);
  } catch (err) {
    throw wrapErr(`failed to forcibly stop sandbox "${id}"`, err);
  }
  const netns = sb.metadata.netnsPath;
  if (netns !== '' && rt.deps.netns.exists(netns)) {
    throw new UnknownError(`sandbox network namespace "${netns}" is not fully closed`);
  }
  for (const c of rt.containers.ofSandbox(id)) {
    try {
      await removeContainer(rt, c);
    } catch (err) {
      throw wrapErr(`failed to remove container "${c.id}"`, err);
    }
  }
  await removeSandboxDirs(rt, id).catch((err: unknown) => {
    throw wrapErr(`failed to remove sandbox root directory "${rt.sandboxRootDir(id)}"`, err);
  });
  try {
    await deleteCoreContainer(rt, id);
  } catch (err) {
    throw wrapErr(`failed to delete sandbox container "${id}"`, err);
  }
  // Sent while the pod is still in the store, so that the event carries its status.
  sendContainerEvent(rt, 'CONTAINER_DELETED_EVENT', id, id);
  rt.sandboxes.delete(id);
  rt.sandboxNames.releaseById(id);
  rt.cpuSamples.forget(id);
  return {};
}

