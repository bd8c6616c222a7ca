// CRI spec settings that are not options of src/oci: constants containerd's CRI plugin
// uses and the cgroup path and annotation helpers.
import * as path from 'node:path';
import { withAnnotations, type SpecOpt } from '../oci';

/** The pause process's oom_score_adj (kubelet's and containerd's -998). */
export const DEFAULT_SANDBOX_OOM_ADJ = -998;
/** /dev/shm of a pod: 64 MiB (containerd's defaultShmSize). */
export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;

/** cgroupfs: <parent>/<id> (containerd's getCgroupsPath without the systemd driver). */
export function cgroupsPathOf(parent: string, id: string): string {
  return path.posix.join(parent, id);
}

/** One annotation (containerd CRI's WithAnnotation). */
export function withAnnotation(key: string, value: string): SpecOpt {
  return withAnnotations({ [key]: value });
}
