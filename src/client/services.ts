import type { ContainersClient } from '../generated/types/containerd/services/containers/v1/Containers';
import type { NamespacesClient } from '../generated/types/containerd/services/namespaces/v1/Namespaces';
import type { LeasesClient } from '../generated/types/containerd/services/leases/v1/Leases';
import type { EventsClient } from '../generated/types/containerd/services/events/v1/Events';
import type { VersionClient } from '../generated/types/containerd/services/version/v1/Version';
import type { IntrospectionClient } from '../generated/types/containerd/services/introspection/v1/Introspection';
import type { HealthClient } from '../generated/types/grpc/health/v1/Health';
import type { ContentClient } from '../generated/types/containerd/services/content/v1/Content';
import type { ImagesClient } from '../generated/types/containerd/services/images/v1/Images';
import type { SnapshotsClient } from '../generated/types/containerd/services/snapshots/v1/Snapshots';
import { Connection } from './connection';

/** Typed clients for the services of the containerd API, over one connection. */
export class ContainerdClient {
  readonly conn: Connection;

  constructor(address: string) {
    this.conn = new Connection(address);
  }

  get containers(): ContainersClient {
    return this.conn.service<ContainersClient>('containerd.services.containers.v1.Containers');
  }
  get namespaces(): NamespacesClient {
    return this.conn.service<NamespacesClient>('containerd.services.namespaces.v1.Namespaces');
  }
  get leases(): LeasesClient {
    return this.conn.service<LeasesClient>('containerd.services.leases.v1.Leases');
  }
  get events(): EventsClient {
    return this.conn.service<EventsClient>('containerd.services.events.v1.Events');
  }
  get version(): VersionClient {
    return this.conn.service<VersionClient>('containerd.services.version.v1.Version');
  }
  get introspection(): IntrospectionClient {
    return this.conn.service<IntrospectionClient>('containerd.services.introspection.v1.Introspection');
  }
  get content(): ContentClient {
    return this.conn.service<ContentClient>('containerd.services.content.v1.Content');
  }
  get images(): ImagesClient {
    return this.conn.service<ImagesClient>('containerd.services.images.v1.Images');
  }
  get snapshots(): SnapshotsClient {
    return this.conn.service<SnapshotsClient>('containerd.services.snapshots.v1.Snapshots');
  }
  get health(): HealthClient {
    return this.conn.service<HealthClient>('grpc.health.v1.Health');
  }

  close(): void {
    this.conn.close();
  }
}
