// A snapshot's mounts mounted read-only in a temp dir for the length of a function, as the
// Go client's mount.WithReadonlyTempMount: spec options read the container's /etc/passwd
// and /etc/group there (the client runs on the daemon's host, as root, like ctr).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { mountAll, unmountAll, type Mount } from '../native/mount';

/** The mounts made read-only: bind gets "ro"; an overlay's upperdir becomes its top lower
 * layer and loses its workdir (overlayfs with lowerdirs only is read-only). */
export function readonlyMounts(mounts: readonly Mount[]): Mount[] {
  return mounts.map((m) => {
    if (m.type === 'overlay') {
      const upper = m.options.find((o) => o.startsWith('upperdir='))?.slice('upperdir='.length);
      const options = m.options.filter((o) => !o.startsWith('upperdir=') && !o.startsWith('workdir=') && o !== 'rw');
      if (upper !== undefined) {
        const i = options.findIndex((o) => o.startsWith('lowerdir='));
        if (i >= 0) options[i] = `lowerdir=${upper}:${options[i]!.slice('lowerdir='.length)}`;
        else options.push(`lowerdir=${upper}`);
      }
      return { ...m, options };
    }
    return { ...m, options: [...m.options.filter((o) => o !== 'rw'), 'ro'] };
  });
}

export async function withReadonlyTempMount<T>(mounts: readonly Mount[], fn: (root: string) => Promise<T>): Promise<T> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-client-mount-'));
  try {
    mountAll(readonlyMounts(mounts), dir);
    try {
      return await fn(dir);
    } finally {
      await unmountAll(dir, 0);
    }
  } finally {
    fs.rmdirSync(dir);
  }
}
