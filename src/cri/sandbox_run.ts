// RunPodSandbox (containerd's sandbox_run.go): the pause container from sandbox_image
// holding the pod's namespaces, its network namespace wired by CNI, its files. Every step
// is undone, in reverse, when a later one fails: no netns, IP, veth, snapshot, record or
// file is left behind.
import { promises as fsp } from 'node:fs';
import type { RunPodSandboxRequest__Output } from '../generated/types/runtime/v1/RunPodSandboxRequest';
import type { RunPodSandboxResponse } from '../generated/types/runtime/v1/RunPodSandboxResponse';
import { UnknownError } from '../errdefs/errors';
import { wrapErr } from './wrap_error';
import type { Spec } from '../oci';
import type { Mount } from '../native';
import * as path from 'node:path';
import { CONTAINER_KIND_SANDBOX, K8S_NAMESPACE, SANDBOX_METADATA_EXTENSION } from './constants';
import { buildLabels, createCoreContainer, createTask, deleteCoreContainer, deleteTaskKilling, generateId, updateCoreContainer } from './core_ops';
import { sendContainerEvent } from './container_events';
import { monitorSandboxExit } from './exit_monitor';
import { encodeSandboxMetadata } from './metadata_codec';
import type { PodRuntime } from './pod_runtime';
import { withReadonlyRootfs } from './rootfs_view';
import { cleanupSandboxFiles, removeSandboxDirs, setupSandboxFiles } from './sandbox_files';
import { makeSandboxName } from './sandbox_name';
import { podNetworkOptions, selectPodIps } from './sandbox_network';
import { sandboxNamespaces, sandboxSpec } from './sandbox_spec';
import { Sandbox, type SandboxMetadata } from './sandbox_store';
import { timestampToNanos } from './time';

