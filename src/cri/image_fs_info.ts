import type { ImageFsInfoResponse } from '../generated/types/runtime/v1/ImageFsInfoResponse';
import { wallNow } from '../time/wall';
import { CRI_NAMESPACE, type CriDeps } from './service-deps';

/**
 * ImageFsInfo: the CRI snapshotter's usage in the CRI namespace, summed over its snapshots
 * (bytes and inodes of each one's own layer), and the snapshotter's root as the mountpoint,
 * as containerd reports it. containerd sums a copy refreshed every 10 s; this one is
 * computed at the call, so the timestamp is now.
 */
export async function imageFsInfo(deps: CriDeps): Promise<ImageFsInfoResponse> {
  const now = wallNow();
  const sn = deps.core.snapshotters.get(deps.config.containerd.snapshotter).view(CRI_NAMESPACE);
  let bytes = 0;
  let inodes = 0;
  for await (const info of sn.list([])) {
    try {
      const u = await sn.usage(info.name);
      bytes += u.size;
      inodes += u.inodes;
    } catch {
      // removed while listing
    }
  }
  return {
    image_filesystems: [
      {
        // int64 nanoseconds: beyond a double's exact range, so sent as a decimal string.
        timestamp: (BigInt(now.seconds) * 1_000_000_000n + BigInt(now.nanos)).toString(),
        fs_id: { mountpoint: deps.snapshotterRoot },
        used_bytes: { value: bytes },
        inodes_used: { value: inodes },
      },
    ],
  };
}
