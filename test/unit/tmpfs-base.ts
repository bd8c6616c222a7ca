// A private tmpfs for tests that create many files (apply, diff): fast, and nothing
// leaks onto the real disk. Registers beforeAll/afterAll in the calling file.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { closeWorkers } from '../../src/diff';
import { mount, MNT_DETACH, umount2 } from '../../src/native';

export function useTmpfsBase(prefix: string, size: string): () => string {
  let base = '';
  beforeAll(() => {
    base = fs.mkdtempSync(join(tmpdir(), prefix));
    mount('tmpfs', base, 'tmpfs', 0, `mode=0755,size=${size}`);
  });
  afterAll(async () => {
    await closeWorkers();
    // Detach until nothing is mounted there any more (tests may stack mounts).
    for (let i = 0; i < 8; i++) {
      try {
        umount2(base, MNT_DETACH);
      } catch {
        break;
      }
    }
    fs.rmSync(base, { recursive: true, force: true });
  });
  return () => base;
}
