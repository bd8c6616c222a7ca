// Exporting images as an OCI image archive (what importArchive and `ctr images import`
// read): oci-layout, index.json with one entry per image (named by the annotations
// containerd's exporter writes), and every blob of each image's tree that the store holds
// (manifests of other platforms that were never pulled are left out, as ctr does).
import type { Writable } from 'node:stream';
import type { ContentStore } from './content';
import type { Image } from './records';

interface Desc {
  mediaType?: string;
  digest: string;
  size: number;
}

/** "docker.io/library/busybox:1" → "1" (the OCI ref.name containerd's exporter writes). */
function tagOf(name: string): string {
  const at = name.indexOf('@');
  const base = at >= 0 ? name.slice(0, at) : name;
  const colon = base.lastIndexOf(':');
  return colon > base.lastIndexOf('/') ? base.slice(colon + 1) : 'latest';
}

export async function exportArchive(content: ContentStore, images: readonly Image[], out: Writable): Promise<void> {
  const pack = (require('tar-stream') as typeof import('tar-stream')).pack();
  // process.stdout is never finished: for it, the archive is done when the pack ends.
  const toStdout = out === process.stdout;
  const finished = new Promise<void>((resolve, reject) => {
    if (toStdout) pack.once('end', () => resolve());
    else out.once('finish', resolve);
    out.once('error', reject);
    pack.once('error', reject);
  });
  if (toStdout) {
    pack.on('data', (chunk: unknown) => {
      if (!out.write(chunk as Buffer)) {
        pack.pause();
        out.once('drain', () => pack.resume());
      }
    });
  } else pack.pipe(out);
  const written = new Set<string>();
  const add = (name: string, data: Buffer): Promise<void> =>
    new Promise((resolve, reject) => pack.entry({ name, size: data.length, mode: 0o444, mtime: new Date(0) }, data, (err) => (err ? reject(err) : resolve())));
  /** A blob into the archive; indexes and manifests (walk) also bring their children.
   * A blob the store does not hold (another platform's, never pulled) is left out. */
  const blob = async (d: Desc, walk: boolean): Promise<void> => {
    if (written.has(d.digest)) return;
    const name = `blobs/sha256/${d.digest.replace(/^sha256:/, '')}`;
    if (!walk) {
      try {
        await content.info(d.digest);
      } catch {
        return;
      }
      // Layers stream through: never whole in memory.
      await new Promise<void>((resolve, reject) => {
        const entry = pack.entry({ name, size: d.size, mode: 0o444, mtime: new Date(0) }, (err) => (err ? reject(err) : resolve()));
        (async () => {
          for await (const chunk of content.read(d.digest)) {
            if (!entry.write(chunk)) await new Promise<void>((r) => entry.once('drain', () => r()));
          }
          entry.end(undefined);
        })().catch(reject);
      });
      written.add(d.digest);
      return;
    }
    let data: Buffer;
    try {
      data = await content.readAll(d.digest);
    } catch {
      return;
    }
    await add(name, data);
    written.add(d.digest);
    const doc = JSON.parse(data.toString('utf8')) as { manifests?: Desc[]; config?: Desc; layers?: Desc[] };
    for (const m of doc.manifests ?? []) await blob(m, true);
    if (doc.config) await blob(doc.config, false);
    for (const l of doc.layers ?? []) await blob(l, false);
  };
  const manifests = [];
  for (const img of images) {
    if (!img.target) continue;
    await blob({ digest: img.target.digest, size: img.target.size, mediaType: img.target.media_type }, true);
    manifests.push({
      mediaType: img.target.media_type,
      digest: img.target.digest,
      size: img.target.size,
      annotations: { 'io.containerd.image.name': img.name, 'org.opencontainers.image.ref.name': tagOf(img.name) },
    });
  }
  await add('oci-layout', Buffer.from(JSON.stringify({ imageLayoutVersion: '1.0.0' })));
  await add('index.json', Buffer.from(JSON.stringify({ schemaVersion: 2, manifests })));
  pack.finalize();
  await finished;
}
