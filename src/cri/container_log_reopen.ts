// ReopenContainerLog (containerd's container_log_reopen.go): kubelet renamed the log file to
// rotate it; the output goes on into a new file at the same path.
import type { ReopenContainerLogRequest__Output } from '../generated/types/runtime/v1/ReopenContainerLogRequest';
import type { ReopenContainerLogResponse } from '../generated/types/runtime/v1/ReopenContainerLogResponse';
import { UnknownError } from '../errdefs/errors';
import { stateOf } from './container_status_file';
import { findContainer } from './lookup';
import type { PodRuntime } from './pod_runtime';
import { wrapErr } from './wrap_error';

export async function reopenContainerLogRpc(rt: PodRuntime, req: ReopenContainerLogRequest__Output): Promise<ReopenContainerLogResponse> {
  const c = findContainer(rt, req.container_id);
  if (stateOf(c.status.get()) !== 'CONTAINER_RUNNING') throw new UnknownError('container is not running');
  try {
    await c.output?.reopen();
  } catch (err) {
    throw wrapErr('failed to create and open log files', err);
  }
  return {};
}
