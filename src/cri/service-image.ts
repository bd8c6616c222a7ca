import type { ImageServiceHandlers } from '../generated/types/runtime/v1/ImageService';
import type { ImageStatusRequest__Output } from '../generated/types/runtime/v1/ImageStatusRequest';
import type { PullImageRequest__Output } from '../generated/types/runtime/v1/PullImageRequest';
import type { RemoveImageRequest__Output } from '../generated/types/runtime/v1/RemoveImageRequest';
import { unary } from '../services/call';
import { imageFsInfo } from './image_fs_info';
import { pullImage } from './image_pull';
import type { RemoteImageFetcher } from './image_remote';
import { removeImage } from './image_remove';
import { imageStatus, toCriImage } from './image_status';
import type { CriDeps } from './service-deps';
import { withUnimplemented } from './service-unimplemented';

export const IMAGE_SERVICE = 'runtime.v1.ImageService';

/** runtime.v1.ImageService over the CRI image store and the core. */
export function imageService(deps: CriDeps, remote: RemoteImageFetcher): ImageServiceHandlers {
  return withUnimplemented<ImageServiceHandlers>(deps.log, IMAGE_SERVICE, {
    ListImages: unary(deps.log, 'ImageService.ListImages', async () => ({ images: deps.images.list().map(toCriImage) })),
    ImageStatus: unary(deps.log, 'ImageService.ImageStatus', async (req: ImageStatusRequest__Output) =>
      imageStatus(deps.images, req.image?.image ?? '', req.verbose),
    ),
    PullImage: unary(deps.log, 'ImageService.PullImage', (req: PullImageRequest__Output) => pullImage(deps, remote, req)),
    RemoveImage: unary(deps.log, 'ImageService.RemoveImage', (req: RemoveImageRequest__Output) => removeImage(deps, req.image?.image ?? '')),
    ImageFsInfo: unary(deps.log, 'ImageService.ImageFsInfo', () => imageFsInfo(deps)),
  });
}
