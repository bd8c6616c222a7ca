import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

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
  mkdirSync(dir, { recursive: true, mode: 0o711 });
  const uuid = randomUUID();
  writeFileSync(`${file}.tmp`, uuid, { mode: 0o644 });
  renameSync(`${file}.tmp`, file);
  return uuid;
}
