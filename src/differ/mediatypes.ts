import { NotImplementedError } from '../errdefs/errors';

export const MEDIA_TYPE_LAYER = 'application/vnd.oci.image.layer.v1.tar';
export const MEDIA_TYPE_LAYER_GZIP = 'application/vnd.oci.image.layer.v1.tar+gzip';

/**
 * How a layer media type is compressed, as containerd's images.DiffCompression decides:
 * 'gzip' / 'zstd' / '' (plain tar) / 'unknown' (docker's uncompressed type, which is
 * sniffed because it is sometimes gzip in practice). Unrecognised types: NotImplemented.
 */
export function diffCompression(mediaType: string): 'gzip' | 'zstd' | 'unknown' | '' {
  const [base = '', ...ext] = mediaType.split('+');
  switch (base) {
    case 'application/vnd.docker.image.rootfs.diff.tar':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar':
      return ext.length > 0 ? '' : 'unknown';
    case 'application/vnd.docker.image.rootfs.diff.tar.gzip':
    case 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip':
      return ext.length > 0 ? '' : 'gzip';
    case MEDIA_TYPE_LAYER:
    case 'application/vnd.oci.image.layer.nondistributable.v1.tar': {
      const last = ext[ext.length - 1];
      return last === 'gzip' ? 'gzip' : last === 'zstd' ? 'zstd' : '';
    }
    default:
      throw new NotImplementedError(`unrecognised mediatype ${mediaType}`);
  }
}
