import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { createGzip } from 'node:zlib';
import { AlreadyExistsError, BerthError, InvalidArgumentError, NotImplementedError, UnknownError, wrapContext } from '../errdefs/errors';
import type { Labels } from '../metadata/records';
import { writeDiff } from '../diff/compare';
import type { ContentStore } from '../content/store';
import type { Mount } from '../snapshotter/snapshotter';
import { applyLayer, applyLayerFromFd } from '../diff/apply';
import type { ApplyLayerOptions, ApplyResult } from '../diff/applier';
import { DETECT_BYTES, decompressStream, detectCompression } from '../diff/decompress';
import { mountAll, unmountAll } from '../native';
import { diffCompression, MEDIA_TYPE_LAYER, MEDIA_TYPE_LAYER_GZIP } from './mediatypes';

/** Label containerd puts on a layer blob: its uncompressed digest (diffID). */
export const UNCOMPRESSED_LABEL = 'containerd.io/uncompressed';

export interface LayerDescriptor {
  mediaType: string;
  digest: string;
  size: number;
}

/** An overlay mount's upper dir and lower dirs (nearest first), if mounts is one overlay. */
export function overlayUpper(mounts: readonly Mount[]): { upper: string; lowers: string[] } | undefined {
  if (mounts.length !== 1 || mounts[0]?.type !== 'overlay') return undefined;
  let upper: string | undefined;
  let lowers: string[] = [];
  for (const o of mounts[0].options) {
    if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length);
    else if (o.startsWith('lowerdir=')) lowers = o.slice('lowerdir='.length).split(':');
  }
  if (!upper) throw new InvalidArgumentError('upperdir not found');
  return { upper, lowers };
}

/**
 * The differ: applies layers from the content store onto snapshot mounts, and (later)
 * compares mounts into new layers. An overlay snapshot's layer is written straight into
 * its upper dir (no mount of the parent chain); anything else is mounted on a temporary
 * directory under <root>/tmpmounts first.
 */
export class Differ {
  constructor(private readonly root: string) {}

  async apply(cs: ContentStore, desc: LayerDescriptor, mounts: readonly Mount[]): Promise<LayerDescriptor> {
    try {
      diffCompression(desc.mediaType);
    } catch (err) {
      if (err instanceof NotImplementedError) {
        throw new UnknownError(`failed to get stream processor for ${desc.mediaType}: no processor for media-type`);
      }
      throw err;
    }
    const reader = await cs.reader(desc.digest);
    try {
      const overlay = overlayUpper(mounts);
      const fd = reader.fd;
      // gzip and plain tars from a local blob: the worker reads and decompresses the layer
      // itself (zstd keeps its own worker, fed from here).
      const compression = fd === undefined ? undefined : detectCompression(await reader.readAt(0, DETECT_BYTES));
      const apply = (root: string, opts: ApplyLayerOptions): Promise<ApplyResult> =>
        fd !== undefined && (compression === 'gzip' || compression === 'uncompressed')
          ? applyLayerFromFd(root, fd, reader.size, compression === 'gzip', opts)
          : decompressStream(reader.stream()).then((tar) => applyLayer(root, tar, opts));
      const result = overlay
        ? await apply(overlay.upper, { overlayWhiteouts: true, parents: overlay.lowers })
        : await this.withMounted(mounts, (dir) => apply(dir, { overlayWhiteouts: false }));
      return { mediaType: MEDIA_TYPE_LAYER, digest: result.digest, size: result.size };
    } finally {
      await reader.close();
    }
  }

  /**
   * Compare two mount sets and store the difference as a layer in the content store, as
   * containerd's walking differ does: tar (or tar+gzip, the default) with OCI whiteouts,
   * labelled with its uncompressed digest.
   */
  async compare(
    cs: ContentStore,
    lower: readonly Mount[],
    upper: readonly Mount[],
    opts: { mediaType?: string; ref?: string; labels?: Labels },
  ): Promise<LayerDescriptor & { annotations: Labels }> {
    const mediaType = opts.mediaType || MEDIA_TYPE_LAYER_GZIP;
    if (mediaType !== MEDIA_TYPE_LAYER && mediaType !== MEDIA_TYPE_LAYER_GZIP) {
      throw new NotImplementedError(`unsupported diff media type: ${mediaType}`);
    }
    const ref = opts.ref || `diff-${Date.now()}-${randomBytes(3).toString('base64url')}`;
    return this.withMounted(lower, (lowerRoot) =>
      this.withMounted(upper, async (upperRoot) => {
        const w = await cs.writer({ ref });
        try {
          const tar = new PassThrough({ highWaterMark: 1 << 20 });
          const hash = createHash('sha256');
          tar.on('data', (c: Buffer) => hash.update(c));
          const out = mediaType === MEDIA_TYPE_LAYER_GZIP ? tar.pipe(createGzip()) : tar;
          const produced = writeDiff(lowerRoot, upperRoot, tar).then(() => tar.end());
          let offset = (await w.status()).offset;
          if (offset > 0) {
            await w.write(new Uint8Array(0), 0);
            offset = 0;
          }
          for await (const chunk of out) offset += await w.write(chunk as Buffer, offset);
          await produced;
          const diffID = `sha256:${hash.digest('hex')}`;
          const labels: Labels = { ...(opts.labels ?? {}), [UNCOMPRESSED_LABEL]: diffID };
          let info;
          try {
            info = await w.commit({ expected: w.digest(), labels });
          } catch (err) {
            if (!(err instanceof AlreadyExistsError)) throw err;
            info = await cs.info(w.digest());
          }
          if (!info.labels[UNCOMPRESSED_LABEL]) {
            info = await cs.update({ digest: info.digest, labels: { [UNCOMPRESSED_LABEL]: diffID } }, [`labels.${UNCOMPRESSED_LABEL}`]);
          }
          return { mediaType, digest: info.digest, size: info.size, annotations: {} };
        } finally {
          await w.close();
        }
      }),
    );
  }

  /** Mount `mounts` on a fresh temporary directory for the duration of fn. */
  async withMounted<T>(mounts: readonly Mount[], fn: (dir: string) => Promise<T>): Promise<T> {
    const base = join(this.root, 'tmpmounts');
    await fsp.mkdir(base, { recursive: true, mode: 0o700 });
    const dir = join(base, `m-${randomBytes(6).toString('hex')}`);
    await fsp.mkdir(dir, { mode: 0o700 });
    let mounted = false;
    try {
      try {
        mountAll(mounts.map((m) => ({ type: m.type, source: m.source, target: m.target, options: [...m.options] })), dir);
      } catch (err) {
        throw contextOf(`failed to mount ${dir}`, err);
      }
      mounted = true;
      try {
        return await fn(dir);
      } catch (err) {
        // containerd's mount.WithTempMount says where the callback failed, and so do we:
        // clients see "mount callback failed on <dir>: write <dir>/<file>: …".
        throw contextOf(`mount callback failed on ${dir}`, err);
      }
    } finally {
      if (mounted) await unmountAll(dir);
      await fsp.rmdir(dir).catch(() => undefined);
    }
  }
}

/** err with Go's "<prefix>: %w": a berth error keeps its class; anything else is Unknown. */
function contextOf(prefix: string, err: unknown): BerthError {
  if (err instanceof BerthError) return wrapContext(prefix, err);
  return new UnknownError(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
}
