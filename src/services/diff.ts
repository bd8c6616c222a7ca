import type { DiffHandlers } from '../generated/types/containerd/services/diff/v1/Diff';
import type { ApplyRequest__Output } from '../generated/types/containerd/services/diff/v1/ApplyRequest';
import type { DiffRequest__Output } from '../generated/types/containerd/services/diff/v1/DiffRequest';
import { unary } from './call';
import type { ServiceDeps } from './context';
import { mountsFromWire } from './snapshots';

export const DIFF_SERVICE = 'containerd.services.diff.v1.Diff';

export function diffService(deps: ServiceDeps): DiffHandlers {
  return {
    Apply: unary(deps.log, 'Diff.Apply', async (req: ApplyRequest__Output, ctx) => {
      const d = req.diff;
      const applied = await deps.differ.apply(
        deps.content.view(ctx.namespace(), ctx.lease()),
        { mediaType: d?.media_type ?? '', digest: d?.digest ?? '', size: d?.size ?? 0 },
        mountsFromWire(req.mounts),
      );
      return { applied: { media_type: applied.mediaType, digest: applied.digest, size: applied.size, annotations: {} } };
    }),

    Diff: unary(deps.log, 'Diff.Diff', async (req: DiffRequest__Output, ctx) => {
      const desc = await deps.differ.compare(deps.content.view(ctx.namespace(), ctx.lease()), mountsFromWire(req.left), mountsFromWire(req.right), {
        mediaType: req.media_type,
        ref: req.ref,
        labels: req.labels,
      });
      return { diff: { media_type: desc.mediaType, digest: desc.digest, size: desc.size, annotations: desc.annotations } };
    }),
  };
}
