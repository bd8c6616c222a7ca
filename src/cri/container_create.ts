// CreateContainer (containerd's container_create.go): resolve the image (pulled before, not
// here), reserve the name, prepare the rootfs snapshot, build the spec from the CRI config
// and the image config, record the container with its metadata, write its first status.
import { existsSync, promises as fsp } from 'node:fs';
import * as path from 'node:path';
import type { CreateContainerRequest__Output } from '../generated/types/runtime/v1/CreateContainerRequest';
import type { CreateContainerResponse } from '../generated/types/runtime/v1/CreateContainerResponse';
import type { Mount__Output } from '../generated/types/runtime/v1/Mount';
import { UnknownError } from '../errdefs/errors';
import { CONTAINER_KIND_CONTAINER, CONTAINER_METADATA_EXTENSION } from './constants';
import { containerSpec } from './container_spec';
import { ContainerStatusStore, emptyStatus, type ContainerStatusData } from './container_status_file';
import { sendContainerEvent } from './container_events';
import { CriContainer, type ContainerMetadata } from './container_store';
import { buildLabels, createCoreContainer, deleteCoreContainer, generateId } from './core_ops';
import { encodeContainerMetadata } from './metadata_codec';
import type { PodRuntime } from './pod_runtime';
import { withReadonlyRootfs } from './rootfs_view';
import { makeContainerName } from './sandbox_name';
import { findTask } from './core_ops';
import { nowNanos } from './time';
import { wrapErr } from './wrap_error';
import type { Spec } from '../oci';
import { resolveInRoot } from '../oci/rootfs-path';
import { copyTree } from '../snapshotter/copy';

function bindMount(containerPath: string, hostPath: string, readonly: boolean): Mount__Output {
  return {
    container_path: containerPath,
    host_path: hostPath,
    readonly,
    selinux_relabel: true,
    propagation: 'PROPAGATION_PRIVATE',
    uidMappings: [],
    gidMappings: [],
    recursive_read_only: false,
    image: null,
    image_sub_path: '',
  };
}

/** containerd's containerMounts: the pod's hostname, hosts, resolv.conf and /dev/shm. */
function podFileMounts(rt: PodRuntime, sandboxId: string, req: CreateContainerRequest__Output): Mount__Output[] {
  const config = req.config!;
  const inCri = (p: string): boolean => config.mounts.some((m) => path.posix.normalize(m.container_path) === p);
  const ro = config.linux?.security_context?.readonly_rootfs ?? false;
  const out: Mount__Output[] = [];
  if (!inCri('/etc/hostname') && existsSync(rt.sandboxHostnamePath(sandboxId))) out.push(bindMount('/etc/hostname', rt.sandboxHostnamePath(sandboxId), ro));
  if (!inCri('/etc/hosts')) out.push(bindMount('/etc/hosts', rt.sandboxHostsPath(sandboxId), ro));
  if (!inCri('/etc/resolv.conf')) out.push(bindMount('/etc/resolv.conf', rt.sandboxResolvPath(sandboxId), ro));
  if (!inCri('/dev/shm')) {
    const hostIpc = config.linux?.security_context?.namespace_options?.ipc === 'NODE';
    out.push({ ...bindMount('/dev/shm', hostIpc ? '/dev/shm' : rt.sandboxShmPath(sandboxId), false), selinux_relabel: !hostIpc });
  }
  return out;
}

/**
 * containerd's volumeMounts: each VOLUME of the image that no CRI mount covers gets a fresh
 * directory under the container's root dir.
 */
export function imageVolumeMounts(rt: PodRuntime, id: string, config: CreateContainerRequest__Output['config'], volumes: Record<string, unknown> | undefined): Mount__Output[] {
  const inCri = (p: string): boolean => (config?.mounts ?? []).some((m) => path.posix.normalize(m.container_path) === path.posix.normalize(p));
  return Object.keys(volumes ?? {})
    .filter((dst) => !inCri(dst))
    .map((dst) => bindMount(dst, path.join(rt.containerRootDir(id), 'volumes', generateId()), false));
}

/**
 * containerd's WithVolumes: what the image holds at a volume's path is copied into the new
 * volume directory (owners, modes, xattrs kept); a path the image lacks stays empty.
 */
export async function copyImageVolumes(root: string, volumes: readonly Mount__Output[]): Promise<void> {
  for (const v of volumes) {
    const src = resolveInRoot(root, v.container_path);
    try {
      if (!(await fsp.stat(src)).isDirectory()) continue;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new UnknownError(`stat volume in rootfs: ${(err as Error).message}`);
    }
    await fsp.mkdir(v.host_path, { recursive: true, mode: 0o755 });
    if ((await fsp.readdir(v.host_path)).length !== 0) throw new UnknownError(`volume at "${v.host_path}" is not initially empty`);
    await copyTree(src, v.host_path).catch((err: unknown) => {
      throw new UnknownError(`taking runtime copy of volume: ${(err as Error).message}`);
    });
  }
}

/** containerd's copyResourcesToStatus. */
export function resourcesOf(spec: Spec): ContainerStatusData['resources'] {
  const r = spec.linux?.resources;
  return {
    linux: {
      cpu_period: r?.cpu?.period ?? 0,
      cpu_quota: r?.cpu?.quota ?? 0,
      cpu_shares: r?.cpu?.shares ?? 0,
      memory_limit_in_bytes: r?.memory?.limit ?? 0,
      oom_score_adj: spec.process?.oomScoreAdj ?? 0,
      cpuset_cpus: r?.cpu?.cpus ?? '',
      cpuset_mems: r?.cpu?.mems ?? '',
      hugepage_limits: (r?.hugepageLimits ?? []).map((h) => ({ page_size: h.pageSize, limit: h.limit })),
      unified: { ...(r?.unified ?? {}) },
      memory_swap_limit_in_bytes: r?.memory?.swap ?? 0,
    },
    windows: null,
  };
}

