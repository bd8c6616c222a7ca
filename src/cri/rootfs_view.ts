// A container's snapshot mounted read-only for a moment, so spec options can read its
// /etc/passwd and /etc/group (containerd's WithUser/WithAdditionalGIDs mount it the same
// way: mount.WithReadonlyTempMount).
import { promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { mountAll, unmountAll, type Mount } from '../native';

/** An overlay read-only without its upper/work dirs (the upper dir becomes the top lower). */
function readonlyMount(m: Mount): Mount {
  if (m.type !== 'overlay') return { ...m, options: [...m.options.filter((o) => o !== 'rw'), 'ro'] };
  let upper = '';
  const kept: string[] = [];
  for (const o of m.options) {
    if (o.startsWith('upperdir=')) upper = o.slice('upperdir='.length);
    else if (!o.startsWith('workdir=')) kept.push(o);
  }
  if (upper === '') return { ...m, options: [...kept, 'ro'] };
  const options = kept.map((o) => (o.startsWith('lowerdir=') ? `lowerdir=${upper}:${o.slice('lowerdir='.length)}` : o));
  if (!options.some((o) => o.startsWith('lowerdir='))) {
    // A single-layer overlay with no lower: a bind of the upper dir does the same.
    return { type: 'bind', source: upper, options: ['rbind', 'ro'] };
  }
  return { ...m, options: [...options, 'ro'] };
}

export async function withReadonlyRootfs<T>(tmpBase: string, mounts: readonly Mount[], fn: (root: string) => Promise<T>): Promise<T> {
  await fsp.mkdir(tmpBase, { recursive: true, mode: 0o700 });
  const dir = await fsp.mkdtemp(path.join(tmpBase, 'rootfs-'));
  try {
    mountAll(mounts.map(readonlyMount), dir);
    return await fn(dir);
  } finally {
    await unmountAll(dir).catch(() => undefined);
    await fsp.rmdir(dir).catch(() => undefined);
  }
}
