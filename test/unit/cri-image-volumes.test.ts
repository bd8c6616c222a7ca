import { chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { copyImageVolumes } from '../../src/cri/container_create';
import type { Mount__Output } from '../../src/generated/types/runtime/v1/Mount';

const vol = (containerPath: string, hostPath: string): Mount__Output => ({
  container_path: containerPath,
  host_path: hostPath,
  readonly: false,
  selinux_relabel: true,
  propagation: 'PROPAGATION_PRIVATE',
  uidMappings: [],
  gidMappings: [],
  recursive_read_only: false,
  image: null,
  image_sub_path: '',
});

describe("image VOLUMEs (containerd's WithVolumes)", () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('copies what the image holds at the volume path, owners and modes kept; a missing path stays empty', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cri-vol-'));
    const root = join(dir, 'rootfs');
    mkdirSync(join(root, 'var/lib/data/sub'), { recursive: true });
    writeFileSync(join(root, 'var/lib/data/sub/seed'), 'seeded', { mode: 0o640 });
    chownSync(join(root, 'var/lib/data/sub/seed'), 1234, 4321);
    // A symlinked path resolves inside the rootfs, never on the host.
    symlinkSync('/var/lib/data', join(root, 'data'));
    const a = join(dir, 'volumes', 'a');
    const b = join(dir, 'volumes', 'b');
    const c = join(dir, 'volumes', 'c');
    await copyImageVolumes(root, [vol('/var/lib/data', a), vol('/data', b), vol('/not/there', c)]);
    for (const v of [a, b]) {
      expect(readFileSync(join(v, 'sub/seed'), 'utf8')).toBe('seeded');
      const st = statSync(join(v, 'sub/seed'));
      expect([st.uid, st.gid, st.mode & 0o777]).toEqual([1234, 4321, 0o640]);
    }
    expect(() => statSync(c)).toThrow();
    // A volume directory that already holds something is refused, as containerd does.
    await expect(copyImageVolumes(root, [vol('/var/lib/data', a)])).rejects.toThrow('is not initially empty');
  });
});
