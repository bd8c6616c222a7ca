import { randomBytes } from 'node:crypto';
import type { LeasesHandlers } from '../generated/types/containerd/services/leases/v1/Leases';
import type { CreateRequest__Output } from '../generated/types/containerd/services/leases/v1/CreateRequest';
import type { DeleteRequest__Output } from '../generated/types/containerd/services/leases/v1/DeleteRequest';
import type { ListRequest__Output } from '../generated/types/containerd/services/leases/v1/ListRequest';
import type { AddResourceRequest__Output } from '../generated/types/containerd/services/leases/v1/AddResourceRequest';
import type { DeleteResourceRequest__Output } from '../generated/types/containerd/services/leases/v1/DeleteResourceRequest';
import type { ListResourcesRequest__Output } from '../generated/types/containerd/services/leases/v1/ListResourcesRequest';
import type { LeaseRecord } from '../metadata/records';
import { toWireTimestamp } from '../proto/timestamp';
import { unary } from './call';
import type { ServiceDeps } from './context';

export const LEASES_SERVICE = 'containerd.services.leases.v1.Leases';

/** containerd's random lease id: the nanosecond part of now and 3 random bytes, base64url. */
export function randomLeaseId(): string {
  const nanos = Number(process.hrtime.bigint() % 1_000_000_000n);
  return `${nanos}-${randomBytes(3).toString('base64url')}`;
}

function leaseToWire(l: LeaseRecord): { id: string; created_at: ReturnType<typeof toWireTimestamp>; labels: Record<string, string> } {
  return { id: l.id, created_at: toWireTimestamp(l.createdAt), labels: l.labels };
}

export function leasesService(deps: ServiceDeps): LeasesHandlers {
  const store = deps.leases;
  return {
    Create: unary(deps.log, 'Leases.Create', async (req: CreateRequest__Output, ctx) => {
      const l = await store.create(ctx.namespace(), req.id || randomLeaseId(), req.labels);
      return { lease: leaseToWire(l) };
    }),

    Delete: unary(deps.log, 'Leases.Delete', async (req: DeleteRequest__Output, ctx) => {
      await store.delete(ctx.namespace(), req.id);
      if (req.sync) await deps.gc.runNow();
      else deps.gc.schedule();
      return {};
    }),

    List: unary(deps.log, 'Leases.List', async (req: ListRequest__Output, ctx) => {
      const list = await store.list(ctx.namespace(), req.filters);
      return { leases: list.map(leaseToWire) };
    }),

    AddResource: unary(deps.log, 'Leases.AddResource', async (req: AddResourceRequest__Output, ctx) => {
      await store.addResource(ctx.namespace(), req.id, { id: req.resource?.id ?? '', type: req.resource?.type ?? '' });
      return {};
    }),

    DeleteResource: unary(deps.log, 'Leases.DeleteResource', async (req: DeleteResourceRequest__Output, ctx) => {
      await store.deleteResource(ctx.namespace(), req.id, {
        id: req.resource?.id ?? '',
        type: req.resource?.type ?? '',
      });
      deps.gc.schedule();
      return {};
    }),

    ListResources: unary(deps.log, 'Leases.ListResources', async (req: ListResourcesRequest__Output, ctx) => {
      const resources = await store.listResources(ctx.namespace(), req.id);
      return { resources };
    }),
  };
}
