import { NotFoundError } from '../errdefs/errors';
import type { Image } from '../generated/types/runtime/v1/Image';
import type { ImageStatusResponse } from '../generated/types/runtime/v1/ImageStatusResponse';
import { parseAnyReference, parseDockerRef, formatReference } from './image_reference';
import type { CriImage, CriImageStore } from './image_store';

/**
 * containerd's localResolve: a full digest is an image ID; otherwise the normalised reference
 * names a record whose image ID is used; failing that, the string is taken as a (short) ID.
 */
export function resolveImage(store: CriImageStore, refOrId: string): CriImage {
  let id: string | undefined;
  if (/^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[a-fA-F0-9]{32,}$/.test(refOrId)) id = refOrId;
  else {
    try {
      id = store.idOfRef(formatReference(parseDockerRef(refOrId)));
    } catch {
      id = undefined;
    }
  }
  return store.get(id ?? refOrId);
}

/** containerd's getUserFromImage: "uid[:gid]" numeric gives uid; a name gives username. */
export function userOfImage(user: string | undefined): { uid?: number; username: string } {
  if (!user) return { username: '' };
  const u = user.split(':')[0] as string;
  if (/^[+-]?\d+$/.test(u)) {
    const n = Number(u);
    if (Number.isSafeInteger(n)) return { uid: n, username: '' };
  }
  return { username: u };
}

/** containerd's parseImageReferences: digested names are repo digests, tagged ones repo tags. */
function repoTagsAndDigests(refs: readonly string[]): { tags: string[]; digests: string[] } {
  const tags: string[] = [];
  const digests: string[] = [];
  for (const r of refs) {
    const p = parseAnyReference(r);
    if (!p || p.kind !== 'named') continue;
    if (p.ref.digest !== undefined) digests.push(formatReference(p.ref));
    else if (p.ref.tag !== undefined) tags.push(formatReference(p.ref));
  }
  return { tags, digests };
}

export function toCriImage(img: CriImage): Image {
  const { tags, digests } = repoTagsAndDigests(img.references);
  const { uid, username } = userOfImage(img.spec.config?.User);
  return {
    id: img.id,
    repo_tags: tags,
    repo_digests: digests,
    size: img.size,
    uid: uid === undefined ? null : { value: uid },
    username,
    spec: null,
    pinned: false,
  };
}

/** ImageStatus: an unknown image is no error, just no image (kubelet then pulls). */
export function imageStatus(store: CriImageStore, ref: string, verbose: boolean): ImageStatusResponse {
  let img: CriImage;
  try {
    img = resolveImage(store, ref);
  } catch (err) {
    if (err instanceof NotFoundError) return {};
    throw err;
  }
  const res: ImageStatusResponse = { image: toCriImage(img) };
  if (verbose) res.info = { info: JSON.stringify({ chainID: img.chainId, imageSpec: img.spec }) };
  return res;
}