export async function runPodSandbox(rt: PodRuntime, req: RunPodSandboxRequest__Output): Promise<RunPodSandboxResponse> {
  const config = req.config;
  if (!config || !config.metadata) throw new UnknownError('sandbox config must include metadata');
  const id = generateId();
  const name = makeSandboxName(config.metadata);
  try {
    rt.sandboxNames.reserve(name, id);
  } catch (err) {
    throw wrapErr(`failed to reserve sandbox name "${name}"`, err);
  }
  const undo: Array<() => Promise<void>> = [async () => rt.sandboxNames.releaseByName(name)];
  // Where a pod start's time goes, for `[log] level = "debug"` (bench/cri-pod-start.ts).
  const marks: Array<[string, number]> = [['begin', performance.now()]];
  const mark = (what: string): void => {
    marks.push([what, performance.now()]);
  };
  // Steps run side by side: each one's time from when they began.
  const sideBySide: Record<string, number> = {};
  let sideBySideBegin = 0;
  const markSideBySide = (what: string): void => {
    sideBySide[what] = Math.round((performance.now() - sideBySideBegin) * 10) / 10;
  };
  const rollback = async (): Promise<void> => {
    for (const step of undo.reverse()) {
      await step().catch((err: unknown) => rt.log.error('rolling back RunPodSandbox', { id, error: err as Error }));
    }
  };
  try {
    const image = await rt.deps.images.ensure(rt.config.sandboxImage).catch((err: unknown) => {
      throw wrapErr(`failed to get sandbox image "${rt.config.sandboxImage}"`, err);
    });
    const metadata: SandboxMetadata = {
      id,
      name,
      config,
      netnsPath: '',
      ip: '',
      additionalIps: [],
      runtimeHandler: req.runtime_handler,
      cniResult: null,
    };
    mark('image');
    const podNetwork = sandboxNamespaces(config).network !== 'NODE';

    // The directories first; then the pod's files (hostname, hosts, resolv.conf, /dev/shm)
    // are written while the netns, the snapshot and the record are made: the spec names
    // those files by path only, and nothing reads them before runc creates the task, after
    // both. Each side registers its undo before its work starts and both are settled
    // before any rollback, so a failure of one never races the other's work.
    await fsp.mkdir(rt.sandboxRootDir(id), { recursive: true, mode: 0o755 });
    await fsp.mkdir(rt.sandboxStateDir(id), { recursive: true, mode: 0o755 });
    undo.push(() => removeSandboxDirs(rt, id));
    const setupFiles = async (): Promise<void> => {
      undo.push(async () => cleanupSandboxFiles(rt, id, config));
      await setupSandboxFiles(rt, id, config).catch((err: unknown) => {
        throw wrapErr('failed to setup sandbox files', err);
      });
      markSideBySide('files');
    };
    const createContainer = async (): Promise<{ mounts: Mount[]; spec: Spec }> => {
      // The netns before the record, so the record's spec names it from the start.
      if (podNetwork) {
        metadata.netnsPath = await rt.deps.netns.create().catch((err: unknown) => {
          throw wrapErr(`failed to create network namespace for sandbox "${id}"`, err);
        });
        const netnsPath = metadata.netnsPath;
        undo.push(() => rt.deps.netns.remove(netnsPath));
      }
      markSideBySide('netns');
      const buildSpec = (mounts: Mount[]): Promise<Spec> =>
        sandboxSpec({
          id,
          config,
          image: image.config,
          netnsPath: metadata.netnsPath,
          shmPath: rt.sandboxShmPath(id),
          resolvPath: rt.sandboxResolvPath(id),
          restrictOomScoreAdj: rt.config.restrictOomScoreAdj,
          mountRootfs: (fn) => withReadonlyRootfs(path.join(rt.config.stateDir, 'tmpmounts'), mounts, fn),
        });
      const made = await createCoreContainer(
        rt,
        {
          id,
          image: image.references[0] ?? image.id,
          labels: buildLabels(config.labels, image.config.Labels, CONTAINER_KIND_SANDBOX),
          extensions: { [SANDBOX_METADATA_EXTENSION]: encodeSandboxMetadata(metadata) },
        },
        image.chainId,
        buildSpec,
      ).catch((err: unknown) => {
        throw wrapErr('failed to create containerd container', err);
      });
      undo.push(() => deleteCoreContainer(rt, id));
      markSideBySide('container');
      return made;
    };
    sideBySideBegin = performance.now();
    const [filesDone, containerDone] = await Promise.allSettled([setupFiles(), createContainer()]);
    if (filesDone.status === 'rejected') throw filesDone.reason;
    if (containerDone.status === 'rejected') throw containerDone.reason;
    const { mounts, spec } = containerDone.value;
    mark('filesNetnsContainer');
    const record = await rt.deps.core.containers.get(K8S_NAMESPACE, id);

    // The pod's network and the pause task are made at the same time (containerd 1.6 does
    // one after the other): both need only the netns and the record, and neither looks at
    // what the other does — CNI configures the netns by its path, runc's create only joins
    // it. The pause process starts once both are done, so nothing in the pod runs before
    // its network is there, as before. Each side's undo is registered before it starts and
    // both are settled before any rollback, so a failure of one never races the other's
    // work: no task, veth or IP is left behind.
    const setupNetwork = async (): Promise<void> => {
      if (!podNetwork) return;
      const opts = podNetworkOptions(id, config);
      const result = await rt.deps.network.setup(id, metadata.netnsPath, opts).catch((err: unknown) => {
        throw wrapErr(`failed to setup network for sandbox "${id}"`, err);
      });
      const ips = selectPodIps(result.ips);
      if (ips.ip === '') throw new UnknownError(`failed to find network info for sandbox "${id}"`);
      metadata.ip = ips.ip;
      metadata.additionalIps = ips.additional;
      metadata.cniResult = result.raw;
      await updateCoreContainer(rt, id, { extensions: { [SANDBOX_METADATA_EXTENSION]: encodeSandboxMetadata(metadata) } }).catch((err: unknown) => {
        throw wrapErr(`failed to update the network namespace for the sandbox container "${id}"`, err);
      });
      markSideBySide('cni');
    };
    if (podNetwork) {
      const opts = podNetworkOptions(id, config);
      // DEL is safe even when ADD failed half-way: plugins release what they took.
      undo.push(() => rt.deps.network.teardown(id, metadata.netnsPath, opts));
    }
    // Registered after the network's undo so that rollback (in reverse) deletes the task
    // first, then tears the network down, as containerd's deferred cleanups do.
    undo.push(() => deleteTaskKilling(rt, id));
    sideBySideBegin = performance.now();
    const [network, created] = await Promise.allSettled([
      setupNetwork(),
      createTask(rt, id, spec, mounts).then(
        (r) => {
          markSideBySide('taskCreate');
          return r;
        },
        (err: unknown) => {
          throw wrapErr('failed to create containerd task', err);
        },
      ),
    ]);
    // containerd would have reported the network's failure: it never got to the task.
    if (network.status === 'rejected') throw network.reason;
    if (created.status === 'rejected') throw created.reason;
    const { task, pid } = created.value;
    mark('cniAndTaskCreate');
    await task.start('').catch((err: unknown) => {
      throw wrapErr(`failed to start sandbox container task "${id}"`, err);
    });
    mark('taskStart');
    if (rt.log.enabled('debug')) {
      const ms: Record<string, number> = {};
      for (let i = 1; i < marks.length; i++) ms[marks[i]![0]] = Math.round((marks[i]![1] - marks[i - 1]![1]) * 10) / 10;
      rt.log.debug('RunPodSandbox timings', { id, ...ms, ...sideBySide });
    }
    const sb = new Sandbox(metadata, { pid, state: 'ready', createdAt: timestampToNanos(record.createdAt) });
    rt.sandboxes.add(sb);
    monitorSandboxExit(rt, sb, task);
    sendContainerEvent(rt, 'CONTAINER_CREATED_EVENT', id, id);
    sendContainerEvent(rt, 'CONTAINER_STARTED_EVENT', id, id);
    return { pod_sandbox_id: id };
  } catch (err) {
    await rollback();
    throw err;
  }
}
