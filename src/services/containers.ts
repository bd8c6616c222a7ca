import type { ContainersHandlers } from '../generated/types/containerd/services/containers/v1/Containers';
import type { CreateContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/CreateContainerRequest';
import type { UpdateContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/UpdateContainerRequest';
import type { GetContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/GetContainerRequest';
import type { ListContainersRequest__Output } from '../generated/types/containerd/services/containers/v1/ListContainersRequest';
import type { ListContainerMessage } from '../generated/types/containerd/services/containers/v1/ListContainerMessage';
import type { DeleteContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/DeleteContainerRequest';
import { containerFromWire, containerToWire } from '../metadata/container-codec';
import { anyToWire } from '../proto/any';
import { EncodedMessage, messageOf } from '../proto/encoded';
import { InvalidArgumentError, verbatim } from '../errdefs/errors';
import { serverStream, unary, type AllowEncoded } from './call';
import { publish, type ServiceDeps } from './context';

export const CONTAINERS_SERVICE = 'containerd.services.containers.v1.Containers';

export function containersService(deps: ServiceDeps): AllowEncoded<ContainersHandlers> {
  const store = deps.containers;
  return {
    // Get, List and ListStream send the stored wire bytes as they are (field 1 of each
    // response message is the container), never decoding them.
    Get: unary(deps.log, 'Containers.Get', async (req: GetContainerRequest__Output, ctx) =>
      messageOf(1, [await store.getEncoded(ctx.namespace(), req.id)]),
    ),

    List: unary(deps.log, 'Containers.List', async (req: ListContainersRequest__Output, ctx) => {
      const parts: Buffer[] = [];
      for await (const bytes of store.iterateEncoded(ctx.namespace(), req.filters)) parts.push(bytes);
      return messageOf(1, parts);
    }),

    ListStream: serverStream<ListContainersRequest__Output, ListContainerMessage | EncodedMessage>(
      deps.log,
      'Containers.ListStream',
      async (req, ctx, send) => {
        for await (const bytes of store.iterateEncoded(ctx.namespace(), req.filters)) {
          await send(messageOf(1, [bytes]));
        }
      },
    ),

    Create: unary(deps.log, 'Containers.Create', async (req: CreateContainerRequest__Output, ctx) => {
      const ns = ctx.namespace();
      const created = await store.create(ns, containerFromWire(req.container));
      publish(deps, ns, '/containers/create', 'containerd.events.ContainerCreate', {
        id: created.id,
        image: created.image,
        runtime: { name: created.runtime.name, options: anyToWire(created.runtime.options) },
      });
      return { container: containerToWire(created) };
    }),

    Update: unary(deps.log, 'Containers.Update', async (req: UpdateContainerRequest__Output, ctx) => {
      if (!req.container?.id) throw verbatim(new InvalidArgumentError('Container.ID required'));
      const ns = ctx.namespace();
      const updated = await store.update(ns, containerFromWire(req.container), req.update_mask?.paths ?? []);
      publish(deps, ns, '/containers/update', 'containerd.events.ContainerUpdate', {
        id: updated.id,
        image: updated.image,
        labels: updated.labels,
        snapshot_key: updated.snapshotKey,
      });
      return { container: containerToWire(updated) };
    }),

    Delete: unary(deps.log, 'Containers.Delete', async (req: DeleteContainerRequest__Output, ctx) => {
      const ns = ctx.namespace();
      await store.delete(ns, req.id);
      publish(deps, ns, '/containers/delete', 'containerd.events.ContainerDelete', { id: req.id });
      deps.gc.schedule();
      return {};
    }),
  };
}