let unified: boolean | undefined;
function cgroupUnified(): boolean {
  unified ??= existsSync('/sys/fs/cgroup/cgroup.controllers');
  return unified;
}

export async function createContainerRpc(rt: PodRuntime, req: CreateContainerRequest__Output): Promise<CreateContainerResponse> {
  const config = req.config;
  const sandboxConfig = req.sandbox_config;
  let sandboxId: string;
  try {
    sandboxId = rt.sandboxes.get(req.pod_sandbox_id).id;
  } catch (err) {
    throw wrapErr(`failed to find sandbox id "${req.pod_sandbox_id}"`, err);
  }
  const sandbox = rt.sandboxes.get(sandboxId);
  const sandboxTask = findTask(rt, sandboxId);
  if (!sandboxTask) throw new UnknownError(`failed to get sandbox container task: no running task found: task ${sandboxId} not found: not found`);
  const sandboxPid = sandboxTask.pid;
  if (!config || !config.metadata) throw new UnknownError('container config must include metadata');
  const sbConfig = sandboxConfig ?? sandbox.metadata.config;
  const id = generateId();
  const name = makeContainerName(config.metadata, sbConfig.metadata ?? { name: '', uid: '', namespace: '', attempt: 0 });
  try {
    rt.containerNames.reserve(name, id);
  } catch (err) {
    throw wrapErr(`failed to reserve container name "${name}"`, err);
  }
  const undo: Array<() => Promise<void>> = [async () => rt.containerNames.releaseByName(name)];
  try {
    const imageRef = config.image?.image ?? '';
    const image = await rt.deps.images.resolve(imageRef).catch((err: unknown) => {
      throw wrapErr(`failed to resolve image "${imageRef}"`, err);
    });
    await fsp.mkdir(rt.containerRootDir(id), { recursive: true, mode: 0o755 });
    undo.push(() => fsp.rm(rt.containerRootDir(id), { recursive: true, force: true }));
    await fsp.mkdir(rt.containerStateDir(id), { recursive: true, mode: 0o755 });
    undo.push(() => fsp.rm(rt.containerStateDir(id), { recursive: true, force: true }));

    let targetPid = sandboxPid;
    const nsOpts = config.linux?.security_context?.namespace_options;
    if (nsOpts?.pid === 'TARGET') {
      const target = rt.containers.find(nsOpts.target_id);
      if (!target || target.metadata.sandboxId !== sandboxId) throw new UnknownError(`invalid target container: container "${nsOpts.target_id}" does not exist in this sandbox`);
      targetPid = target.status.get().pid;
    }
    const logPath = sbConfig.log_directory !== '' && config.log_path !== '' ? path.join(sbConfig.log_directory, config.log_path) : '';
    const metadata: ContainerMetadata = {
      id,
      name,
      sandboxId,
      config,
      imageRef: image.id,
      logPath,
      stopSignal: image.config.StopSignal ?? '',
    };
    const imageName = image.references[0] ?? imageRef;
    const volumes = imageVolumeMounts(rt, id, config, image.config.Volumes);
    const { spec } = await createCoreContainer(
      rt,
      {
        id,
        image: imageName,
        labels: buildLabels(config.labels, image.config.Labels, CONTAINER_KIND_CONTAINER),
        extensions: { [CONTAINER_METADATA_EXTENSION]: encodeContainerMetadata(metadata) },
      },
      image.chainId,
      async (mounts) => {
        const spec = await containerSpec({
          id,
          sandboxId,
          sandboxPid,
          targetPid,
          containerName: config.metadata!.name,
          imageName,
          config,
          sandboxConfig: sbConfig,
          image: image.config,
          extraMounts: [...podFileMounts(rt, sandboxId, req), ...volumes],
          restrictOomScoreAdj: rt.config.restrictOomScoreAdj,
          mountRootfs: (fn) => withReadonlyRootfs(path.join(rt.config.stateDir, 'tmpmounts'), mounts, fn),
          cgroupUnified: cgroupUnified(),
        }).catch((err: unknown) => {
          throw wrapErr(`failed to generate container "${id}" spec`, err);
        });
        if (volumes.length > 0) await withReadonlyRootfs(path.join(rt.config.stateDir, 'tmpmounts'), mounts, (root) => copyImageVolumes(root, volumes));
        return spec;
      },
    ).catch((err: unknown) => {
      throw wrapErr('failed to create containerd container', err);
    });
    undo.push(() => deleteCoreContainer(rt, id));
    const status = await ContainerStatusStore.create(rt.containerRootDir(id), { ...emptyStatus(), createdAt: nowNanos(), resources: resourcesOf(spec) });
    rt.containers.add(new CriContainer(metadata, status));
    sendContainerEvent(rt, 'CONTAINER_CREATED_EVENT', id, metadata.sandboxId);
    return { container_id: id };
  } catch (err) {
    for (const step of undo.reverse()) await step().catch((e: unknown) => rt.log.error('rolling back CreateContainer', { id, error: e as Error }));
    throw err;
  }
}
