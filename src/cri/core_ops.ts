// The core operations the CRI RPCs are made of (what containerd's CRI does through its Go
// client: NewContainer with a snapshot, NewTask, Task.Delete WithProcessKill, Container.
// Delete WithSnapshotCleanup), done in-process on the core's stores.
import { randomBytes } from 'node:crypto';
import { EXPIRE_LABEL } from '../metadata/leases';
import { addWallMs, formatWall, wallNow } from '../time/wall';
import { NotFoundError, UnknownError } from '../errdefs/errors';
import { validateLabel } from '../identifiers/labels';
import type { AnyValue } from '../metadata/records';
import type { Mount } from '../native';
import type { Spec } from '../oci';
import type { RuntimeTask, TaskIO } from '../runtime';
import { CONTAINER_KIND_LABEL, K8S_NAMESPACE, SPEC_TYPE_URL } from './constants';
import type { CriContainer } from './container_store';
import { stateOf } from './container_status_file';
import type { PodRuntime } from './pod_runtime';

const SIGKILL = 9;
/** A create lease left by a crash expires after a day (containerd's default lease expiry). */
const CREATE_LEASE_EXPIRY_MS = 24 * 3600 * 1000;
const NO_IO: TaskIO = { stdin: '', stdout: '', stderr: '', terminal: false };

/** containerd's util.GenerateID: 32 random bytes, hex. */
export function generateId(): string {
  return randomBytes(32).toString('hex');
}

/** containerd's buildLabels: valid image labels, then the CRI config's, then the kind. */
export function buildLabels(configLabels: Record<string, string>, imageLabels: Record<string, string> | undefined, kind: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(imageLabels ?? {})) {
    try {
      validateLabel(k, v);
      out[k] = v;
    } catch {
      // containerd skips an image label the core would refuse
    }
  }
  Object.assign(out, configLabels);
  out[CONTAINER_KIND_LABEL] = kind;
  return out;
}

export function specAny(spec: Spec): AnyValue {
  return { typeUrl: SPEC_TYPE_URL, value: Buffer.from(JSON.stringify(spec)) };
}

export function jsonAny(typeUrl: string, value: unknown): AnyValue {
  return { typeUrl, value: Buffer.from(JSON.stringify(value)) };
}

export interface NewCoreContainer {
  id: string;
  image: string;
  labels: Record<string, string>;
  extensions: Record<string, AnyValue>;
}

/**
 * NewContainer with WithNewSnapshot and WithSpec: prepare the container's writable snapshot
 * on the image's chain, build the spec (with the snapshot's mounts at hand, for options that
 * read the image's files), record the container. Undone entirely on failure.
 */
export async function createCoreContainer(
  rt: PodRuntime,
  c: NewCoreContainer,
  parent: string,
  buildSpec: (mounts: Mount[]) => Promise<Spec>,
  snapshotLabels: Record<string, string> = {},
): Promise<{ mounts: Mount[]; spec: Spec }> {
  // Until the record references the snapshot, only a lease keeps the collector (run by a
  // concurrent image removal, say) from taking it: containerd's client leases NewContainer too.
  const lease = `cri-create-${c.id.slice(0, 16)}-${randomBytes(4).toString('hex')}`;
  await rt.deps.core.leases.create(K8S_NAMESPACE, lease, { [EXPIRE_LABEL]: formatWall(addWallMs(wallNow(), CREATE_LEASE_EXPIRY_MS)) });
  const dropLease = (): Promise<void> =>
    rt.deps.core.leases.delete(K8S_NAMESPACE, lease).catch((err: unknown) => rt.log.warn('failed to delete create lease', { lease, error: err as Error }));
  const sn = rt.deps.core.snapshotters.get(rt.config.snapshotter).view(K8S_NAMESPACE, lease);
  let mounts: Mount[];
  try {
    mounts = await sn.prepare(c.id, parent, snapshotLabels);
  } catch (err) {
    await dropLease();
    throw err;
  }
  let spec: Spec;
  try {
    spec = await buildSpec(mounts);
    await rt.deps.core.containers.create(K8S_NAMESPACE, {
      id: c.id,
      labels: c.labels,
      image: c.image,
      runtime: { name: rt.config.runtimeType },
      spec: specAny(spec),
      snapshotter: rt.config.snapshotter,
      snapshotKey: c.id,
      extensions: c.extensions,
    });
  } catch (err) {
    await sn.remove(c.id).catch(() => undefined);
    await dropLease();
    throw err;
  }
  // The record, on disk now, keeps the snapshot from the collector: the lease has done its
  // work, and deleting it (a metadata write and its fsync, ~1 ms) need not hold up the
  // caller's answer. A failed or interrupted deletion leaves a lease that expires.
  void dropLease();
  return { mounts, spec };
}

