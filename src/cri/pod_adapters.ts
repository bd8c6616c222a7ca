// The pod runtime's small interfaces (pod_deps.ts) over the real modules: the CRI image
// store and PullImage (images), src/cni's CniManager (network), src/netns (namespaces).
import * as path from 'node:path';
import { NotFoundError } from '../errdefs/errors';
import { type CniManager, selectPodIPs } from '../cni';
import { createNetNS, isNetNS, removeNetNS } from '../netns';
import type { CriImageInfo, CriImageResolver, PodNetnsManager, PodNetwork, PodNetworkOptions } from './pod_deps';
import type { CriImage, CriImageStore } from './image_store';
import { resolveImage } from './image_status';

function infoOf(img: CriImage): CriImageInfo {
  return { id: img.id, references: img.references, config: img.spec.config ?? {}, chainId: img.chainId };
}

/**
 * localResolve over the CRI image store; `pull` fetches the sandbox image when missing. Pods
 * started together share one pull of it (a second pull of the same image at once would
 * only contend for the same content).
 */
export function criImageResolver(store: CriImageStore, pull: (ref: string) => Promise<void>): CriImageResolver {
  const resolve = async (ref: string): Promise<CriImageInfo> => infoOf(resolveImage(store, ref));
  const pulling = new Map<string, Promise<void>>();
  return {
    resolve,
    ensure: async (ref) => {
      try {
        return await resolve(ref);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      let p = pulling.get(ref);
      if (!p) {
        p = pull(ref).finally(() => pulling.delete(ref));
        pulling.set(ref, p);
      }
      await p;
      return resolve(ref);
    },
  };
}

function request(sandboxId: string, netnsPath: string, opts: PodNetworkOptions): Parameters<CniManager['setup']>[0] {
  return {
    pod: {
      namespace: opts.labels.K8S_POD_NAMESPACE ?? '',
      name: opts.labels.K8S_POD_NAME ?? '',
      uid: opts.labels.K8S_POD_UID ?? '',
      sandboxId,
    },
    netnsPath,
    capabilityArgs: {
      portMappings: opts.portMappings.length > 0 ? opts.portMappings : undefined,
      dns: opts.dns,
      podAnnotations: opts.annotations,
    },
  };
}

/** go-cni through src/cni: ADD rolls itself back on failure; DEL tolerates a gone netns. */
export function cniPodNetwork(cni: CniManager): PodNetwork {
  return {
    setup: async (sandboxId, netnsPath, opts) => {
      const result = await cni.setup(request(sandboxId, netnsPath, opts), { rollback: true });
      const ips = selectPodIPs(result, 'eth0', 'ipv4');
      return {
        ips: ips ? [ips.ip, ...ips.additionalIps] : [],
        raw: { interfaces: Object.fromEntries(result.interfaces), dns: result.dns, routes: result.routes },
      };
    },
    teardown: (sandboxId, netnsPath, opts) => cni.teardown(request(sandboxId, netnsPath, opts)),
  };
}

/** Pod netns pinned under <state>/netns (containerd's NetNSMountsUnderStateDir layout). */
export function stateDirNetns(stateDir: string): PodNetnsManager {
  const base = path.join(stateDir, 'netns');
  return {
    create: async () => (await createNetNS(base)).path,
    remove: (p) => removeNetNS(p),
    exists: (p) => isNetNS(p),
  };
}
