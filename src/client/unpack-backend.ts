// The unpack algorithm's backend (src/unpack/backend.ts) over containerd's gRPC services,
// so an image unpacks through the Diff and Snapshots services exactly as the Go client does
// it, on berthd or containerd. The calls carry the client's lease (see Client.withLease).
// The algorithm branches on NotFoundError and AlreadyExistsError: the client's errors are
// those same classes (src/errdefs), so nothing needs translating here.
import type { UnpackBackend } from '../unpack/backend';
import type { ContentStore } from './content';
import type { Differ } from './diff';
import type { Snapshotter } from './snapshots';

export function grpcUnpackBackend(parts: { snapshotter: Snapshotter; differ: Differ; content: ContentStore }): UnpackBackend {
  const { snapshotter: sn, differ, content } = parts;
  return {
    snapshotter: {
      name: sn.name,
      async stat(key) {
        await sn.stat(key);
      },
      prepare: (key, parent, labels) => sn.prepare(key, parent, labels),
      commit: (name, key, labels) => sn.commit(name, key, labels),
      remove: (key) => sn.remove(key),
    },
    applier: {
      async apply(layer, mounts) {
        const applied = await differ.apply(
          { media_type: layer.mediaType, digest: layer.digest, size: layer.size },
          mounts.map((m) => ({ type: m.type, source: m.source, target: m.target ?? '', options: [...m.options] })),
        );
        return { digest: applied.digest };
      },
    },
    content: {
      readBlob: (digest) => content.readAll(digest),
      async setLabels(digest, labels) {
        await content.setLabels(digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
      },
    },
  };
}
