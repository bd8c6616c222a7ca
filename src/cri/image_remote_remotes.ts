import { contentStoreIngester } from '../remotes/content-store-ingester';
import type { Credentials } from '../remotes/credentials';
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
      credentials: (host): Credentials | undefined => {
        const c = opts.credentials(host);
        if (!c) return undefined;
        // containerd's ParseAuth gives ("", identity token) for a token: the authorizer's refresh token.
        return c.username === '' ? { identityToken: c.secret } : { username: c.username, password: c.secret };
      },
    });
    try {
      const r = await pull(ref, { resolver, ingester: contentStoreIngester(opts.content), maxConcurrentDownloads: opts.maxConcurrentDownloads });
      return { target: record(r.target), config: record(r.manifest.config), layers: r.layers.map(record), schema1: false };
    } finally {
      resolver.close();
    }
  },
};
