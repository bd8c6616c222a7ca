import type { ImagesHandlers } from '../generated/types/containerd/services/images/v1/Images';
import type { Image, Image__Output } from '../generated/types/containerd/services/images/v1/Image';
import type { GetImageRequest__Output } from '../generated/types/containerd/services/images/v1/GetImageRequest';
import type { ListImagesRequest__Output } from '../generated/types/containerd/services/images/v1/ListImagesRequest';
import type { CreateImageRequest__Output } from '../generated/types/containerd/services/images/v1/CreateImageRequest';
import type { UpdateImageRequest__Output } from '../generated/types/containerd/services/images/v1/UpdateImageRequest';
import type { DeleteImageRequest__Output } from '../generated/types/containerd/services/images/v1/DeleteImageRequest';
import type { ImageRecord } from '../metadata/records';
import type { NewImage } from '../metadata/images';
import { toWireTimestamp } from '../proto/timestamp';
import { unary } from './call';
import { publish, type ServiceDeps } from './context';

export const IMAGES_SERVICE = 'containerd.services.images.v1.Images';

function imageToWire(i: ImageRecord): Image {
  return {
    name: i.name,
    labels: i.labels,
    target: { media_type: i.target.mediaType, digest: i.target.digest, size: i.target.size, annotations: i.target.annotations },
    created_at: toWireTimestamp(i.createdAt),
    updated_at: toWireTimestamp(i.updatedAt),
  };
}

function imageFromWire(i: Image__Output | null): NewImage {
  return {
    name: i?.name ?? '',
    labels: { ...(i?.labels ?? {}) },
    target: {
      mediaType: i?.target?.media_type ?? '',
      digest: i?.target?.digest ?? '',
      size: i?.target?.size ?? 0,
      annotations: { ...(i?.target?.annotations ?? {}) },
    },
  };
}

export function imagesService(deps: ServiceDeps): ImagesHandlers {
  const store = deps.images;
  return {
    Get: unary(deps.log, 'Images.Get', async (req: GetImageRequest__Output, ctx) => ({
      image: imageToWire(await store.get(ctx.namespace(), req.name)),
    })),

    List: unary(deps.log, 'Images.List', async (req: ListImagesRequest__Output, ctx) => ({
      images: (await store.list(ctx.namespace(), req.filters)).map(imageToWire),
    })),

    Create: unary(deps.log, 'Images.Create', async (req: CreateImageRequest__Output, ctx) => {
      const ns = ctx.namespace();
      const created = await store.create(ns, imageFromWire(req.image));
      publish(deps, ns, '/images/create', 'containerd.services.images.v1.ImageCreate', {
        name: created.name,
        labels: created.labels,
      });
      return { image: imageToWire(created) };
    }),

    Update: unary(deps.log, 'Images.Update', async (req: UpdateImageRequest__Output, ctx) => {
      const ns = ctx.namespace();
      const updated = await store.update(ns, imageFromWire(req.image), req.update_mask?.paths ?? []);
      publish(deps, ns, '/images/update', 'containerd.services.images.v1.ImageUpdate', {
        name: updated.name,
        labels: updated.labels,
      });
      return { image: imageToWire(updated) };
    }),

    Delete: unary(deps.log, 'Images.Delete', async (req: DeleteImageRequest__Output, ctx) => {
      const ns = ctx.namespace();
      await store.delete(ns, req.name);
      publish(deps, ns, '/images/delete', 'containerd.services.images.v1.ImageDelete', { name: req.name });
      // sync: the client waits until what only this image kept alive is gone.
      if (req.sync) await deps.gc.runNow();
      else deps.gc.schedule();
      return {};
    }),
  };
}
