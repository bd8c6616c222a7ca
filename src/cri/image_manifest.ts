import type { ContentStore } from '../content/store';
import { NotImplementedError, NotFoundError, UnknownError } from '../errdefs/errors';
import type { DescriptorRecord } from '../metadata/records';

// From an image record's target to its config and layers for this host, as containerd's
// images.Config / images.Manifest walk it: an index (OCI or Docker manifest list) picks the
// first manifest for the host's platform; a manifest names the config and layers.

const INDEX_TYPES = new Set(['application/vnd.oci.image.index.v1+json', 'application/vnd.docker.distribution.manifest.list.v2+json']);
const MANIFEST_TYPES = new Set(['application/vnd.oci.image.manifest.v1+json', 'application/vnd.docker.distribution.manifest.v2+json']);

export interface ResolvedImage {
  config: DescriptorRecord;
  layers: DescriptorRecord[];
  /** The parsed config blob. */
  spec: { rootfs?: { diff_ids?: string[] }; [key: string]: unknown };
  /** containerd's image Size (manifest usage, one platform): the index, manifest, config and layer descriptor sizes. */
  size: number;
}

interface RawDescriptor {
  mediaType?: string;
  digest?: string;
  size?: number;
  annotations?: Record<string, string>;
  platform?: { os?: string; architecture?: string; variant?: string };
}

/** Node's process.arch in GOARCH terms, as OCI platforms name architectures. */
export function hostArchitecture(): string {
  const map: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' };
  return map[process.arch] ?? process.arch;
}

function descriptor(d: RawDescriptor, what: string): DescriptorRecord {
  if (typeof d.digest !== 'string' || typeof d.size !== 'number' || typeof d.mediaType !== 'string') {
    throw new UnknownError(`invalid ${what} descriptor`);
  }
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { ...(d.annotations ?? {}) } };
}

async function readJson(cs: ContentStore, digest: string): Promise<Record<string, unknown>> {
  const info = await cs.info(digest);
  const raw = await cs.read(digest, 0, info.size);
  const v: unknown = JSON.parse(raw.toString('utf8'));
  if (typeof v !== 'object' || v === null) throw new UnknownError(`content ${digest} is not a JSON object`);
  return v as Record<string, unknown>;
}

export async function imageConfigOf(cs: ContentStore, target: DescriptorRecord): Promise<ResolvedImage> {
  let size = 0;
  let desc: DescriptorRecord = target;
  for (let depth = 0; depth < 4; depth++) {
    if (INDEX_TYPES.has(desc.mediaType)) {
      size += desc.size;
      const index = await readJson(cs, desc.digest);
      const manifests = (Array.isArray(index.manifests) ? index.manifests : []) as RawDescriptor[];
      const arch = hostArchitecture();
      const pick = manifests.find((m) => m.platform?.os === 'linux' && m.platform?.architecture === arch) ?? manifests.find((m) => !m.platform);
      if (!pick) throw new NotFoundError(`no match for platform in manifest ${desc.digest}`);
      desc = descriptor(pick, 'manifest');
      continue;
    }
    if (MANIFEST_TYPES.has(desc.mediaType)) {
      size += desc.size;
      const manifest = await readJson(cs, desc.digest);
      const config = descriptor((manifest.config ?? {}) as RawDescriptor, 'config');
      const layers = ((Array.isArray(manifest.layers) ? manifest.layers : []) as RawDescriptor[]).map((l) => descriptor(l, 'layer'));
      size += config.size + layers.reduce((n, l) => n + l.size, 0);
      const spec = (await readJson(cs, config.digest)) as ResolvedImage['spec'];
      return { config, layers, spec, size };
    }
    throw new NotImplementedError(`media type ${desc.mediaType} of ${desc.digest} is not an image index or manifest`);
  }
  throw new UnknownError(`image index nesting too deep at ${target.digest}`);
}
