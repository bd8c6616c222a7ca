// Checkpoint images in the content store, as containerd's Tasks service keeps them: the
// CRIU image directory as a tar blob (application/vnd.containerd.container.criu.checkpoint.criu.tar)
// plus the container spec (…checkpoint.config.v1+proto), and the reverse for a restore.
import { mkdtemp, rm } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable, Writable } from 'node:stream';
import * as tarFs from 'tar-fs';
import { AlreadyExistsError } from '../errdefs/errors';
import type { ContentInfo, ContentStore } from '../content/store';

export const MEDIA_TYPE_CHECKPOINT = 'application/vnd.containerd.container.criu.checkpoint.criu.tar';
export const MEDIA_TYPE_CHECKPOINT_CONFIG = 'application/vnd.containerd.container.checkpoint.config.v1+proto';

export interface WrittenDescriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations: Record<string, string>;
}

/** A fresh temporary directory for CRIU images ($XDG_RUNTIME_DIR or the system temp dir). */
export function checkpointTempDir(prefix: string): Promise<string> {
  return mkdtemp(path.join(process.env.XDG_RUNTIME_DIR || os.tmpdir(), prefix));
}

export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true });
}

/** Write a stream of bytes to the content store under `ref`; returns its descriptor. */
async function writeStream(store: ContentStore, ref: string, mediaType: string, source: AsyncIterable<Buffer> | NodeJS.ReadableStream): Promise<WrittenDescriptor> {
  const writer = await store.writer({ ref });
  try {
    let offset = 0;
    await pipeline(
      source,
      new Writable({
        write(chunk: Buffer, _enc, cb): void {
          writer.write(chunk, offset).then(
            (n) => {
              offset += n;
              cb();
            },
            (err: Error) => cb(err),
          );
        },
      }),
    );
    let info: ContentInfo;
    try {
      info = await writer.commit({});
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      info = await store.info(writer.digest());
    }
    return { media_type: mediaType, digest: info.digest, size: info.size, annotations: {} };
  } finally {
    await writer.close().catch(() => undefined);
  }
}

/** The CRIU image directory as a tar blob. */
export function writeCheckpointDir(store: ContentStore, dir: string): Promise<WrittenDescriptor> {
  return writeStream(store, dir, MEDIA_TYPE_CHECKPOINT, tarFs.pack(dir) as unknown as AsyncIterable<Buffer>);
}

/** The container spec (an encoded google.protobuf.Any) as the checkpoint's config blob. */
export function writeCheckpointConfig(store: ContentStore, ref: string, encodedSpecAny: Buffer): Promise<WrittenDescriptor> {
  return writeStream(store, ref, MEDIA_TYPE_CHECKPOINT_CONFIG, Readable.from([encodedSpecAny]));
}

/** Unpack a checkpoint tar blob into `dir` (Tasks.Create with a checkpoint). */
export async function extractCheckpoint(store: ContentStore, digest: string, dir: string): Promise<void> {
  const reader = await store.reader(digest);
  try {
    await pipeline(reader.stream(), tarFs.extract(dir));
  } finally {
    await reader.close().catch(() => undefined);
  }
}
