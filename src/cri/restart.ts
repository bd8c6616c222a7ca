// Recovery at start (containerd's restart.go): the sandboxes and containers are rebuilt
// from the core's container records (kind label + metadata extension), the tasks the
// runtime reconnected to, and the containers' status checkpoints — so a berthd restart
// loses no pod and no container, and reports each as before. Exits that happened while
// berthd was down are recorded; running containers' output copies resume from their FIFOs.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import { NotFoundError } from '../errdefs/errors';
import type { ContainerRecord } from '../metadata/records';
import { unmountAll } from '../native';
import {
  CONTAINER_KIND_CONTAINER,
  CONTAINER_KIND_LABEL,
  CONTAINER_KIND_SANDBOX,
  CONTAINER_METADATA_EXTENSION,
  K8S_NAMESPACE,
  REASON_UNKNOWN,
  SANDBOX_METADATA_EXTENSION,
  UNKNOWN_EXIT_CODE,
} from './constants';
import { ContainerLogCopy, fifoPaths, stdinFifoPath } from './container_io';
import { ContainerStatusStore, emptyStatus, stateOf, type ContainerStatusData } from './container_status_file';
import { CriContainer } from './container_store';
import { deleteTaskKilling, findTask } from './core_ops';
import { monitorContainerExit, monitorSandboxExit } from './exit_monitor';
import { decodeContainerMetadata, decodeSandboxMetadata } from './metadata_codec';
import type { PodRuntime } from './pod_runtime';
import { Sandbox, type SandboxStatus } from './sandbox_store';
import { nowNanos, timestampToNanos } from './time';

const STATE_TIMEOUT_MS = 5_000;

export async function recoverPodRuntime(rt: PodRuntime): Promise<{ sandboxes: number; containers: number }> {
  const records = await rt.deps.core.containers.list(K8S_NAMESPACE, []);
  const sandboxes = records.filter((r) => r.labels[CONTAINER_KIND_LABEL] === CONTAINER_KIND_SANDBOX);
  const containers = records.filter((r) => r.labels[CONTAINER_KIND_LABEL] === CONTAINER_KIND_CONTAINER);
  for (const r of sandboxes) {
    try {
      const sb = await loadSandbox(rt, r);
      rt.sandboxes.add(sb);
      rt.sandboxNames.reserve(sb.metadata.name, sb.id);
    } catch (err) {
      rt.log.error('failed to load sandbox', { id: r.id, error: err as Error });
    }
  }
  for (const r of containers) {
    try {
      const c = await loadContainer(rt, r);
      rt.containers.add(c);
      rt.containerNames.reserve(c.metadata.name, c.id);
    } catch (err) {
      rt.log.error('failed to load container', { id: r.id, error: err as Error });
    }
  }
  // Directories of objects without a record (a crash mid-create or mid-remove). Mounts in
  // them (a pod's /dev/shm, a rootfs mounted for a user lookup) go first, so removing the
  // directory never reaches into a mounted filesystem.
  const knownSandbox = (id: string): boolean => rt.sandboxes.find(id) !== undefined;
  const knownContainer = (id: string): boolean => rt.containers.find(id) !== undefined;
  await removeOrphans(rt, path.join(rt.config.rootDir, 'sandboxes'), knownSandbox);
  await removeOrphans(rt, path.join(rt.config.stateDir, 'sandboxes'), knownSandbox, (dir) => unmountAll(path.join(dir, 'shm')));
  await removeOrphans(rt, path.join(rt.config.rootDir, 'containers'), knownContainer);
  await removeOrphans(rt, path.join(rt.config.stateDir, 'containers'), knownContainer);
  await removeOrphans(rt, path.join(rt.config.stateDir, 'tmpmounts'), () => false, (dir) => unmountAll(dir));
  // A netns pinned by a RunPodSandbox that berthd did not live to record (the pin comes
  // before the record; CNI ADD only after it, so no address was taken for it).
  const pinned = new Set(rt.sandboxes.list().map((sb) => sb.metadata.netnsPath));
  const netnsDir = path.join(rt.config.stateDir, 'netns');
  for (const n of await fsp.readdir(netnsDir).catch(() => [] as string[])) {
    const p = path.join(netnsDir, n);
    if (pinned.has(p)) continue;
    rt.log.info('removing leftover pod netns', { path: p });
    await rt.deps.netns.remove(p).catch((err: unknown) => rt.log.warn('failed to remove leftover netns', { path: p, error: err as Error }));
  }
  return { sandboxes: rt.sandboxes.list().length, containers: rt.containers.list().length };
}

