// StopContainer (containerd's container_stop.go): the image's stop signal (or SIGTERM),
// up to `timeout` seconds for the exit, then SIGKILL. A container that is not running is
// left as it is, and an unknown id is not an error: the CRI calls StopContainer
// idempotent, kubelet retries it for containers already gone, and critest's Idempotence
// specs check it (containerd 1.6 answers NotFound there; later containerd answers OK).
import type { StopContainerRequest__Output } from '../generated/types/runtime/v1/StopContainerRequest';
import type { StopContainerResponse } from '../generated/types/runtime/v1/StopContainerResponse';
import { NotFoundError } from '../errdefs/errors';
import { stateOf } from './container_status_file';
import type { CriContainer } from './container_store';
import { findTask } from './core_ops';
import { handleContainerExit } from './exit_monitor';
import { findContainer } from './lookup';
import type { PodRuntime } from './pod_runtime';
import { parseSignal } from './signals';
import { wrapErr } from './wrap_error';
import { UNKNOWN_EXIT_CODE } from './constants';

const SIGKILL = 9;

export async function stopContainerRpc(rt: PodRuntime, req: StopContainerRequest__Output): Promise<StopContainerResponse> {
  let c: CriContainer;
  try {
    c = findContainer(rt, req.container_id);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
    rt.log.debug('StopContainer of an unknown container', { id: req.container_id });
    return {};
  }
  await stopContainer(rt, c, Number(req.timeout) * 1000);
  return {};
}

export async function stopContainer(rt: PodRuntime, c: CriContainer, timeoutMs: number): Promise<void> {
  const id = c.id;
  const state = stateOf(c.status.get());
  if (state !== 'CONTAINER_RUNNING' && state !== 'CONTAINER_UNKNOWN') return;
  const task = findTask(rt, id);
  if (!task) {
    // An unknown container without a task: record it as exited (containerd's cleanupUnknownContainer).
    if (state === 'CONTAINER_UNKNOWN') {
      await handleContainerExit(rt, c, { pid: 0, exitStatus: UNKNOWN_EXIT_CODE, exitedAt: null });
    }
    return;
  }
  const kill = async (sig: number): Promise<void> => {
    await task.kill('', sig, false).catch((err: unknown) => {
      if (!(err instanceof NotFoundError)) throw wrapErr(`failed to stop container "${id}"`, err);
    });
  };
  if (timeoutMs > 0) {
    const sigName = c.metadata.stopSignal !== '' ? c.metadata.stopSignal : 'SIGTERM';
    let sig: number;
    try {
      sig = parseSignal(sigName);
    } catch (err) {
      throw wrapErr(`failed to parse stop signal "${sigName}"`, err);
    }
    // A second StopContainer with a timeout does not signal again (containerd's IsStopSignaledWithTimeout).
    if (!c.stopSignalSent) {
      c.stopSignalSent = true;
      rt.log.info('stop container', { id, signal: sigName });
      await kill(sig);
    }
    if (await c.stopped.wait(timeoutMs)) return;
    rt.log.debug('stop container timed out', { id, signal: sigName });
  }
  rt.log.info('kill container', { id });
  await task.kill('', SIGKILL, false).catch((err: unknown) => {
    if (!(err instanceof NotFoundError)) throw wrapErr(`failed to kill container "${id}"`, err);
  });
  await c.stopped.wait();
}

