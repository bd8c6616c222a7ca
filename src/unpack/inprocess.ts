import type { ServiceDeps } from '../services/context';
import type { Labels } from '../metadata/records';
import type { UnpackBackend } from './backend';

/**
 * The unpack backend over berthd's own stores, seen from namespace `ns` and writing under
 * `lease`: the namespaced snapshotter (records, labels, GC), the differ (layer apply on a
 * worker thread straight into an overlay upper dir), and the namespaced content store.
 */
export function inProcessUnpackBackend(core: Pick<ServiceDeps, 'snapshotters' | 'differ' | 'content'>, ns: string, snapshotter: string, lease?: string): UnpackBackend {
  const sn = core.snapshotters.get(snapshotter).view(ns, lease);
  const cs = core.content.view(ns, lease);
  return {
    snapshotter: {
      name: snapshotter,
      stat: async (key) => {
        await sn.stat(key);
      },
      prepare: (key, parent, labels) => sn.prepare(key, parent, labels),
      commit: (name, key, labels) => sn.commit(name, key, labels),
      remove: (key) => sn.remove(key),
    },
    applier: {
      apply: async (layer, mounts) => core.differ.apply(cs, { mediaType: layer.mediaType, digest: layer.digest, size: layer.size }, mounts),
    },
    content: {
      readBlob: async (digest) => {
        const info = await cs.info(digest);
        return cs.read(digest, 0, info.size);
      },
      setLabels: async (digest, labels: Labels) => {
        await cs.update({ digest, labels }, Object.keys(labels).map((k) => `labels.${k}`));
      },
    },
  };
}
