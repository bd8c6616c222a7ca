import type { SnapshotsHandlers } from '../generated/types/containerd/services/snapshots/v1/Snapshots';
import type { Info } from '../generated/types/containerd/services/snapshots/v1/Info';
import type { PrepareSnapshotRequest__Output } from '../generated/types/containerd/services/snapshots/v1/PrepareSnapshotRequest';
import type { ViewSnapshotRequest__Output } from '../generated/types/containerd/services/snapshots/v1/ViewSnapshotRequest';
import type { MountsRequest__Output } from '../generated/types/containerd/services/snapshots/v1/MountsRequest';
import type { CommitSnapshotRequest__Output } from '../generated/types/containerd/services/snapshots/v1/CommitSnapshotRequest';
import type { RemoveSnapshotRequest__Output } from '../generated/types/containerd/services/snapshots/v1/RemoveSnapshotRequest';
import type { StatSnapshotRequest__Output } from '../generated/types/containerd/services/snapshots/v1/StatSnapshotRequest';
import type { UpdateSnapshotRequest__Output } from '../generated/types/containerd/services/snapshots/v1/UpdateSnapshotRequest';
import type { ListSnapshotsRequest__Output } from '../generated/types/containerd/services/snapshots/v1/ListSnapshotsRequest';
import type { ListSnapshotsResponse } from '../generated/types/containerd/services/snapshots/v1/ListSnapshotsResponse';
import type { UsageRequest__Output } from '../generated/types/containerd/services/snapshots/v1/UsageRequest';
import type { CleanupRequest__Output } from '../generated/types/containerd/services/snapshots/v1/CleanupRequest';
import type { Mount as WireMount } from '../generated/types/containerd/types/Mount';
import { InvalidArgumentError } from '../errdefs/errors';
import type { Mount, SnapshotInfo, Snapshotter } from '../snapshotter/snapshotter';
import { toWireTimestamp } from '../proto/timestamp';
import { serverStream, unary, type CallContext } from './call';
import { publish, type ServiceDeps } from './context';

export const SNAPSHOTS_SERVICE = 'containerd.services.snapshots.v1.Snapshots';

const KIND = { view: 'VIEW', active: 'ACTIVE', committed: 'COMMITTED' } as const;

export function mountsToWire(mounts: readonly Mount[]): WireMount[] {
  return mounts.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: [...m.options] }));
}

export function mountsFromWire(mounts: readonly { type: string; source: string; target: string; options: string[] }[]): Mount[] {
  return mounts.map((m) => ({ type: m.type, source: m.source, target: m.target || undefined, options: [...m.options] }));
}

function infoToWire(i: SnapshotInfo): Info {
  return {
    name: i.name,
    parent: i.parent,
    kind: KIND[i.kind],
    created_at: toWireTimestamp(i.createdAt),
    updated_at: toWireTimestamp(i.updatedAt),
    labels: i.labels,
  };
}

export function snapshotsService(deps: ServiceDeps): SnapshotsHandlers {
  const sn = (ctx: CallContext, name: string): Snapshotter => {
    if (!name) throw new InvalidArgumentError('snapshotter argument missing');
    return deps.snapshotters.get(name).view(ctx.namespace(), ctx.lease());
  };
  return {
    Prepare: unary(deps.log, 'Snapshots.Prepare', async (req: PrepareSnapshotRequest__Output, ctx) => {
      const mounts = await sn(ctx, req.snapshotter).prepare(req.key, req.parent, req.labels);
      publish(deps, ctx.namespace(), '/snapshot/prepare', 'containerd.events.SnapshotPrepare', { key: req.key, parent: req.parent });
      return { mounts: mountsToWire(mounts) };
    }),

    View: unary(deps.log, 'Snapshots.View', async (req: ViewSnapshotRequest__Output, ctx) => ({
      mounts: mountsToWire(await sn(ctx, req.snapshotter).view(req.key, req.parent, req.labels)),
    })),

    Mounts: unary(deps.log, 'Snapshots.Mounts', async (req: MountsRequest__Output, ctx) => ({
      mounts: mountsToWire(await sn(ctx, req.snapshotter).mounts(req.key)),
    })),

    Commit: unary(deps.log, 'Snapshots.Commit', async (req: CommitSnapshotRequest__Output, ctx) => {
      await sn(ctx, req.snapshotter).commit(req.name, req.key, req.labels);
      publish(deps, ctx.namespace(), '/snapshot/commit', 'containerd.events.SnapshotCommit', { key: req.key, name: req.name });
      return {};
    }),

    Remove: unary(deps.log, 'Snapshots.Remove', async (req: RemoveSnapshotRequest__Output, ctx) => {
      await sn(ctx, req.snapshotter).remove(req.key);
      publish(deps, ctx.namespace(), '/snapshot/remove', 'containerd.events.SnapshotRemove', { key: req.key });
      deps.gc.schedule();
      return {};
    }),

    Stat: unary(deps.log, 'Snapshots.Stat', async (req: StatSnapshotRequest__Output, ctx) => ({
      info: infoToWire(await sn(ctx, req.snapshotter).stat(req.key)),
    })),

    Update: unary(deps.log, 'Snapshots.Update', async (req: UpdateSnapshotRequest__Output, ctx) => ({
      info: infoToWire(
        await sn(ctx, req.snapshotter).update({ name: req.info?.name ?? '', labels: req.info?.labels ?? {} }, req.update_mask?.paths ?? []),
      ),
    })),

    List: serverStream<ListSnapshotsRequest__Output, ListSnapshotsResponse>(deps.log, 'Snapshots.List', async (req, ctx, send) => {
      let block: Info[] = [];
      for await (const info of sn(ctx, req.snapshotter).list(req.filters)) {
        block.push(infoToWire(info));
        if (block.length >= 100) {
          await send({ info: block });
          block = [];
        }
      }
      if (block.length > 0) await send({ info: block });
    }),

    Usage: unary(deps.log, 'Snapshots.Usage', async (req: UsageRequest__Output, ctx) => {
      const u = await sn(ctx, req.snapshotter).usage(req.key);
      return { size: u.size, inodes: u.inodes };
    }),

    Cleanup: unary(deps.log, 'Snapshots.Cleanup', async (req: CleanupRequest__Output, ctx) => {
      await sn(ctx, req.snapshotter).cleanup();
      return {};
    }),
  };
}
