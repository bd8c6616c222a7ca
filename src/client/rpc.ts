// A channel seen through one scope (namespace, lease): what every part of the client
// library calls the daemon with. Scopes are cheap values sharing one connection.
import type { CallOptions, CallScope } from './call-options';
import type { Channel, GrpcCall } from './channel';

/** Full service names of containerd's v1 API (streaming and transfer: containerd 2's). */
export const Services = {
  containers: 'containerd.services.containers.v1.Containers',
  content: 'containerd.services.content.v1.Content',
  diff: 'containerd.services.diff.v1.Diff',
  events: 'containerd.services.events.v1.Events',
  images: 'containerd.services.images.v1.Images',
  introspection: 'containerd.services.introspection.v1.Introspection',
  leases: 'containerd.services.leases.v1.Leases',
  namespaces: 'containerd.services.namespaces.v1.Namespaces',
  snapshots: 'containerd.services.snapshots.v1.Snapshots',
  streaming: 'containerd.services.streaming.v1.Streaming',
  tasks: 'containerd.services.tasks.v1.Tasks',
  transfer: 'containerd.services.transfer.v1.Transfer',
  version: 'containerd.services.version.v1.Version',
} as const;
export type ServiceName = (typeof Services)[keyof typeof Services];

export class Rpc {
  constructor(
    readonly channel: Channel,
    readonly scope: Readonly<CallScope>,
  ) {}

  with(scope: Partial<CallScope>): Rpc {
    return new Rpc(this.channel, { ...this.scope, ...scope });
  }

  unary<Res, Req extends object = object>(service: ServiceName, method: string, req: Req, opts?: CallOptions): Promise<Res> {
    return this.channel.unary<Req, Res>(`/${service}/${method}`, req, this.scope, opts);
  }

  stream<Res, Req extends object = object>(service: ServiceName, method: string, req: Req, opts?: CallOptions): AsyncIterable<Res> {
    return this.channel.serverStream<Req, Res>(`/${service}/${method}`, req, this.scope, opts);
  }

  open<Req extends object, Res>(service: ServiceName, method: string, opts?: CallOptions): GrpcCall<Req, Res> {
    return this.channel.open<Req, Res>(`/${service}/${method}`, this.scope, opts);
  }
}
