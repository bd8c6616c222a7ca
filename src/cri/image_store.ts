import { setTimeout as sleep } from 'node:timers/promises';
import { AlreadyExistsError, BerthError, NotFoundError, UnknownError } from '../errdefs/errors';
import type { ImageRecord, DescriptorRecord, Labels } from '../metadata/records';
import { publish, type ServiceDeps } from '../services/context';
import { chainId } from '../unpack/chainid';
import { parseAnyReference, formatReference } from './image_reference';
import { imageConfigOf, type ResolvedImage } from './image_manifest';

/** containerd's CRI marks the image records it manages with this label. */
export const IMAGE_LABEL_KEY = 'io.cri-containerd.image';
export const IMAGE_LABEL_VALUE = 'managed';

/** One image as CRI sees it: every record (name) in the namespace whose config is this one. */
export interface CriImage {
  /** "sha256:<config digest>". */
  id: string;
  /** Record names pointing at it, ranked as containerd ranks them (tags, digests, the ID). */
  references: string[];
  /** Chain ID of the layers: the snapshot a container is prepared on. */
  chainId: string;
  /** Sum of the descriptor sizes: index, the platform's manifest, config, layers. */
  size: number;
  /** The image config (OCI image spec), as stored. */
  spec: ImageSpec;
  /** The manifest's config and layer descriptors (for unpack and the rootfs). */
  config: DescriptorRecord;
  layers: DescriptorRecord[];
}

/** The parts of an OCI image config CRI reads; the rest is kept as parsed. */
export interface ImageSpec {
  config?: { User?: string; Env?: string[]; Entrypoint?: string[]; Cmd?: string[]; WorkingDir?: string; Volumes?: Record<string, unknown>; StopSignal?: string; Labels?: Record<string, string> };
  rootfs?: { type?: string; diff_ids?: string[] };
  [key: string]: unknown;
}

/**
 * containerd's refRank: name+tag+digest, name+tag, name+digest, name, bare digest; names that
 * do not parse come last.
 */
function rankOf(ref: string): number {
  const p = parseAnyReference(ref);
  if (!p) return 6;
  if (p.kind === 'digest') return 5;
  const { tag, digest } = p.ref;
  return tag !== undefined ? (digest !== undefined ? 1 : 2) : digest !== undefined ? 3 : 4;
}

function canonicalRef(ref: string): string {
  const p = parseAnyReference(ref);
  return !p ? ref : p.kind === 'digest' ? p.digest : formatReference(p.ref);
}

export function sortReferences(refs: readonly string[]): string[] {
  return [...refs].sort((a, b) => rankOf(a) - rankOf(b) || (canonicalRef(a) < canonicalRef(b) ? -1 : canonicalRef(a) > canonicalRef(b) ? 1 : 0));
}

/** Short-ID lookup as go-digest's digestset does it (what containerd's CRI image store uses). */
function lookupId(ids: readonly string[], query: string): string {
  const colon = query.indexOf(':');
  const [alg, hex] = colon > 0 && colon < query.length - 1 ? [query.slice(0, colon), query.slice(colon + 1)] : ['', query];
  const matches = ids.filter((id) => {
    const [ialg, ihex] = id.split(':') as [string, string];
    if (alg !== '' && ialg !== alg) return false;
    return ihex.startsWith(hex);
  });
  if (matches.length === 0) throw new NotFoundError(`image ${JSON.stringify(query)}`);
  const exact = matches.find((id) => id === `${alg || 'sha256'}:${hex}`);
  if (exact) return exact;
  if (matches.length > 1) throw new UnknownError('ambiguous digest string');
  return matches[0] as string;
}

/**
 * The CRI's image index over the core's image records in its namespace, as containerd's CRI
 * keeps it: a reference → image ID map and the images by ID. The core stays the source of
 * truth: every change to a record (PullImage, RemoveImage, or `ctr -n k8s.io images import`,
 * seen through the event exchange) re-reads that record with update(name).
 */
export class CriImageStore {
  private readonly refToId = new Map<string, string>();
  private readonly images = new Map<string, CriImage>();
  /** Resolved images by target digest: content is immutable, so this never goes stale. */
  private readonly resolved = new Map<string, ResolvedImage>();
  private chain: Promise<void> = Promise.resolve();

  constructor(
    /** The core's stores, exchange and a logger (the CRI's). */
    private readonly core: ServiceDeps,
    private readonly ns: string,
  ) {}

  /** Load every record of the namespace (start-up), marking unmanaged ones as containerd does. */
  async load(): Promise<void> {
    for (const r of await this.core.images.list(this.ns, [])) {
      await this.adopt(r.name).catch((err: unknown) => this.core.log.warn('cri: failed to load image', { image: r.name, error: err as Error }));
    }
  }

