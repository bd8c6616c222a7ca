// The push pipeline's ContentProvider (src/remotes/push.ts) over containerd's Content
// service: Info for sizes and distribution-source labels, Read for blobs.
import { NotFoundError } from '../errdefs/errors';
import type { ContentProvider } from '../remotes/push';
import type { ContentStore } from './content';

export function contentServiceProvider(content: ContentStore): ContentProvider {
  return {
    async info(digest) {
      try {
        const i = await content.info(digest);
        return { size: i.size, labels: i.labels };
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    },
    readBlob: (digest) => content.readAll(digest),
    stream: async (digest) => content.reader(digest),
  };
}
