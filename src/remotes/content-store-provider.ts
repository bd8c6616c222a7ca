// The ContentProvider a push reads from, over berthd's in-process content store (a
// namespace's view of the NamespacedContentStore).

import type { Readable } from 'node:stream';
import type { ContentStore } from '../content/store';
import { blobInfo } from './ingester';
import type { ContentProvider } from './push';

export function contentStoreProvider(store: ContentStore): ContentProvider {
  return {
    info: (digest: string) => blobInfo(store.info(digest)),
    readBlob(digest: string, size: number): Promise<Buffer> {
      return store.read(digest, 0, size);
    },
    async stream(digest: string): Promise<Readable> {
      const reader = await store.reader(digest);
      const s = reader.stream(0, 0);
      // The reader holds a file open until the stream is done with it.
      s.once('close', () => void reader.close().catch(() => undefined));
      return s;
    },
  };
}
