// containerd 2's Transfer service, the wire side: decodes the source and destination Anys
// and runs the transfer berthd has for that pair (a registry image into the image store:
// src/transfer/image-pull.ts). Progress goes to the stream named in the options, registry
// credentials are asked over the one named in the registry's resolver.
import type { TransferRequest__Output } from '../generated/types/containerd/services/transfer/v1/TransferRequest';
import { InvalidArgumentError, NotImplementedError, verbatim } from '../errdefs/errors';
import type { WireAny } from '../proto/any';
import { decodeMessage } from '../proto/registry';
import { normalizePlatform } from '../remotes/platforms';
import { authStreamCredentials } from '../transfer/auth-stream';
import { pullImageToStore } from '../transfer/image-pull';
import { ProgressStream } from '../transfer/progress-stream';
import { unary } from './call';
import type { ServiceDeps } from './context';
import { typeNameOf } from '../proto/type-url';

export const TRANSFER_SERVICE = 'containerd.services.transfer.v1.Transfer';
const OCI_REGISTRY = 'containerd.types.transfer.OCIRegistry';
const IMAGE_STORE = 'containerd.types.transfer.ImageStore';
/** Layers a transfer downloads at once (containerd 2's transfer service: 3). */
const MAX_CONCURRENT_DOWNLOADS = 3;

interface WirePlatform {
  os: string;
  architecture: string;
  variant: string;
}
interface OciRegistryWire {
  reference: string;
  resolver: { auth_stream: string; headers: Record<string, string>; host_dir: string; default_scheme: string } | null;
}
interface ImageStoreWire {
  name: string;
  labels: Record<string, string>;
  platforms: WirePlatform[];
  unpacks: Array<{ platform: WirePlatform | null; snapshotter: string }>;
}

function typeName(a: WireAny | null): string {
  return typeNameOf(a?.type_url ?? '');
}

function platformOf(p: WirePlatform | null | undefined): { os: string; architecture: string; variant?: string } | undefined {
  if (!p || (!p.os && !p.architecture)) return undefined;
  return normalizePlatform({ os: p.os, architecture: p.architecture, ...(p.variant ? { variant: p.variant } : {}) });
}

export function transferService(deps: ServiceDeps): { Transfer: ReturnType<typeof unary<TransferRequest__Output, object>> } {
  return {
    Transfer: unary(deps.log, 'Transfer.Transfer', async (req: TransferRequest__Output, ctx) => {
      const ns = ctx.namespace();
      const from = typeName(req.source as WireAny | null);
      const to = typeName(req.destination as WireAny | null);
      if (from !== OCI_REGISTRY || to !== IMAGE_STORE) {
        throw verbatim(new NotImplementedError(`method Transfer not implemented for ${req.source?.type_url ?? ''} to ${req.destination?.type_url ?? ''}`));
      }
      const src = decodeMessage<OciRegistryWire>(OCI_REGISTRY, (req.source as WireAny).value);
      const dst = decodeMessage<ImageStoreWire>(IMAGE_STORE, (req.destination as WireAny).value);
      if (src.reference === '') throw new InvalidArgumentError('the registry source has no reference');
      const progressId = req.options?.progress_stream ?? '';
      const progress = progressId !== '' ? new ProgressStream(deps.streams.get(ns, progressId)) : undefined;
      const authId = src.resolver?.auth_stream ?? '';
      const authStream = authId !== '' ? deps.streams.get(ns, authId) : undefined;
      const credentials = authStream ? authStreamCredentials(authStream, src.reference) : undefined;
      const platform = platformOf(dst.platforms[0]) ?? platformOf(dst.unpacks[0]?.platform);
      try {
        await pullImageToStore(
          deps,
          ns,
          { reference: src.reference, hostDir: src.resolver?.host_dir ?? '', defaultScheme: src.resolver?.default_scheme ?? '', ...(credentials ? { credentials } : {}) },
          { name: dst.name, labels: dst.labels, ...(platform ? { platform } : {}), unpackInto: dst.unpacks.map((u) => u.snapshotter || 'overlayfs') },
          {
            ...(ctx.lease() !== undefined ? { lease: ctx.lease() } : {}),
            ...(progress ? { progress: (p) => progress.report(p) } : {}),
            maxConcurrentDownloads: MAX_CONCURRENT_DOWNLOADS,
            signal: ctx.signal,
          },
        );
      } finally {
        await progress?.close();
        // No more questions: the client's side of the auth stream ends (containerd leaves
        // it open until the client's context ends, holding the call and its registration).
        authStream?.close();
      }
      return {};
    }),
  };
}
