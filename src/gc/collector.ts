import type { GarbageCollector } from '../metadata/gc';

/** The collection pass the scheduler runs: metadata mark-and-sweep, then the disk. */
export function metadataCollector(gc: GarbageCollector): () => Promise<{ removed: number }> {
  return async () => {
    const r = await gc.collect();
    return { removed: r.leases + r.content + r.ingests + r.blobs };
  };
}
