import type { Lease, LeaseResource } from './records';
import type { CallOptions } from './call-options';
import { Services, type Rpc } from './rpc';

export type { Lease, LeaseResource };

export interface LeaseCreateOptions {
  id?: string;
  labels?: Record<string, string>;
  /** Sets containerd.io/gc.expire: the lease stops protecting anything after this long. */
  expireMs?: number;
}

/** An id as Go's leases.WithRandomID makes them: "<unix nanos>-<random>". */
export function randomLeaseId(): string {
  const ns = process.hrtime.bigint() % 1_000_000_000n;
  // An id, not a secret: Math.random (seeded by V8 from the OS) spares the CLI loading
  // node:crypto (~4 ms) on every `run`.
  const rand = Buffer.from([0, 0, 0].map(() => Math.floor(Math.random() * 256)));
  return `${ns}-${rand.toString('base64url')}`;
}

/** The Leases service. */
export class Leases {
  constructor(private readonly rpc: Rpc) {}

  async create(o: LeaseCreateOptions = {}, opts?: CallOptions): Promise<Lease> {
    const labels = { ...o.labels };
    if (o.expireMs !== undefined) labels['containerd.io/gc.expire'] = new Date(Date.now() + o.expireMs).toISOString();
    const r = await this.rpc.unary<{ lease: Lease }>(Services.leases, 'Create', { id: o.id ?? randomLeaseId(), labels }, opts);
    return r.lease;
  }

  async list(filters: string[] = [], opts?: CallOptions): Promise<Lease[]> {
    const r = await this.rpc.unary<{ leases: Lease[] }>(Services.leases, 'List', { filters }, opts);
    return r.leases;
  }

  /** Deletes a lease; `sync` waits for the garbage collection it allows. */
  async delete(id: string, o: { sync?: boolean } = {}, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.leases, 'Delete', { id, sync: o.sync === true }, opts);
  }

  async addResource(id: string, resource: { id: string; type: string }, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.leases, 'AddResource', { id, resource }, opts);
  }

  async deleteResource(id: string, resource: { id: string; type: string }, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.leases, 'DeleteResource', { id, resource }, opts);
  }

  async resources(id: string, opts?: CallOptions): Promise<LeaseResource[]> {
    const r = await this.rpc.unary<{ resources: LeaseResource[] }>(Services.leases, 'ListResources', { id }, opts);
    return r.resources;
  }
}
