// UpdateContainerResources (containerd's container_update_resources.go): the new limits go
// into the recorded spec (the source of truth, also for a container not started yet) and,
// for a running container, to its task; the status reports them. A failure to apply puts
// the old spec back.
import type { UpdateContainerResourcesRequest__Output } from '../generated/types/runtime/v1/UpdateContainerResourcesRequest';
import type { UpdateContainerResourcesResponse } from '../generated/types/runtime/v1/UpdateContainerResourcesResponse';
import { NotFoundError, UnknownError } from '../errdefs/errors';
import type { Spec } from '../oci';
import { K8S_NAMESPACE } from './constants';
import { resourcesOf } from './container_create';
import { withCRIResources } from '../oci';
import { criResources } from './container_spec';
import { stateOf } from './container_status_file';
import { findTask, updateCoreContainer } from './core_ops';
import type { PodRuntime } from './pod_runtime';
import { wrapErr } from './wrap_error';

const RESOURCES_TYPE_URL = 'types.containerd.io/opencontainers/runtime-spec/1/LinuxResources';

export async function updateContainerResourcesRpc(rt: PodRuntime, req: UpdateContainerResourcesRequest__Output): Promise<UpdateContainerResourcesResponse> {
  let c;
  try {
    c = rt.containers.get(req.container_id);
  } catch (err) {
    throw wrapErr('failed to find container', err);
  }
  const id = c.id;
  // Applied inside the status update, so a start or another update cannot interleave.
  let newSpec: Spec | undefined;
  let oldSpec: Spec | undefined;
  const prepared = async (): Promise<void> => {
    const s = c.status.get();
    if (s.removing) throw new UnknownError(`container "${id}" is in removing state`);
    const record = await rt.deps.core.containers.get(K8S_NAMESPACE, id);
    oldSpec = JSON.parse(record.spec?.value.toString('utf8') ?? '{}') as Spec;
    const next = JSON.parse(JSON.stringify(oldSpec)) as Spec;
    next.linux ??= {};
    await withCRIResources(criResources(req.linux))({ namespace: K8S_NAMESPACE, containerId: id }, next);
    newSpec = next;
    await updateCoreContainer(rt, id, { spec: next });
    if (stateOf(s) !== 'CONTAINER_RUNNING') return;
    const task = findTask(rt, id);
    if (!task) return;
    try {
      await task.update({ type_url: RESOURCES_TYPE_URL, value: Buffer.from(JSON.stringify(next.linux?.resources ?? {})) }, {});
    } catch (err) {
      if (err instanceof NotFoundError) return;
      await updateCoreContainer(rt, id, { spec: oldSpec }).catch(() => undefined);
      newSpec = undefined;
      throw wrapErr('failed to update resources', err);
    }
  };
  try {
    await prepared();
    if (newSpec) {
      const spec = newSpec;
      await c.status.updateSync((s) => ({ ...s, resources: resourcesOf(spec) }));
    }
  } catch (err) {
    throw wrapErr('failed to update resources', err);
  }
  return {};
}
