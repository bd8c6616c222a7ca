import type { LeaseStore } from '../metadata/leases';
import type { NamespaceStore } from '../metadata/namespaces';

/**
 * The mark-and-sweep collector over metadata references. With only namespaces,
 * containers and leases stored so far, the one thing that becomes garbage by itself is
 * an expired lease (containerd.io/gc.expire in the past); content and snapshots join the
 * sweep when their stores exist.
 */
export function metadataCollector(namespaces: NamespaceStore, leases: LeaseStore): () => Promise<{ removed: number }> {
  return async () => {
    const names = (await namespaces.list()).map((n) => n.name);
    const removed = await leases.deleteExpired(new Date(), names);
    return { removed: removed.length };
  };
}
