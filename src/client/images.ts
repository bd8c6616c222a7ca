import type { Descriptor, Image } from './records';
import type { CallOptions } from './call-options';
import { Services, type Rpc } from './rpc';

export type { Descriptor, Image };

export interface ImageInput {
  name: string;
  target: { media_type: string; digest: string; size: number; annotations?: Record<string, string> };
  labels?: Record<string, string>;
}

/** The Images service: names pointing at a target descriptor. */
export class Images {
  constructor(private readonly rpc: Rpc) {}

  async get(name: string, opts?: CallOptions): Promise<Image> {
    const r = await this.rpc.unary<{ image: Image }>(Services.images, 'Get', { name }, opts);
    return r.image;
  }

  async list(filters: string[] = [], opts?: CallOptions): Promise<Image[]> {
    const r = await this.rpc.unary<{ images: Image[] }>(Services.images, 'List', { filters }, opts);
    return r.images;
  }

  async create(image: ImageInput, opts?: CallOptions): Promise<Image> {
    const r = await this.rpc.unary<{ image: Image }>(Services.images, 'Create', { image }, opts);
    return r.image;
  }

  /** Updates an image; `paths` limits the update (e.g. ['target'], ['labels.x']). */
  async update(image: ImageInput, paths?: string[], opts?: CallOptions): Promise<Image> {
    const r = await this.rpc.unary<{ image: Image }>(Services.images, 'Update', { image, update_mask: paths ? { paths } : null }, opts);
    return r.image;
  }

  /** Deletes an image; `sync` waits for the garbage collection it allows. */
  async delete(name: string, o: { sync?: boolean } = {}, opts?: CallOptions): Promise<void> {
    await this.rpc.unary(Services.images, 'Delete', { name, sync: o.sync === true }, opts);
  }
}
