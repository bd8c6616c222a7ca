// From an image's target to what running it needs: the manifest for this host's platform,
// the image config, and the chain ID of its layers (the snapshot its rootfs is unpacked
// into), read from the content store as containerd's images package does.
import { NotFoundError } from '../errdefs/errors';
import { isIndexType } from '../remotes/media-types';
import { defaultPlatformMatcher, formatPlatform } from '../remotes/platforms';
import { chainId } from '../unpack/chainid';
import type { CallOptions } from './call-options';
import type { ContentStore } from './content';

export interface DescriptorLike {
  mediaType?: string;
  media_type?: string;
  digest: string;
  size: number;
  platform?: { architecture: string; os: string; variant?: string };
  annotations?: Record<string, string>;
}

/** The parts of an OCI image config the client reads (the rest is kept in `raw`). */
export interface ImageConfig {
  architecture?: string;
  os?: string;
  config?: {
    User?: string;
    Env?: string[];
    Entrypoint?: string[] | null;
    Cmd?: string[] | null;
    WorkingDir?: string;
    Labels?: Record<string, string>;
    StopSignal?: string;
  };
  rootfs: { type: string; diff_ids: string[] };
}

export interface ResolvedImage {
  manifestDigest: string;
  manifest: { config: DescriptorLike; layers: DescriptorLike[] };
  config: ImageConfig;
  configDigest: string;
  chainId: string;
}

export { chainId };

async function readJson<T>(content: ContentStore, digest: string, opts?: CallOptions): Promise<T> {
  return JSON.parse((await content.readAll(digest, opts)).toString('utf8')) as T;
}

/** Resolves target (an index or a manifest) to this host's manifest, config and chain ID. */
export async function resolveImage(content: ContentStore, target: DescriptorLike, opts?: CallOptions): Promise<ResolvedImage> {
  let desc = target;
  for (let depth = 0; depth < 4; depth++) {
    const mediaType = desc.mediaType ?? desc.media_type ?? '';
    const doc = await readJson<{ mediaType?: string; manifests?: DescriptorLike[]; config?: DescriptorLike; layers?: DescriptorLike[] }>(content, desc.digest, opts);
    if (isIndexType(mediaType) || (doc.manifests && !doc.config)) {
      // This host's platform, as a pull chooses it (src/remotes: containerd's matcher).
      const matcher = defaultPlatformMatcher();
      const match = (doc.manifests ?? []).find((m) => m.platform !== undefined && matcher.match({ ...m.platform, variant: m.platform.variant ?? '' })) ?? (doc.manifests ?? []).find((m) => !m.platform);
      if (!match) throw new NotFoundError(`no match for platform ${formatPlatform(matcher.platform)} in manifest ${desc.digest}`);
      desc = match;
      continue;
    }
    if (!doc.config) throw new NotFoundError(`manifest ${desc.digest} has no config`);
    const config = await readJson<ImageConfig>(content, doc.config.digest, opts);
    return {
      manifestDigest: desc.digest,
      manifest: { config: doc.config, layers: doc.layers ?? [] },
      config,
      configDigest: doc.config.digest,
      chainId: chainId(config.rootfs?.diff_ids ?? []),
    };
  }
  throw new NotFoundError(`image ${target.digest}: index nested too deeply`);
}
