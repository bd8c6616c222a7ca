// The push pipeline's ContentProvider (src/remotes/push.ts) over containerd's Content
// service: Info for sizes and distribution-source labels, Read for blobs.
import { blobInfo } from '../remotes/ingester';
import type { ContentProvider } from '../remotes/push';
import type { ContentStore } from './content';

export function contentServiceProvider(content: ContentStore): ContentProvider {
  return {
    info: (digest: string) => blobInfo(content.info(digest)),
    readBlob: (digest) => content.readAll(digest),
    stream: async (digest) => content.reader(digest),
  };
}
