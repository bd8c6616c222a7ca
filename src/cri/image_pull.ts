import { randomBytes } from 'node:crypto';
import { BerthError, UnknownError, wrapContext } from '../errdefs/errors';
import { createOrUpdateImage } from '../images/create-or-update';
import type { PullImageRequest__Output } from '../generated/types/runtime/v1/PullImageRequest';
import type { PullImageResponse } from '../generated/types/runtime/v1/PullImageResponse';
import { EXPIRE_LABEL } from '../metadata/leases';
import type { DescriptorRecord } from '../metadata/records';
import { addWallMs, formatWall, wallNow } from '../time/wall';
import { inProcessUnpackBackend } from '../unpack/inprocess';
import { unpackImage } from '../unpack/unpacker';
import { credentialsFromCriAuth } from '../remotes/credentials';
import { formatReference, parseDockerRef, referenceName, type ImageReference } from './image_reference';
import type { RemoteImageFetcher } from './image_remote';
import { IMAGE_LABEL_KEY, IMAGE_LABEL_VALUE } from './image_store';
import { CRI_NAMESPACE, type CriDeps } from './service-deps';

/** The pull's lease lasts at most this long if berthd dies mid-pull (containerd's default). */
const PULL_LEASE_EXPIRY_MS = 24 * 3600 * 1000;

/** containerd's getRepoDigestAndTag. */
function repoDigestAndTag(ref: ImageReference, targetDigest: string, schema1: boolean): { repoDigest: string; repoTag: string } {
  const repoTag = ref.tag !== undefined ? formatReference(ref) : '';
  const repoDigest = ref.digest !== undefined ? formatReference(ref) : schema1 ? '' : `${referenceName(ref)}@${targetDigest}`;
  return { repoDigest, repoTag };
}

/**
 * PullImage, as containerd's CRI does it through its client: under a lease (so nothing is
 * collected half-way, and everything is collected if the pull fails), fetch through the
 * registry client, unpack into the CRI snapshotter, create or update the record named by the
 * normalised reference, then the image-ID, repo-tag and repo-digest records, all labelled
 * io.cri-containerd.image=managed. Answers the image ID (sha256:<config digest>).
 */
export async function pullImage(deps: CriDeps, remote: RemoteImageFetcher, req: PullImageRequest__Output): Promise<PullImageResponse> {
  const imageRef = req.image?.image ?? '';
  let named: ImageReference;
  try {
    named = parseDockerRef(imageRef);
  } catch (err) {
    throw err instanceof BerthError ? err : new UnknownError(`failed to parse image reference "${imageRef}": ${String(err)}`);
  }
  const ref = formatReference(named);
  const ns = CRI_NAMESPACE;
  const core = deps.core;
  const lease = `${formatWall(wallNow())}-${randomBytes(6).toString('base64url')}`;
  await core.leases.create(ns, lease, { [EXPIRE_LABEL]: formatWall(addWallMs(wallNow(), PULL_LEASE_EXPIRY_MS)) });
  let target: DescriptorRecord;
  let imageId: string;
  let schema1 = false;
  try {
    try {
      const fetched = await remote.fetch(ref, {
        content: core.content.view(ns, lease),
        credentials: credentialsFromCriAuth(
          req.auth
            ? { username: req.auth.username, password: req.auth.password, auth: req.auth.auth, serverAddress: req.auth.server_address, identityToken: req.auth.identity_token }
            : undefined,
        ),
        hostsDir: deps.config.registry.config_path,
        maxConcurrentDownloads: deps.config.max_concurrent_downloads,
      });
      schema1 = fetched.schema1;
      target = fetched.target;
      imageId = fetched.config.digest;
      // containerd 1.6's CRI also wraps its handlers to annotate layers with cri.* snapshot
      // labels, but its unpacker reads the layers from the manifest again, so no snapshot
      // gets them: none here either.
      await unpackImage(inProcessUnpackBackend(core, ns, deps.config.containerd.snapshotter, lease), {
        config: fetched.config,
        layers: fetched.layers,
      });
      await createOrUpdateImage(core, ns, ref, { [IMAGE_LABEL_KEY]: IMAGE_LABEL_VALUE }, target);
    } catch (err) {
      throw err instanceof BerthError ? wrapContext(`failed to pull and unpack image "${ref}"`, err) : new UnknownError(`failed to pull and unpack image "${ref}": ${(err as Error).message}`);
    }
    const { repoDigest, repoTag } = repoDigestAndTag(named, target.digest, schema1);
    for (const r of [imageId, repoTag, repoDigest]) {
      if (r === '') continue;
      await deps.images.createReference(r, target);
      await deps.images.update(r);
    }
  } finally {
    // The records and the gc.ref labels hold what the image needs now; what only the lease
    // held (a failed pull's blobs and snapshots) is collected.
    await core.leases.delete(ns, lease).catch((err: unknown) => deps.log.warn('cri: failed to delete pull lease', { lease, error: err as Error }));
    core.gc.schedule();
  }
  deps.log.debug('cri: pulled image', { image: imageRef, id: imageId });
  return { image_ref: imageId };
}
