import type { Exchange } from '../events/exchange';
import type { Logger } from '../log/logger';
import type { ContainerStore } from '../metadata/containers';
import type { LeaseStore } from '../metadata/leases';
import type { NamespaceStore } from '../metadata/namespaces';
import type { ImageStore } from '../metadata/images';
import type { NamespacedContentStore } from '../metadata/content';
import type { SnapshotterRegistry } from '../metadata/snapshots';
import type { Differ } from '../differ/differ';
import type { PluginRegistry } from '../plugins/registry';
import type { TaskManager } from '../runtime';
import type { AnyValue } from '../metadata/records';
import { packAny } from '../proto/any';
import type { StreamManager } from '../streaming/manager';

/** Everything the gRPC adapters reach: the stores, the event exchange and the daemon's
 * identity. Services hold no state of their own. */
export interface ServiceDeps {
  log: Logger;
  namespaces: NamespaceStore;
  containers: ContainerStore;
  leases: LeaseStore;
  images: ImageStore;
  content: NamespacedContentStore;
  snapshotters: SnapshotterRegistry;
  differ: Differ;
  /** Tasks: shims, bundles, reconnect (runtime v2). */
  tasks: TaskManager;
  exchange: Exchange;
  plugins: PluginRegistry;
  version: { version: string; revision: string };
  uuid: string;
  /** Streams clients opened with Streaming.Stream, for the calls that refer to them. */
  streams: StreamManager;
  /** Run garbage collection now (sync deletes) or soon. */
  gc: { schedule(): void; runNow(): Promise<void> };
}

/** Publish an event whose payload is one of the contract's messages. */
export function publish(deps: Pick<ServiceDeps, 'exchange' | 'log'>, ns: string, topic: string, typeName: string, payload: object): void {
  const event: AnyValue = packAny(typeName, payload);
  try {
    deps.exchange.publish(ns, topic, event);
  } catch (err) {
    // An event that cannot be published must not undo a committed change.
    deps.log.warn('failed to publish event', { topic, namespace: ns, error: err as Error });
  }
}