  /** Serialise updates: each reads the core, then changes the maps. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.chain.then(fn, fn);
    this.chain = run.then(
      () => undefined,
      () => undefined,
    );
    return run;
  }

  /** Re-read record `ref` from the core and index it (or drop it if gone). */
  update(ref: string): Promise<void> {
    return this.serial(async () => {
      let record: ImageRecord | undefined;
      try {
        record = await this.core.images.get(this.ns, ref);
      } catch (err) {
        if (!(err instanceof NotFoundError)) throw err;
      }
      const img = record ? await this.imageOf(record) : undefined;
      this.index(ref, img);
    });
  }

  /**
   * containerd's updateImage: a record CRI did not make (no managed label) gets an image-ID
   * record and the label first, so the image keeps an identity for its lifetime; then it is
   * indexed like any other.
   */
  async adopt(ref: string): Promise<void> {
    let record: ImageRecord | undefined;
    try {
      record = await this.core.images.get(this.ns, ref);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (record && record.labels[IMAGE_LABEL_KEY] !== IMAGE_LABEL_VALUE) {
      const img = await this.imageOf(record);
      if (img) {
        await this.createReference(img.id, record.target);
        await this.update(img.id);
        await this.createReference(ref, record.target);
      }
    }
    await this.update(ref);
  }

  /**
   * containerd's createImageReference: a record named `name` for `target` with the managed
   * label; an existing record is moved to the target and labelled unless it already is.
   */
  async createReference(name: string, target: DescriptorRecord): Promise<void> {
    const labels: Labels = { [IMAGE_LABEL_KEY]: IMAGE_LABEL_VALUE };
    // Concurrent pulls of one image race to make the same records: a refused create reads
    // the winner's record (the core answers AlreadyExists once it is readable) and updates
    // it. When the record was removed between the two steps, try again shortly.
    for (let attempt = 0; ; attempt++) {
      if (attempt > 0) await sleep(Math.min(5 * attempt, 50));
      try {
        const created = await this.core.images.create(this.ns, { name, labels, target });
        publish(this.core, this.ns, '/images/create', 'containerd.services.images.v1.ImageCreate', { name, labels: created.labels });
        return;
      } catch (err) {
        if (!(err instanceof AlreadyExistsError)) throw err;
      }
      try {
        const old = await this.core.images.get(this.ns, name);
        if (old.target.digest === target.digest && old.labels[IMAGE_LABEL_KEY] === IMAGE_LABEL_VALUE) return;
        const updated = await this.core.images.update(this.ns, { name, labels, target }, ['target', `labels.${IMAGE_LABEL_KEY}`]);
        publish(this.core, this.ns, '/images/update', 'containerd.services.images.v1.ImageUpdate', { name, labels: updated.labels });
        return;
      } catch (err) {
        if (!(err instanceof NotFoundError) || attempt >= 100) throw err;
      }
    }
  }

  private index(ref: string, img: CriImage | undefined): void {
    const oldId = this.refToId.get(ref);
    if (oldId !== undefined && oldId !== img?.id) {
      const old = this.images.get(oldId);
      if (old) {
        old.references = old.references.filter((r) => r !== ref);
        if (old.references.length === 0) this.images.delete(oldId);
      }
      this.refToId.delete(ref);
    }
    if (!img) return;
    this.refToId.set(ref, img.id);
    const have = this.images.get(img.id);
    if (!have) this.images.set(img.id, { ...img, references: [ref] });
    else if (!have.references.includes(ref)) have.references = sortReferences([...have.references, ref]);
  }

  /** The image a record points at; undefined (logged) when its content is incomplete. */
  private async imageOf(record: ImageRecord): Promise<CriImage | undefined> {
    try {
      let r = this.resolved.get(record.target.digest);
      if (!r) {
        r = await imageConfigOf(this.core.content.view(this.ns), record.target);
        this.resolved.set(record.target.digest, r);
      }
      return {
        id: r.config.digest,
        references: [record.name],
        chainId: chainId(r.spec.rootfs?.diff_ids ?? []),
        size: r.size,
        spec: r.spec as ImageSpec,
        config: r.config,
        layers: r.layers,
      };
    } catch (err) {
      if (!(err instanceof BerthError) && !(err instanceof SyntaxError)) throw err;
      this.core.log.warn('cri: image content not usable', { image: record.name, error: err as Error });
      return undefined;
    }
  }

  /** The image ID a record name maps to, if indexed. */
  idOfRef(ref: string): string | undefined {
    return this.refToId.get(ref);
  }

  /** Every image, references sorted. */
  list(): CriImage[] {
    return [...this.images.values()].map((i) => ({ ...i, references: sortReferences(i.references) }));
  }

  /** By full or short image ID; NotFoundError when none. */
  get(id: string): CriImage {
    const found = this.images.get(lookupId([...this.images.keys()], id));
    if (!found) throw new NotFoundError(`image ${JSON.stringify(id)}`);
    return { ...found, references: sortReferences(found.references) };
  }
}
