// A registry image into the image store, done by berthd itself (containerd 2's transfer
// service, OCIRegistry → ImageStore): the same pull pipeline as the client library and CRI
// (src/remotes) writing straight into the content store, the same unpacker applying each
// layer as soon as it and the ones below it are in (src/unpack), under one lease, then the
// image record. Nothing passes through the client: for a 150 MB image that is 150 MB less
// sent over the client's socket and decoded again by berthd (bench/cli-pull.ts).
import { InvalidArgumentError } from '../errdefs/errors';
import { createOrUpdateImage } from '../images/create-or-update';
import type { DescriptorRecord, Labels } from '../metadata/records';
import { contentStoreIngester, waitForLockedRefs, withPullLease } from '../remotes/content-store-ingester';
import type { CredentialsCallback } from '../remotes/credentials';
import type { Descriptor, Platform } from '../remotes/descriptor';
import { pull, type BlobProgress } from '../remotes/pull';
import { Resolver } from '../remotes/resolver';
import type { ServiceDeps } from '../services/context';
import { UnpackDuringPull } from '../unpack/during-pull';
import { inProcessUnpackBackend } from '../unpack/inprocess';
import { unpackImage } from '../unpack/unpacker';
import type { TransferProgress } from './progress-stream';

export interface RegistrySource {
  reference: string;
  /** containerd's hosts directory on this host ('' : none). */
  hostDir: string;
  /** "http": plain HTTP for registries the hosts directory does not configure. */
  defaultScheme: string;
  credentials?: CredentialsCallback;
}

export interface ImageStoreDestination {
  name: string;
  labels: Labels;
  /** The platform to pull (the first of ImageStore.platforms; none: this host's). */
  platform?: Platform;
  /** Snapshotters to unpack into (ImageStore.unpacks; none: no unpack). */
  unpackInto: string[];
}

export interface ImagePullOptions {
  /** The caller's lease (the call's containerd-lease header); none: one for this pull. */
  lease?: string;
  progress?: (p: TransferProgress) => void;
  maxConcurrentDownloads?: number;
  signal?: AbortSignal;
}

/** Reports of one blob's download at most this often (containerd: every 300 ms). */
const DOWNLOAD_REPORT_MS = 100;

function record(d: Descriptor): DescriptorRecord {
  return { mediaType: d.mediaType, digest: d.digest, size: d.size, annotations: { ...(d.annotations ?? {}) } };
}

/** The pull's blob progress as containerd 2's transfer reports it. */
function blobReporter(root: string, report: (p: TransferProgress) => void): (p: BlobProgress) => void {
  const last = new Map<string, number>();
  return (p) => {
    const desc: DescriptorRecord = { mediaType: p.mediaType, digest: p.digest, size: p.total, annotations: {} };
    const base = { name: p.ref, parents: [root], total: p.total, desc };
    switch (p.status) {
      case 'waiting':
        report({ event: 'waiting', ...base, progress: 0 });
        return;
      case 'downloading': {
        const now = Date.now();
        if (now - (last.get(p.ref) ?? 0) < DOWNLOAD_REPORT_MS) return;
        last.set(p.ref, now);
        report({ event: 'downloading', ...base, progress: p.offset });
        return;
      }
      case 'done':
        report({ event: 'complete', ...base, progress: p.total });
        return;
      case 'exists':
        report({ event: 'already exists', ...base, progress: p.total });
        return;
    }
  };
}

export async function pullImageToStore(core: ServiceDeps, ns: string, src: RegistrySource, dst: ImageStoreDestination, o: ImagePullOptions = {}): Promise<DescriptorRecord> {
  if (dst.name === '') throw new InvalidArgumentError('the image store destination has no image name');
  // An unknown snapshotter fails before anything is fetched (InvalidArgument, as containerd's).
  for (const sn of dst.unpackInto) core.snapshotters.get(sn);
  const report = o.progress ?? ((): void => undefined);
  const source = `OCI Registry (${src.reference})`;
  const run = async (lease: string): Promise<DescriptorRecord> => {
    report({ event: `Resolving from ${source}` });
    const resolver = new Resolver({
      hosts: { ...(src.hostDir !== '' ? { configPath: src.hostDir } : {}), ...(src.defaultScheme === 'http' ? { plainHttp: true } : {}) },
      ...(src.credentials ? { credentials: src.credentials } : {}),
    });
    const content = core.content.view(ns, lease);
    const backendFor = (snapshotter: string) => inProcessUnpackBackend(core, ns, snapshotter, lease);
    // The first snapshotter is unpacked into while the layers download; any others after.
    const [first, ...others] = dst.unpackInto;
    const early = first === undefined
      ? undefined
      : new UnpackDuringPull(async (digest) => content.read(digest, 0, (await content.info(digest)).size), async (image, layerReady) => (await unpackImage(backendFor(first), image, { layerReady })).chainId);
    const blobs = blobReporter(dst.name, report);
    try {
      report({ event: `Pulling from ${source}` });
      let r: Awaited<ReturnType<typeof pull>>;
      try {
        r = await pull(src.reference, {
          resolver,
          // A blob another pull is writing is waited for, then found there.
          ingester: waitForLockedRefs(contentStoreIngester(content)),
          ...(dst.platform ? { platform: dst.platform } : {}),
          progress: early ? early.progress(blobs) : blobs,
          ...(o.maxConcurrentDownloads ? { maxConcurrentDownloads: o.maxConcurrentDownloads } : {}),
          ...(o.signal ? { signal: o.signal } : {}),
        });
      } catch (err) {
        early?.fail(err);
        await early?.result().catch(() => undefined);
        throw err;
      }
      const image = { config: record(r.manifest.config), layers: r.layers.map(record) };
      if (first !== undefined && (await early?.result()) === undefined) await unpackImage(backendFor(first), image);
      for (const sn of others) await unpackImage(backendFor(sn), image);
      const target = record(r.target);
      await createOrUpdateImage(core, ns, dst.name, dst.labels, target);
      report({ event: 'saved', name: dst.name, desc: target });
      report({ event: `Completed pull from ${source}` });
      return target;
    } finally {
      resolver.close();
    }
  };
  if (o.lease !== undefined) return run(o.lease);
  return withPullLease(core.leases, ns, run, { onReleased: () => core.gc.schedule() });
}
