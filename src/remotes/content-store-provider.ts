// The ContentProvider a push reads from, over berthd's in-process content store (a
// namespace's view of the NamespacedContentStore).

import type { Readable } from 'node:stream';
import { NotFoundError } from '../errdefs/errors';
import type { ContentStore } from '../content/store';
import type { ContentProvider } from './push';

export function contentStoreProvider(store: ContentStore): ContentProvider {
  return {
    async info(digest: string) {
      try {
        const i = await store.info(digest);
        return { size: i.size, labels: i.labels };
      } catch (err) {
        if (err instanceof NotFoundError) return undefined;
        throw err;
      }
    },
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
