// RemoveContainer (containerd's container_remove.go): a running container is killed first;
// then the core record and snapshot, the status checkpoint, the FIFOs go. An unknown id is
// not an error.
import { promises as fsp } from 'node:fs';
import type { RemoveContainerRequest__Output } from '../generated/types/runtime/v1/RemoveContainerRequest';
import type { RemoveContainerResponse } from '../generated/types/runtime/v1/RemoveContainerResponse';
import { NotFoundError, UnknownError } from '../errdefs/errors';
import { stateOf } from './container_status_file';
import { stopContainer } from './container_stop';
import type { CriContainer } from './container_store';
import { sendContainerEvent } from './container_events';
import { deleteCoreContainer } from './core_ops';
import type { PodRuntime } from './pod_runtime';
import { wrapErr } from './wrap_error';

export async function removeContainerRpc(rt: PodRuntime, req: RemoveContainerRequest__Output): Promise<RemoveContainerResponse> {
  let c: CriContainer;
  try {
    c = rt.containers.get(req.container_id);
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw wrapErr(`an error occurred when try to find container "${req.container_id}"`, err);
  }
  await removeContainer(rt, c);
  return {};
}

export async function removeContainer(rt: PodRuntime, c: CriContainer): Promise<void> {
  const id = c.id;
  const state = stateOf(c.status.get());
  if (state === 'CONTAINER_RUNNING' || state === 'CONTAINER_UNKNOWN') {
    try {
      await stopContainer(rt, c, 0);
    } catch (err) {
      throw wrapErr(`failed to forcibly stop container "${id}"`, err);
    }
  }
  try {
    c.status.update((s) => {
      const st = stateOf(s);
      if (st === 'CONTAINER_RUNNING') throw new UnknownError('container is still running, to stop first');
      if (st === 'CONTAINER_UNKNOWN') throw new UnknownError('container state is unknown, to stop first');
      if (s.starting) throw new UnknownError("container is in starting state, can't be removed");
      if (s.removing) throw new UnknownError('container is already in removing state');
      return { ...s, removing: true };
    });
  } catch (err) {
    throw wrapErr(`failed to set removing state for container "${id}"`, err);
  }
  try {
    try {
      await deleteCoreContainer(rt, id);
    } catch (err) {
      throw wrapErr(`failed to delete containerd container "${id}"`, err);
    }
    c.output?.close();
    await c.status.delete();
    await fsp.rm(rt.containerRootDir(id), { recursive: true, force: true });
    await fsp.rm(rt.containerStateDir(id), { recursive: true, force: true });
  } catch (err) {
    c.status.update((s) => ({ ...s, removing: false }));
    throw err;
  }
  rt.containers.delete(id);
  rt.containerNames.releaseById(id);
  rt.cpuSamples.forget(id);
  sendContainerEvent(rt, 'CONTAINER_DELETED_EVENT', id, c.metadata.sandboxId);
}
