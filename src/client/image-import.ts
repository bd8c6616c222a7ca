// Importing an OCI image archive (an OCI image layout in a tar: oci-layout, index.json,
// blobs/sha256/…, what `ctr images export` and `skopeo copy oci-archive:` write), as
// containerd's archive importer does: every blob streamed into the content store under
// the caller's lease, gc.ref labels on each index and manifest so the tree outlives the
// lease, and an image record per index entry named by io.containerd.image.name or
// org.opencontainers.image.ref.name. Docker's `docker save` layout is not read here.
import type { Readable } from 'node:stream';
import { InvalidArgumentError, NotImplementedError } from '../errdefs/errors';
import { isIndexType, isManifestType } from '../remotes/media-types';
import { indexChildLabels, manifestChildLabels } from '../remotes/labels';
import type { ImageIndex, ImageManifest } from '../remotes/descriptor';
import type { ContentStore } from './content';

const BLOB_PATH = /^(?:\.\/)?blobs\/sha256\/([0-9a-f]{64})$/;

export interface ImportedDescriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
}

export interface ArchiveContents {
  /** index.json's manifests (each an image to name). */
  manifests: ImportedDescriptor[];
  /** Digests of every blob written. */
  blobs: string[];
}

/** Streams the archive's blobs into the content store; returns index.json's entries. */
export async function importArchive(content: ContentStore, archive: Readable): Promise<ArchiveContents> {
  const tar = (require('tar-stream') as typeof import('tar-stream')).extract();
  const blobs: string[] = [];
  let index: { manifests?: ImportedDescriptor[] } | null = null;
  let dockerManifest = false;
  const done = new Promise<void>((resolve, reject) => {
    tar.on('finish', resolve);
    tar.on('error', reject);
    archive.on('error', reject);
  });
  tar.on('entry', (header, stream, next) => {
    const name = header.name;
    const blob = BLOB_PATH.exec(name);
    const finish = (err?: unknown): void => {
      if (err) {
        stream.resume();
        tar.destroy(err instanceof Error ? err : new Error(String(err)));
        return;
      }
      next();
    };
    let ended = false;
    stream.once('end', () => (ended = true));
    if (header.type === 'file' && blob) {
      const digest = `sha256:${blob[1]}`;
      content
        .write(stream as AsyncIterable<Buffer>, { expected: digest, total: header.size ?? 0, ref: `import-${blob[1]}` })
        .then(
          () => {
            blobs.push(digest);
            // A blob that existed already was not read: drain its bytes.
            if (ended) finish();
            else {
              stream.once('end', () => finish());
              stream.resume();
            }
          },
          finish,
        );
      return;
    }
    if (header.type === 'file' && (name === 'index.json' || name === './index.json' || name === 'manifest.json' || name === './manifest.json')) {
      const parts: Buffer[] = [];
      stream.on('data', (b: unknown) => parts.push(b as Buffer));
      stream.once('end', () => {
        try {
          if (name.endsWith('index.json')) index = JSON.parse(Buffer.concat(parts).toString('utf8')) as { manifests?: ImportedDescriptor[] };
          else dockerManifest = true;
          finish();
        } catch (err) {
          finish(new InvalidArgumentError(`${name}: ${(err as Error).message}`));
        }
      });
      return;
    }
    stream.once('end', () => finish());
    stream.resume();
  });
  archive.pipe(tar);
  await done;
  if (!index) {
    if (dockerManifest) throw new NotImplementedError('docker save archives (manifest.json) are not read by berth import: use an OCI archive');
    throw new InvalidArgumentError('not an OCI image archive: no index.json');
  }
  return { manifests: (index as { manifests?: ImportedDescriptor[] }).manifests ?? [], blobs };
}

/** Sets the gc.ref.content labels of every index and manifest reachable from desc. */
export async function labelChildren(content: ContentStore, desc: ImportedDescriptor): Promise<void> {
  const bytes = await content.readAll(desc.digest);
  const doc = JSON.parse(bytes.toString('utf8')) as { mediaType?: string; manifests?: unknown; config?: unknown };
  const mt = desc.mediaType || doc.mediaType || '';
  const set = async (labels: Record<string, string>): Promise<void> => {
    if (Object.keys(labels).length > 0) await content.setLabels(desc.digest, labels, Object.keys(labels).map((k) => `labels.${k}`));
  };
  if (isIndexType(mt) || (doc.manifests && !doc.config)) {
    const index = doc as unknown as ImageIndex;
    await set(indexChildLabels(index));
    for (const m of index.manifests ?? []) {
      try {
        await labelChildren(content, m);
      } catch {
        // Children of other platforms may be absent from the archive, as after a pull.
      }
    }
  } else if (isManifestType(mt) || doc.config) {
    await set(manifestChildLabels(doc as unknown as ImageManifest));
  }
}

/** The image name an index entry gives (containerd's importer: its annotations). */
export function importedName(desc: ImportedDescriptor): string | undefined {
  const a = desc.annotations ?? {};
  return a['io.containerd.image.name'] ?? (a['org.opencontainers.image.ref.name']?.includes(':') || a['org.opencontainers.image.ref.name']?.includes('/') ? a['org.opencontainers.image.ref.name'] : undefined);
}
