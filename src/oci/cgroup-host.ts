// What the host's cgroups offer, probed once per process as containerd's CRI probes it:
// whether /sys/fs/cgroup is cgroup v2 (unified), whether a memory+swap limit can be set,
// whether the hugetlb controller is there. They decide what withCRIResources writes.
import * as fs from 'node:fs';
import * as path from 'node:path';

const CGROUP2_SUPER_MAGIC = 0x63677270;

let unified: boolean | undefined;
/** /sys/fs/cgroup is a cgroup2 mount (containerd's IsCgroup2UnifiedMode). */
export function isCgroup2UnifiedMode(): boolean {
  if (unified === undefined) unified = fs.statfsSync('/sys/fs/cgroup').type === CGROUP2_SUPER_MAGIC;
  return unified;
}

/** This process's cgroup v2 path, from the "0::<path>" line of /proc/self/cgroup. */
function unifiedCgroupOfSelf(): string | undefined {
  let text: string;
  try {
    text = fs.readFileSync('/proc/self/cgroup', 'utf8');
  } catch {
    return undefined;
  }
  let found = '';
  for (const line of text.split('\n')) {
    if (line === '') continue;
    const parts = line.split(':');
    if (parts.length < 3) return undefined; // containerd gives up on a malformed file
    if (parts[1].split(',').includes('')) found = parts.slice(2).join(':');
  }
  return found;
}

let swap: boolean | undefined;
/**
 * A memory+swap limit can be set: v1 has memory.memsw.limit_in_bytes, v2 has
 * memory.swap.max in this process's cgroup (containerd's SwapControllerAvailable).
 */
export function swapControllerAvailable(): boolean {
  if (swap === undefined) {
    let p = '/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes';
    let known = true;
    if (isCgroup2UnifiedMode()) {
      const self = unifiedCgroupOfSelf();
      if (self === undefined) known = false;
      else p = path.join('/sys/fs/cgroup', self, 'memory.swap.max');
    }
    swap = known && fs.existsSync(p);
  }
  return swap;
}

let hugetlb: boolean | undefined;
/** The hugetlb controller is mounted (v1) or enabled at the root (v2) (containerd's isHugetlbControllerPresent). */
export function hugetlbControllerPresent(): boolean {
  if (hugetlb === undefined) {
    try {
      if (isCgroup2UnifiedMode()) hugetlb = fs.readFileSync('/sys/fs/cgroup/cgroup.controllers', 'utf8').includes('hugetlb');
      else {
        fs.readdirSync('/sys/fs/cgroup/hugetlb');
        hugetlb = true;
      }
    } catch {
      hugetlb = false;
    }
  }
  return hugetlb;
}