async function removeOrphans(rt: PodRuntime, dir: string, known: (id: string) => boolean, unmount?: (dir: string) => Promise<void>): Promise<void> {
  let names: string[];
  try {
    names = await fsp.readdir(dir);
  } catch {
    return;
  }
  for (const n of names) {
    if (known(n)) continue;
    rt.log.info('removing leftover CRI directory', { path: path.join(dir, n) });
    try {
      await unmount?.(path.join(dir, n));
    } catch (err) {
      rt.log.warn('failed to unmount leftover', { path: path.join(dir, n), error: err as Error });
      continue;
    }
    await fsp.rm(path.join(dir, n), { recursive: true, force: true }).catch((err: unknown) => rt.log.warn('failed to remove', { path: n, error: err as Error }));
  }
}

async function loadSandbox(rt: PodRuntime, r: ContainerRecord): Promise<Sandbox> {
  const metadata = decodeSandboxMetadata(r.extensions[SANDBOX_METADATA_EXTENSION]);
  const status: SandboxStatus = { pid: 0, createdAt: timestampToNanos(r.createdAt), state: 'unknown' };
  const task = findTask(rt, r.id);
  let monitor = false;
  try {
    if (!task) status.state = 'notready';
    else {
      const st = await task.state('', { timeoutMs: STATE_TIMEOUT_MS });
      if (st.status === 'RUNNING' || st.status === 'PAUSED') {
        status.state = 'ready';
        status.pid = st.pid;
        monitor = true;
      } else {
        await deleteTaskKilling(rt, r.id);
        status.state = 'notready';
      }
    }
  } catch (err) {
    if (err instanceof NotFoundError) status.state = 'notready';
    else rt.log.error('failed to load sandbox status', { id: r.id, error: err as Error });
  }
  const sb = new Sandbox(metadata, status);
  if (monitor && task) monitorSandboxExit(rt, sb, task);
  return sb;
}

async function loadContainer(rt: PodRuntime, r: ContainerRecord): Promise<CriContainer> {
  const metadata = decodeContainerMetadata(r.extensions[CONTAINER_METADATA_EXTENSION]);
  const dir = rt.containerRootDir(r.id);
  let status: ContainerStatusData;
  try {
    status = await ContainerStatusStore.load(dir);
  } catch (err) {
    rt.log.warn('failed to load container status', { id: r.id, error: err as Error });
    status = { ...emptyStatus(), exitCode: UNKNOWN_EXIT_CODE, reason: REASON_UNKNOWN, unknown: true };
  }
  const task = findTask(rt, r.id);
  let resumeOutput = false;
  try {
    const st = task ? await task.state('', { timeoutMs: STATE_TIMEOUT_MS }).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    }) : undefined;
    if (!st) {
      // No task: the checkpoint says what the container was.
      if (stateOf(status) === 'CONTAINER_RUNNING') {
        status = { ...status, finishedAt: nowNanos(), exitCode: UNKNOWN_EXIT_CODE, reason: REASON_UNKNOWN, pid: 0 };
      }
    } else if (st.status === 'CREATED') {
      // berthd stopped during StartContainer: the container is still just created.
      await deleteTaskKilling(rt, r.id);
      if (stateOf(status) !== 'CONTAINER_CREATED') throw new Error(`unexpected container state for created task: "${stateOf(status)}"`);
    } else if (st.status === 'RUNNING' || st.status === 'PAUSED') {
      if (stateOf(status) === 'CONTAINER_EXITED') throw new Error(`unexpected container state for running task: "${stateOf(status)}"`);
      if (stateOf(status) !== 'CONTAINER_RUNNING') status = { ...status, startedAt: nowNanos(), pid: st.pid };
      resumeOutput = true;
    } else {
      // Exited while berthd was down.
      await deleteTaskKilling(rt, r.id);
      status = { ...status, pid: 0, finishedAt: timestampToNanos(st.exitedAt) || nowNanos(), exitCode: st.exitStatus };
    }
  } catch (err) {
    rt.log.error('failed to load container status', { id: r.id, error: err as Error });
    status = { ...status, unknown: true };
  }
  const store = ContainerStatusStore.loaded(dir, status);
  // Persist what recovery learned (an exit during the downtime survives the next restart).
  if (!status.unknown && existsSync(dir)) await store.updateSync((s) => s).catch(() => undefined);
  const c = new CriContainer(metadata, store);
  if (resumeOutput && task) {
    const fifos = fifoPaths(rt.containerIoDir(r.id));
    if (existsSync(fifos.stdout)) {
      try {
        // The stdin FIFO is there until stdin_once closed it for good.
        const stdinPath = stdinFifoPath(rt.containerIoDir(r.id));
        const stdin = metadata.config.stdin && existsSync(stdinPath) ? stdinPath : undefined;
        const copy = await ContainerLogCopy.start(fifos, metadata.logPath, rt.config.maxContainerLogLineSize, rt.log.with({ container: r.id }), stdin);
        // The shim holds the write ends already.
        copy.release();
        c.output = copy;
      } catch (err) {
        rt.log.warn('failed to reopen container output', { id: r.id, error: err as Error });
      }
    }
    monitorContainerExit(rt, c, task);
  }
  return c;
}
