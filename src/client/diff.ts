import type { CallOptions } from './call-options';
import type { Descriptor, Mount } from './records';
import { Services, type Rpc } from './rpc';

/** The Diff service: layer blobs applied onto mounts, mounts compared into layers. */
export class Differ {
  constructor(private readonly rpc: Rpc) {}

  /** Applies a layer blob (compressed or not) onto the mounts; returns the uncompressed layer's descriptor (digest = diff ID). */
  async apply(layer: { media_type: string; digest: string; size: number }, mounts: readonly Mount[], opts?: CallOptions): Promise<Descriptor> {
    const r = await this.rpc.unary<{ applied: Descriptor }>(Services.diff, 'Apply', { diff: layer, mounts }, opts);
    return r.applied;
  }
}
