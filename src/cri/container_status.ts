// ContainerStatus and ListContainers (containerd's container_status.go and
// container_list.go): state, exit code and reason (Completed/Error/OOMKilled/StartError),
// times, image tag and digest, mounts, log path, resources; verbose adds containerd's
// "info" JSON.
import type { ContainerStatusRequest__Output } from '../generated/types/runtime/v1/ContainerStatusRequest';
import type { ContainerStatusResponse } from '../generated/types/runtime/v1/ContainerStatusResponse';
import type { ContainerStatus } from '../generated/types/runtime/v1/ContainerStatus';
import type { ImageSpec } from '../generated/types/runtime/v1/ImageSpec';
import type { ListContainersRequest__Output } from '../generated/types/runtime/v1/ListContainersRequest';
import type { ListContainersResponse } from '../generated/types/runtime/v1/ListContainersResponse';
import type { Container } from '../generated/types/runtime/v1/Container';
import { NotFoundError } from '../errdefs/errors';
import { K8S_NAMESPACE, REASON_COMPLETED, REASON_ERROR } from './constants';
import { stateOf } from './container_status_file';
import type { CriContainer } from './container_store';
import { findContainer } from './lookup';
import type { PodRuntime } from './pod_runtime';
import { completeId, matchLabels } from './sandbox_list';
import { nanosToWire } from './time';
import { wrapErr } from './wrap_error';

/** Repo tags and repo digests among an image's names (containerd's parseImageReferences). */
export function splitReferences(refs: readonly string[]): { tags: string[]; digests: string[] } {
  const tags: string[] = [];
  const digests: string[] = [];
  for (const r of refs) {
    if (r.startsWith('sha256:')) continue;
    if (r.includes('@')) digests.push(r);
    else if (/:[^/]+$/.test(r)) tags.push(r);
  }
  return { tags, digests };
}

export function toCriContainerStatus(c: CriContainer, image: ImageSpec | null, imageRef: string): ContainerStatus {
  const m = c.metadata;
  const s = c.status.get();
  const state = stateOf(s);
  let reason = s.reason;
  if (state === 'CONTAINER_EXITED' && reason === '') reason = s.exitCode === 0 ? REASON_COMPLETED : REASON_ERROR;
  let started = 0n;
  let finished = 0n;
  if (state === 'CONTAINER_RUNNING') started = s.startedAt;
  else if (state === 'CONTAINER_EXITED' || state === 'CONTAINER_UNKNOWN') {
    started = s.startedAt;
    finished = s.finishedAt;
  }
  return {
    id: m.id,
    metadata: m.config.metadata,
    state,
    created_at: nanosToWire(s.createdAt),
    started_at: nanosToWire(started),
    finished_at: nanosToWire(finished),
    exit_code: s.exitCode,
    image,
    image_ref: imageRef,
    reason,
    message: s.message,
    labels: m.config.labels,
    annotations: m.config.annotations,
    mounts: m.config.mounts,
    log_path: m.logPath,
    resources: s.resources,
  };
}

/** The image and image ref a container's status shows: the image's first tag and repo
 * digest while the image is known, else what the container was created from. */
export async function containerImageOf(rt: PodRuntime, c: CriContainer): Promise<{ image: ImageSpec | null; imageRef: string }> {
  let image: ImageSpec | null = c.metadata.config.image;
  let imageRef = c.metadata.imageRef;
  try {
    const info = await rt.deps.images.resolve(c.metadata.imageRef);
    const { tags, digests } = splitReferences(info.references);
    if (tags.length > 0) image = { image: tags[0] as string };
    if (digests.length > 0) imageRef = digests[0] as string;
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw wrapErr(`failed to get image "${imageRef}"`, err);
  }
  return { image, imageRef };
}

export async function containerStatusRpc(rt: PodRuntime, req: ContainerStatusRequest__Output): Promise<ContainerStatusResponse> {
  const c = findContainer(rt, req.container_id);
  const { image, imageRef } = await containerImageOf(rt, c);
  const status = toCriContainerStatus(c, image, imageRef);
  if (!req.verbose) return { status, info: {} };
  return { status, info: { info: JSON.stringify(await containerInfo(rt, c)) } };
}

async function containerInfo(rt: PodRuntime, c: CriContainer): Promise<Record<string, unknown>> {
  const s = c.status.get();
  let record;
  try {
    record = await rt.deps.core.containers.get(K8S_NAMESPACE, c.id);
  } catch {
    record = undefined;
  }
  return {
    sandboxID: c.metadata.sandboxId,
    pid: s.pid,
    removing: s.removing,
    snapshotKey: record?.snapshotKey ?? '',
    snapshotter: record?.snapshotter ?? '',
    runtimeType: record?.runtime.name ?? '',
    runtimeOptions: null,
    config: c.metadata.config,
    runtimeSpec: record?.spec ? (JSON.parse(record.spec.value.toString('utf8')) as unknown) : null,
  };
}

export function toCriContainer(c: CriContainer): Container {
  const m = c.metadata;
  const s = c.status.get();
  return {
    id: m.id,
    pod_sandbox_id: m.sandboxId,
    metadata: m.config.metadata,
    image: m.config.image,
    image_ref: m.imageRef,
    state: stateOf(s),
    created_at: nanosToWire(s.createdAt),
    labels: m.config.labels,
    annotations: m.config.annotations,
  };
}

export async function listContainersRpc(rt: PodRuntime, req: ListContainersRequest__Output): Promise<ListContainersResponse> {
  const f = req.filter;
  const all = rt.containers.list().map(toCriContainer);
  if (!f) return { containers: all };
  const id = completeId((x) => rt.containers.get(x), f.id);
  const sb = completeId((x) => rt.sandboxes.get(x), f.pod_sandbox_id);
  const containers = all.filter((c) => {
    if (id !== '' && id !== c.id) return false;
    if (sb !== '' && sb !== c.pod_sandbox_id) return false;
    if (f.state && f.state.state !== c.state) return false;
    return matchLabels(f.label_selector, c.labels ?? {});
  });
  return { containers };
}
