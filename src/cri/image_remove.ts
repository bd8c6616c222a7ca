import { NotFoundError, BerthError, wrapContext } from '../errdefs/errors';
import type { RemoveImageResponse } from '../generated/types/runtime/v1/RemoveImageResponse';
import { publish } from '../services/context';
import { resolveImage } from './image_status';
import type { CriImage } from './image_store';
import { CRI_NAMESPACE, type CriDeps } from './service-deps';

/**
 * RemoveImage: every record of the image goes (CRI's image is the ID, not one name), the last
 * one with a synchronous collection so its blobs and snapshots are gone when the call returns.
 * An unknown image is no error.
 */
export async function removeImage(deps: CriDeps, ref: string): Promise<RemoveImageResponse> {
  let img: CriImage;
  try {
    img = resolveImage(deps.images, ref);
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw err;
  }
  for (const name of img.references) {
    try {
      await deps.core.images.delete(CRI_NAMESPACE, name);
      publish(deps.core, CRI_NAMESPACE, '/images/delete', 'containerd.services.images.v1.ImageDelete', { name });
    } catch (err) {
      if (!(err instanceof NotFoundError)) {
        throw err instanceof BerthError ? wrapContext(`failed to delete image reference "${name}" for "${img.id}"`, err) : err;
      }
    }
    await deps.images.update(name);
  }
  await deps.core.gc.runNow();
  return {};
}
