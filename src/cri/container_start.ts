// StartContainer (containerd's container_start.go): the task with stdout/stderr FIFOs whose
// output is copied into the CRI log, started; a failure marks the container exited with
// StartError (exit code 128) and leaves no task behind.
import type { StartContainerRequest__Output } from '../generated/types/runtime/v1/StartContainerRequest';
import type { StartContainerResponse } from '../generated/types/runtime/v1/StartContainerResponse';
import { UnknownError } from '../errdefs/errors';
import { REASON_START_ERROR, START_ERROR_EXIT_CODE } from './constants';
import { ContainerLogCopy, createFifos, createStdinFifo } from './container_io';
import { stateOf } from './container_status_file';
import { createTask, deleteTaskKilling, snapshotMounts } from './core_ops';
import { sendContainerEvent } from './container_events';
import { monitorContainerExit } from './exit_monitor';
import { findContainer } from './lookup';
import type { PodRuntime } from './pod_runtime';
import { nowNanos } from './time';
import { wrapErr } from './wrap_error';
import { K8S_NAMESPACE } from './constants';
import type { Spec } from '../oci';

export async function startContainerRpc(rt: PodRuntime, req: StartContainerRequest__Output): Promise<StartContainerResponse> {
  const c = findContainer(rt, req.container_id);
  const id = c.id;
  try {
    c.status.update((s) => {
      const st = stateOf(s);
      if (st !== 'CONTAINER_CREATED') throw new UnknownError(`container is in ${st} state`);
      if (s.removing) throw new UnknownError("container is in removing state, can't be started");
      if (s.starting) throw new UnknownError('container is already in starting state');
      return { ...s, starting: true };
    });
  } catch (err) {
    throw wrapErr(`failed to set starting state for container "${id}"`, err);
  }
  let copy: ContainerLogCopy | undefined;
  let taskCreated = false;
  // Where a start's time goes, for `[log] level = "debug"` (bench/cri-pod-start.ts).
  const marks: Array<[string, number]> = [['begin', performance.now()]];
  const mark = (what: string): void => {
    marks.push([what, performance.now()]);
  };
  try {
    const sb = rt.sandboxes.find(c.metadata.sandboxId);
    if (!sb) throw new UnknownError(`sandbox "${c.metadata.sandboxId}" not found: not found`);
    if (sb.status().state !== 'ready') throw new UnknownError(`sandbox container "${sb.id}" is not running`);
    const ns = c.metadata.config.linux?.security_context?.namespace_options;
    if (ns?.pid === 'TARGET') {
      const target = rt.containers.find(ns.target_id);
      if (!target || target.metadata.sandboxId !== sb.id) throw new UnknownError(`invalid target container: container "${ns.target_id}" does not exist in this sandbox`);
    }
    const record = await rt.deps.core.containers.get(K8S_NAMESPACE, id);
    const spec = JSON.parse(record.spec?.value.toString('utf8') ?? '{}') as Spec;
    const fifos = await createFifos(rt.containerIoDir(id));
    const config = c.metadata.config;
    // A container with stdin gets a FIFO berthd holds open, for Attach to write into.
    const stdinPath = config.stdin ? await createStdinFifo(rt.containerIoDir(id)) : undefined;
    try {
      copy = await ContainerLogCopy.start(fifos, c.metadata.logPath, rt.config.maxContainerLogLineSize, rt.log.with({ container: id }), stdinPath);
    } catch (err) {
      throw wrapErr('failed to create container loggers', err);
    }
    c.output = copy;
    mark('io');
    const mounts = await snapshotMounts(rt, id);
    const tty = config.tty;
    const { task, pid } = await createTask(rt, id, spec, mounts, {
      stdin: stdinPath ?? '',
      stdout: fifos.stdout,
      stderr: tty ? '' : fifos.stderr,
      terminal: tty,
    }).catch((err: unknown) => {
      throw wrapErr('failed to create containerd task', err);
    });
    taskCreated = true;
    mark('taskCreate');
    // The shim has opened the FIFOs: EOF from now on means the output ended.
    copy.release();
    await task.start('').catch((err: unknown) => {
      throw wrapErr(`failed to start containerd task "${id}"`, err);
    });
    mark('taskStart');
    await c.status.updateSync((s) => ({ ...s, pid, startedAt: nowNanos() })).catch((err: unknown) => {
      throw wrapErr(`failed to update container "${id}" state`, err);
    });
    c.status.update((s) => ({ ...s, starting: false }));
    mark('status');
    if (rt.log.enabled('debug')) {
      const ms: Record<string, number> = {};
      for (let i = 1; i < marks.length; i++) ms[marks[i]![0]] = Math.round((marks[i]![1] - marks[i - 1]![1]) * 10) / 10;
      rt.log.debug('StartContainer timings', { id, ...ms });
    }
    monitorContainerExit(rt, c, task);
    sendContainerEvent(rt, 'CONTAINER_STARTED_EVENT', id, c.metadata.sandboxId);
    return {};
  } catch (err) {
    if (taskCreated) await deleteTaskKilling(rt, id).catch((e: unknown) => rt.log.error('failed to delete containerd task', { id, error: e as Error }));
    copy?.close();
    const message = (err as Error).message;
    await c.status
      .updateSync((s) => ({ ...s, pid: 0, finishedAt: nowNanos(), exitCode: START_ERROR_EXIT_CODE, reason: REASON_START_ERROR, message }))
      .catch((e: unknown) => rt.log.error('failed to set start failure state', { id, error: e as Error }));
    c.status.update((s) => ({ ...s, starting: false }));
    c.stopped.stop();
    throw err;
  }
}
