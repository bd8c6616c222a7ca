import { contentStoreIngester, waitForLockedRefs } from '../remotes/content-store-ingester';
import { pull } from '../remotes/pull';
import { Resolver } from '../remotes/resolver';
import type { DescriptorRecord } from '../metadata/records';
import type { Descriptor } from '../remotes/descriptor';
import type { FetchedImage, RemoteFetchOptions, RemoteImageFetcher } from './image_remote';

function record(d: Descriptor): DescriptorRecord {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { ...(d.annotations ?? {}) } };
}

/**
 * PullImage's fetch through berth's registry client (src/remotes): a resolver routed by
 * [cri.registry] config_path with the request's credentials, the pull pipeline writing into
 * the CRI namespace's content store under the pull's lease (the caller's view).
 */
export const remotesImageFetcher: RemoteImageFetcher = {
  async fetch(ref: string, opts: RemoteFetchOptions): Promise<FetchedImage> {
    const resolver = new Resolver({
      hosts: opts.hostsDir !== '' ? { configPath: opts.hostsDir } : {},
      credentials: opts.credentials,
    });
    try {
      const r = await pull(ref, { resolver, ingester: waitForLockedRefs(contentStoreIngester(opts.content)), maxConcurrentDownloads: opts.maxConcurrentDownloads });
      return { target: record(r.target), config: record(r.manifest.config), layers: r.layers.map(record), schema1: false };
    } finally {
      resolver.close();
    }
  },
};
