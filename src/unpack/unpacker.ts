import { randomBytes } from 'node:crypto';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, UnknownError, wrapContext, BerthError } from '../errdefs/errors';
import type { Labels } from '../metadata/records';
import type { Mount } from '../snapshotter/snapshotter';
import { wallNow } from '../time/wall';
import type { UnpackBackend, UnpackDescriptor } from './backend';
import { chainIds } from './chainid';
import { GC_REF_SNAPSHOT_PREFIX, INHERITED_LABEL_PREFIX, SNAPSHOT_REF_LABEL, UNCOMPRESSED_LABEL, UNPACK_KEY_PREFIX } from './labels';

// Unpacking an image's layers into a snapshotter, as containerd 1.6's client unpacker does
// (the step after a pull fetched the blobs): for layer i, the snapshot named by the chain ID
// of layers 0..i either exists already (another image shares it: nothing to do) or is made:
// prepare "extract-<unique> <chainID>" on the previous chain ID, apply the layer blob through
// the differ, check the digest it produced against the config's diff ID, commit under the
// chain ID. Then each layer blob is labelled with its verified uncompressed digest and the
// config blob with gc.ref.snapshot.<snapshotter> = the top chain ID, which is what keeps the
// snapshots alive once the pull's lease is gone.

export interface UnpackImage {
  /** The image config descriptor (its blob holds rootfs.diff_ids). */
  config: UnpackDescriptor;
  /** The manifest's layers, bottom first. */
  layers: readonly UnpackDescriptor[];
}

export interface UnpackResult {
  /** Chain ID of the top layer: the snapshot a container's rootfs is prepared on. */
  chainId: string;
  /** How many layers were applied (the rest were there already). */
  applied: number;
}

/**
 * One unpack at a time per chain ID and snapshotter in this process (containerd's
 * lockSnChainID): two pulls of images sharing layers wait for each other instead of both
 * extracting the same layer and one of them losing the commit race.
 */
const chainLocks = new Map<string, Promise<void>>();

async function withChainLock<T>(key: string, fn: () => Promise<T>): Promise<T> {
  for (;;) {
    const held = chainLocks.get(key);
    if (!held) break;
    await held;
  }
  let release!: () => void;
  chainLocks.set(key, new Promise<void>((r) => (release = r)));
  try {
    return await fn();
  } finally {
    chainLocks.delete(key);
    release();
  }
}

function uniquePart(): string {
  return `${wallNow().nanos}-${randomBytes(3).toString('base64url')}`;
}

function diffIdsOf(configBlob: Buffer, digest: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(configBlob.toString('utf8'));
  } catch (err) {
    throw new UnknownError(`unmarshal image config: ${(err as Error).message} (${digest})`);
  }
  const rootfs = (parsed as { rootfs?: { diff_ids?: unknown } } | null)?.rootfs;
  const ids = rootfs?.diff_ids ?? [];
  if (!Array.isArray(ids) || ids.some((d) => typeof d !== 'string' || !/^sha256:[a-f0-9]{64}$/.test(d))) {
    throw new InvalidArgumentError(`image config ${digest} has invalid rootfs.diff_ids`);
  }
  return ids as string[];
}

function prefixed(prefix: string, err: unknown): Error {
  if (err instanceof BerthError) return wrapContext(prefix, err);
  return new UnknownError(`${prefix}: ${err instanceof Error ? err.message : String(err)}`);
}

/** Labels a layer's descriptor passes to its snapshot (containerd's FilterInheritedLabels). */
function inheritedLabels(annotations: Labels | undefined): Labels {
  const out: Labels = {};
  for (const [k, v] of Object.entries(annotations ?? {})) {
    if (k === SNAPSHOT_REF_LABEL || k.startsWith(INHERITED_LABEL_PREFIX)) out[k] = v;
  }
  return out;
}

export interface UnpackOptions {
  /**
   * Resolves once a layer's blob is in the content store. Unpacking while the pull still
   * downloads (as containerd 1.6's unpacker does): layer i is applied as soon as its blob
   * and layers 0..i-1 are there. Default: every blob is there already.
   */
  layerReady?: (layer: UnpackDescriptor, index: number) => Promise<void>;
}

export async function unpackImage(backend: UnpackBackend, image: UnpackImage, opts: UnpackOptions = {}): Promise<UnpackResult> {
  const { snapshotter: sn, content } = backend;
  const diffIds = diffIdsOf(await content.readBlob(image.config.digest), image.config.digest);
  if (image.layers.length !== diffIds.length) {
    throw new InvalidArgumentError(`number of layers and diffIDs don't match: ${image.layers.length} != ${diffIds.length}`);
  }
  const chain = chainIds(diffIds);
  let applied = 0;
  for (let i = 0; i < image.layers.length; i++) {
    const layer = image.layers[i] as UnpackDescriptor;
    const id = chain[i] as string;
    const parent = i === 0 ? '' : (chain[i - 1] as string);
    if (opts.layerReady) await opts.layerReady(layer, i);
    const did = await withChainLock(`sn://${sn.name}/${id}`, () => unpackLayer(backend, layer, diffIds[i] as string, id, parent));
    if (did) applied++;
  }
  const top = chain[chain.length - 1] ?? '';
  if (top !== '') await content.setLabels(image.config.digest, { [`${GC_REF_SNAPSHOT_PREFIX}${sn.name}`]: top });
  return { chainId: top, applied };
}

/** Make snapshot `id` from `layer` on `parent`; false when it existed already. */
async function unpackLayer(backend: UnpackBackend, layer: UnpackDescriptor, diffId: string, id: string, parent: string): Promise<boolean> {
  const { snapshotter: sn, applier, content } = backend;
  if (await exists(sn, id)) return false;
  const labels: Labels = { ...inheritedLabels(layer.annotations), [SNAPSHOT_REF_LABEL]: id };
  let key = '';
  let mounts: Mount[] | undefined;
  for (let attempt = 1; attempt <= 3 && !mounts; attempt++) {
    key = `${UNPACK_KEY_PREFIX}-${uniquePart()} ${id}`;
    try {
      mounts = await sn.prepare(key, parent, labels);
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw prefixed(`failed to prepare extraction snapshot "${key}"`, err);
      // Someone else's extraction: if it finished meanwhile, there is nothing left to do.
      if (await exists(sn, id)) return false;
    }
  }
  if (!mounts) throw new UnknownError(`unable to prepare extraction snapshot: ${key}: already exists`);
  const abort = async (): Promise<void> => {
    await sn.remove(key).catch(() => undefined);
  };
  let diff: { digest: string };
  try {
    diff = await applier.apply(layer, mounts);
  } catch (err) {
    await abort();
    throw prefixed(`failed to extract layer ${diffId}`, err);
  }
  if (diff.digest !== diffId) {
    await abort();
    throw new UnknownError(`wrong diff id calculated on extraction "${diffId}"`);
  }
  try {
    await sn.commit(id, key, labels);
  } catch (err) {
    await abort();
    if (err instanceof AlreadyExistsError) return false;
    throw prefixed(`failed to commit snapshot ${key}`, err);
  }
  // Only now is the uncompressed digest known to be right.
  await content.setLabels(layer.digest, { [UNCOMPRESSED_LABEL]: diff.digest });
  return true;
}

async function exists(sn: UnpackBackend['snapshotter'], key: string): Promise<boolean> {
  try {
    await sn.stat(key);
    return true;
  } catch (err) {
    if (err instanceof NotFoundError) return false;
    throw prefixed(`failed to stat snapshot ${key}`, err);
  }
}
