import type { Namespace } from './records';
import type { CallOptions } from './call-options';
import { Services, type Rpc } from './rpc';

export type { Namespace };

/** The Namespaces service. */
export class Namespaces {
  constructor(private readonly rpc: Rpc) {}

  async list(opts?: CallOptions): Promise<Namespace[]> {
    const r = await this.rpc.unary<{ namespaces: Namespace[] }>(Services.namespaces, 'List', {}, opts);
    return r.namespaces;
  }

  async get(name: string, opts?: CallOptions): Promise<Namespace> {
    const r = await this.rpc.unary<{ namespace: Namespace }>(Services.namespaces, 'Get', { name }, opts);
    return r.namespace;
  }

  async create(name: string, labels: Record<string, string> = {}, opts?: CallOptions): Promise<Namespace> {
    const r = await this.rpc.unary<{ namespace: Namespace }>(Services.namespaces, 'Create', { namespace: { name, labels } }, opts);
    return r.namespace;
  }

  /** Replaces the labels: all of them, or only the `labels.<key>` paths given. */
  async setLabels(name: string, labels: Record<string, string>, paths?: string[], opts?: CallOptions): Promise<Namespace> {
    await this.rpc.unary(Services.namespaces, 'Update', { namespace: { name, labels }, update_mask: paths ? { paths } : null }, opts);
    // containerd 1.6 answers Update with an empty namespace: read back what is stored.
    return this.get(name, opts);
  }

  async delete(name: string, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.namespaces, 'Delete', { name }, opts);
  }
}