/** The snapshot's mounts (for a task of a container created earlier). */
export function snapshotMounts(rt: PodRuntime, id: string): Promise<Mount[]> {
  return rt.deps.core.snapshotters.get(rt.config.snapshotter).view(K8S_NAMESPACE).mounts(id);
}

/** Replace the spec (and extensions) of a recorded container. */
export async function updateCoreContainer(rt: PodRuntime, id: string, change: { spec?: Spec; extensions?: Record<string, AnyValue> }): Promise<void> {
  const core = rt.deps.core.containers;
  const current = await core.get(K8S_NAMESPACE, id);
  const paths: string[] = [];
  if (change.spec) paths.push('spec');
  for (const k of Object.keys(change.extensions ?? {})) paths.push(`extensions.${k}`);
  await core.update(
    K8S_NAMESPACE,
    {
      ...current,
      spec: change.spec ? specAny(change.spec) : current.spec,
      extensions: { ...current.extensions, ...(change.extensions ?? {}) },
    },
    paths,
  );
}

/** Container.Delete WithSnapshotCleanup: the record, then its snapshot. Gone already is fine. */
export async function deleteCoreContainer(rt: PodRuntime, id: string): Promise<void> {
  try {
    await rt.deps.core.containers.delete(K8S_NAMESPACE, id);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
  try {
    await rt.deps.core.snapshotters.get(rt.config.snapshotter).view(K8S_NAMESPACE).remove(id);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

/** NewTask: the shim, the bundle, runc create. */
export async function createTask(rt: PodRuntime, id: string, spec: Spec, rootfs: Mount[], io: TaskIO = NO_IO): Promise<{ task: RuntimeTask; pid: number }> {
  const r = await rt.deps.core.tasks.create(K8S_NAMESPACE, id, {
    spec: Buffer.from(JSON.stringify(spec)),
    runtime: rt.config.runtimeType,
    options: null,
    rootfs,
    io,
    checkpoint: '',
  });
  return r;
}

export function findTask(rt: PodRuntime, id: string): RuntimeTask | undefined {
  return rt.deps.core.tasks.find(K8S_NAMESPACE, id);
}

/** What exec and ExecSync run a process in: a running container's id, its OCI spec (the
 * process defaults) and its task; containerd's errors when it is not running. */
export async function runningTaskOf(rt: PodRuntime, c: CriContainer): Promise<{ id: string; spec: Spec; task: RuntimeTask }> {
  const id = c.id;
  const state = stateOf(c.status.get());
  if (state !== 'CONTAINER_RUNNING') throw new UnknownError(`container is in ${state} state`);
  const record = await rt.deps.core.containers.get(K8S_NAMESPACE, id);
  const spec = JSON.parse(record.spec?.value.toString('utf8') ?? '{}') as Spec;
  const task = findTask(rt, id);
  if (!task) throw new UnknownError(`failed to load task: no running task found: task ${id} not found: not found`);
  return { id, spec, task };
}

/**
 * Task.Delete WithProcessKill: SIGKILL every process of a task still running, wait for its
 * exit, then delete it. No task is fine.
 */
export async function deleteTaskKilling(rt: PodRuntime, id: string): Promise<void> {
  const task = findTask(rt, id);
  if (!task) return;
  try {
    const st = await task.state('');
    if (st.status !== 'STOPPED') {
      const exited = task.wait('');
      await task.kill('', SIGKILL, true).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
      });
      await exited;
    }
  } catch (err) {
    if (!(err instanceof NotFoundError)) rt.log.debug('task state before delete', { id, error: err as Error });
  }
  try {
    await rt.deps.core.tasks.delete(K8S_NAMESPACE, id);
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err;
  }
}

