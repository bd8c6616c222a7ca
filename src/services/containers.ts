import type { ContainersHandlers } from '../generated/types/containerd/services/containers/v1/Containers';
import type { Container, Container__Output } from '../generated/types/containerd/services/containers/v1/Container';
import type { CreateContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/CreateContainerRequest';
import type { UpdateContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/UpdateContainerRequest';
import type { GetContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/GetContainerRequest';
import type { ListContainersRequest__Output } from '../generated/types/containerd/services/containers/v1/ListContainersRequest';
import type { ListContainerMessage } from '../generated/types/containerd/services/containers/v1/ListContainerMessage';
import type { DeleteContainerRequest__Output } from '../generated/types/containerd/services/containers/v1/DeleteContainerRequest';
import type { ContainerRecord, AnyValue } from '../metadata/records';
import type { NewContainer } from '../metadata/containers';
import { anyFromWire, anyToWire, type WireAny } from '../proto/any';
import { toWireTimestamp } from '../proto/timestamp';
import { InvalidArgumentError, verbatim } from '../errdefs/errors';
import { serverStream, unary } from './call';
import { publish, type ServiceDeps } from './context';

export const CONTAINERS_SERVICE = 'containerd.services.containers.v1.Containers';

export function containerToWire(c: ContainerRecord): Container {
  const extensions: Record<string, WireAny> = {};
  for (const [k, v] of Object.entries(c.extensions)) extensions[k] = { type_url: v.typeUrl, value: v.value };
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: { name: c.runtime.name, options: anyToWire(c.runtime.options) },
    spec: anyToWire(c.spec),
    snapshotter: c.snapshotter,
    snapshot_key: c.snapshotKey,
    created_at: toWireTimestamp(c.createdAt),
    updated_at: toWireTimestamp(c.updatedAt),
    extensions,
  };
}

export function containerFromWire(c: Container__Output | null): NewContainer {
  const extensions: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(c?.extensions ?? {})) {
    const a = anyFromWire(v);
    if (a) extensions[k] = a;
  }
  return {
    id: c?.id ?? '',
    labels: { ...(c?.labels ?? {}) },
    image: c?.image ?? '',
    runtime: { name: c?.runtime?.name ?? '', options: anyFromWire(c?.runtime?.options) },
    spec: anyFromWire(c?.spec),
    snapshotter: c?.snapshotter ?? '',
    snapshotKey: c?.snapshot_key ?? '',
    extensions,
  };
}

export function containersService(deps: ServiceDeps): ContainersHandlers {
  const store = deps.containers;
  return {
    Get: unary(deps.log, 'Containers.Get', async (req: GetContainerRequest__Output, ctx) => {
      const c = await store.get(ctx.namespace(), req.id);
      return { container: containerToWire(c) };
    }),

    List: unary(deps.log, 'Containers.List', async (req: ListContainersRequest__Output, ctx) => {
      const list = await store.list(ctx.namespace(), req.filters);
      return { containers: list.map(containerToWire) };
    }),

    ListStream: serverStream<ListContainersRequest__Output, ListContainerMessage>(
      deps.log,
      'Containers.ListStream',
      async (req, ctx, send) => {
        for await (const c of store.iterate(ctx.namespace(), req.filters)) {
          await send({ container: containerToWire(c) });
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
