import { setTimeout as sleep } from 'node:timers/promises';
import { UnavailableError } from '../errdefs/errors';
import { contentStoreIngester } from '../remotes/content-store-ingester';
import type { ContentIngester } from '../remotes/ingester';
import { pull } from '../remotes/pull';
import { Resolver } from '../remotes/resolver';
import type { DescriptorRecord } from '../metadata/records';
import type { Descriptor } from '../remotes/descriptor';
import type { FetchedImage, RemoteFetchOptions, RemoteImageFetcher } from './image_remote';

function record(d: Descriptor): DescriptorRecord {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { ...(d.annotations ?? {}) } };
}

/** Longest a pull waits for another pull's ingest of the same blob (containerd waits for as long as the call lives). */
const LOCKED_REF_WAIT_MS = 15 * 60 * 1000;

/**
 * containerd's content.OpenWriter: an ingest ref another pull is writing (Unavailable,
 * "ref … locked") is waited for with a randomised, doubling back-off (16 ms … 2 s) instead
 * of failing this pull; once the other pull commits, the blob exists and is not fetched
 * again. kubelet and critest pull the same image for several pods at once.
 */
function waitForLockedRefs(ingester: ContentIngester): ContentIngester {
  return {
    ...ingester,
    openWriter: async (o) => {
      const deadline = Date.now() + LOCKED_REF_WAIT_MS;
      let retry = 16;
      for (;;) {
        try {
          return await ingester.openWriter(o);
        } catch (err) {
          if (!(err instanceof UnavailableError) || Date.now() > deadline) throw err;
        }
        await sleep(Math.floor(Math.random() * retry));
        if (retry < 2048) retry *= 2;
      }
    },
  };
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
