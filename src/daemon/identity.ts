import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { isDiskError } from '../errdefs/fs';

/** The server's UUID (Introspection.Server): created once per root and kept, like
 * containerd's <root>/io.containerd.grpc.v1.introspection/uuid. */
export function serverUuid(root: string): string {
  const dir = join(root, 'introspection');
  const file = join(dir, 'uuid');
  try {
    const existing = readFileSync(file, 'utf8').trim();
    if (existing) return existing;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const uuid = randomUUID();
  try {
    mkdirSync(dir, { recursive: true, mode: 0o711 });
    writeFileSync(`${file}.tmp`, uuid, { mode: 0o644 });
    renameSync(`${file}.tmp`, file);
  } catch (err) {
    // A full or failing disk must not stop a start: this run answers with a UUID that is
    // not kept, and the next start on a healthy disk stores one.
    if (!isDiskError(err)) throw err;
  }
  return uuid;
}
