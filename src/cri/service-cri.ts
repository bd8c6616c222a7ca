import { join } from 'node:path';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { UnavailableError } from '../errdefs/errors';
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

const IMAGE_EVENTS = `namespace==${CRI_NAMESPACE},topic~="^/images/"`;

export interface CriServices {
  deps: CriDeps;
  services: Array<[string, UntypedServiceImplementation]>;
  /** Stop following the core's image events. */
  close(): void;
}

export interface CriOptions {
  core: ServiceDeps;
  config: CriConfig;
  /** berthd's root: the snapshotter's data is under <root>/snapshots/<name>. */
  root: string;
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
  const deps: CriDeps = {
    core: opts.core,
    config: opts.config,
    log,
    network:
      opts.network ??
      cniNetworkStatus(
        new CniManager({
          confDir: opts.config.cni.conf_dir,
          binDirs: [opts.config.cni.bin_dir],
          cacheDir: join(opts.root, 'cni'),
          maxConfNum: opts.config.cni.max_conf_num,
          log: log.with({ component: 'cni' }),
        }),
      ),
    images,
    version: opts.core.version.version,
    snapshotterRoot: join(opts.root, 'snapshots', opts.config.containerd.snapshotter),
  };
  // Follow the core's image events in k8s.io. A subscriber that falls too far behind is cut
  // off by the exchange: then subscribe again and re-read every record, so nothing is missed.
  let sub = opts.core.exchange.subscribe(parseFilters([IMAGE_EVENTS]));
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
        // Only a dropped subscriber comes back; the exchange shutting down ends this.
        if (closed || !(err instanceof UnavailableError) || err.message.includes('shutting down')) return;
        log.warn('cri: image event subscription dropped; reloading images', { error: err as Error });
        sub = opts.core.exchange.subscribe(parseFilters([IMAGE_EVENTS]));
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
    },
  };
}
