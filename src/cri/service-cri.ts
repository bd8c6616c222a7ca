import { join } from 'node:path';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { ResourceExhaustedError } from '../errdefs/errors';
import { parseFilters } from '../filters/parser';
import type { Logger } from '../log/logger';
import { unpackAny } from '../proto/any';
import type { ServiceDeps } from '../services/context';
import type { CriConfig } from './config';
import type { RemoteImageFetcher } from './image_remote';
import { CriImageStore } from './image_store';
import { CRI_NAMESPACE, type CriDeps } from './service-deps';
import { IMAGE_SERVICE, imageService } from './service-image';
import { RUNTIME_SERVICE, runtimeService } from './service-runtime';
import type { NetworkPluginStatus } from './status';
import { cniNetworkStatus } from './status_network';
import { CniManager } from '../cni';
import { startOomMonitor } from './event_monitor';
import { pullImage } from './image_pull';
import { cniPodNetwork, criImageResolver, stateDirNetns } from './pod_adapters';
import { PodRuntime } from './pod_runtime';
import { recoverPodRuntime } from './restart';
import { StreamingServer } from './streaming';
import { CriStreamingRuntime } from './streaming_runtime';
import { goDurationMs } from './config';

const IMAGE_EVENTS = `namespace==${CRI_NAMESPACE},topic~="^/images/"`;

export interface CriServices {
  deps: CriDeps;
  services: Array<[string, UntypedServiceImplementation]>;
  /** Stop following the core's image events. */
  close(): void;
  /** Rebuild pods and containers from the core (after the runtime reconnected its tasks). */
  recover(): Promise<void>;
}

export interface CriOptions {
  core: ServiceDeps;
  config: CriConfig;
  /** berthd's root: the snapshotter's data is under <root>/snapshots/<name>. */
  root: string;
  /** berthd's state dir: pod netns, FIFOs and /dev/shm mounts live under <state>/cri. */
  state: string;
  log: Logger;
  remote: RemoteImageFetcher;
  /** The network plugin's status; defaults to src/cni's CniManager over [cri.cni]. */
  network?: NetworkPluginStatus;
}

/**
 * The CRI plugin, in-process: its image index loaded from the core's records in "k8s.io",
 * kept in step with the core through the event exchange (so `ctr -n k8s.io images import`
 * shows in crictl, as with containerd), and the two services to serve on berthd's socket.
 */
export async function startCri(opts: CriOptions): Promise<CriServices> {
  const log = opts.log;
  const images = new CriImageStore({ ...opts.core, log }, CRI_NAMESPACE);
  await images.load();
  const snapshotterRoot = join(opts.root, 'snapshots', opts.config.containerd.snapshotter);
  const cni = new CniManager({
    confDir: opts.config.cni.conf_dir,
    binDirs: [opts.config.cni.bin_dir],
    cacheDir: join(opts.root, 'cni'),
    maxConfNum: opts.config.cni.max_conf_num,
    log: log.with({ component: 'cni' }),
  });
  // PullImage needs the deps, which need the pod runtime: the pull is bound once both exist.
  let pullSandboxImage: (ref: string) => Promise<void> = async () => undefined;
  const pods = new PodRuntime({
    core: opts.core,
    images: criImageResolver(images, (ref) => pullSandboxImage(ref)),
    network: cniPodNetwork(cni),
    netns: stateDirNetns(join(opts.state, 'cri')),
    config: {
      rootDir: join(opts.root, 'cri'),
      stateDir: join(opts.state, 'cri'),
      sandboxImage: opts.config.sandbox_image,
      restrictOomScoreAdj: opts.config.restrict_oom_score_adj,
      snapshotter: opts.config.containerd.snapshotter,
      runtimeType: 'io.containerd.runc.v2',
      imageFsPath: snapshotterRoot,
      maxContainerLogLineSize: opts.config.max_container_log_line_size > 0 ? opts.config.max_container_log_line_size : 0,
    },
    log: log.with({ component: 'cri-pods' }),
  });
  // containerd's CRI serves exec/attach/port-forward on its own HTTP listener
  // (stream_server_address:stream_server_port); the RPCs hand out URLs to it.
  const streaming = new StreamingServer(
    {
      address: opts.config.stream_server_address,
      port: Number(opts.config.stream_server_port),
      limits: { idleTimeoutMs: goDurationMs(opts.config.stream_idle_timeout) },
      log: (msg) => log.warn(`cri streaming: ${msg}`),
    },
    new CriStreamingRuntime(pods),
  );
  await streaming.start();
  log.info('cri: streaming server listening', { url: streaming.baseUrl });
  const deps: CriDeps = {
    streaming,
    pods,
    core: opts.core,
    config: opts.config,
    log,
    network: opts.network ?? cniNetworkStatus(cni),
    images,
    version: opts.core.version.version,
    snapshotterRoot,
  };
  pullSandboxImage = async (ref) => {
    await pullImage(deps, opts.remote, { image: { image: ref, annotations: {}, user_specified_image: '', runtime_handler: '' }, auth: null, sandbox_config: null });
  };
  let oom: { stop: () => void } | undefined;
  // Follow the core's image events in k8s.io. A subscriber that falls too far behind is cut
  // off by the exchange: then subscribe again and re-read every record, so nothing is missed.
  let sub = opts.core.exchange.subscribe(parseFilters([IMAGE_EVENTS]), { internal: true });
  let closed = false;
  void (async () => {
    while (!closed) {
      try {
        for await (const env of sub) {
          const name = unpackAny(env.event)?.name;
          if (typeof name !== 'string' || name === '') continue;
          await images.adopt(name).catch((err: unknown) => log.warn('cri: failed to update image', { image: name, error: err as Error }));
        }
        return;
      } catch (err) {
        // Only a dropped subscriber (ResourceExhausted) comes back; the exchange shutting
        // down (Unavailable) ends this.
        if (closed || !(err instanceof ResourceExhaustedError)) return;
        log.warn('cri: image event subscription dropped; reloading images', { error: err as Error });
        sub = opts.core.exchange.subscribe(parseFilters([IMAGE_EVENTS]), { internal: true });
        await images.load();
      }
    }
  })();
  return {
    deps,
    services: [
      [RUNTIME_SERVICE, runtimeService(deps) as UntypedServiceImplementation],
      [IMAGE_SERVICE, imageService(deps, opts.remote) as UntypedServiceImplementation],
    ],
    close: () => {
      closed = true;
      sub.close();
      pods.containerEvents.shutdown();
      oom?.stop();
      void streaming.stop().catch((err: unknown) => log.warn('cri: streaming server stop failed', { error: err as Error }));
    },
    recover: async () => {
      const n = await recoverPodRuntime(pods);
      oom = startOomMonitor(pods);
      log.info('cri: pods and containers recovered', n);
    },
  };
}
