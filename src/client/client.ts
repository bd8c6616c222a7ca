// The high-level client for containerd-compatible daemons (berthd, containerd), in the
// spirit of containerd's Go client: one connection, a default namespace, typed errors,
// AbortSignal on every call.
import type { Readable, Writable } from 'node:stream';
import type { CallOptions } from './call-options';
import { Channel } from './channel';
import { ContentStore } from './content';
import { Container, RUNTIME_SPEC_TYPE, type ContainerRecord } from './containers';
import { subscribe, type DaemonEvent } from './events';
import { resolveImage, type ResolvedImage } from './image-manifest';
import { Images, type Image } from './images';
import { Leases, type LeaseCreateOptions } from './leases';
import { Namespaces } from './namespaces';
import { Rpc, Services } from './rpc';
import { Snapshotter, type Mount } from './snapshots';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError, NotImplementedError } from '../errdefs/errors';
import type { SpecOpt } from '../oci/spec-opt';
import { withReadonlyTempMount } from './temp-mount';
import type { HostsOptions } from '../remotes/hosts';
import type { CredentialsCallback } from '../remotes/credentials';
import type { Descriptor, Platform } from '../remotes/descriptor';
import type { ProgressCallback } from '../remotes/pull';
import type { PushProgress } from '../remotes/push';
import { Differ } from './diff';
import type { PluginInfo, TaskMetric, TaskSummary } from './records';
import { decodeTaskMetrics, type TaskMetrics } from './cgroup-metrics';

export const DEFAULT_NAMESPACE = 'default';
export const DEFAULT_RUNTIME = 'io.containerd.runc.v2';
export const DEFAULT_SNAPSHOTTER = 'overlayfs';

export interface ClientOptions {
  /** The namespace of every call (default "default", or $CONTAINERD_NAMESPACE). */
  namespace?: string;
  defaultRuntime?: string;
  defaultSnapshotter?: string;
}

export interface NewContainerOptions {
  /** The image whose rootfs the container gets: a snapshot is prepared on its chain ID. */
  image?: string | Image;
  snapshotter?: string;
  /** The snapshot key (default: the container id). */
  snapshotKey?: string;
  /** A ready OCI runtime spec; or else: */
  spec?: object;
  /**
   * Spec options applied over containerd's default spec (src/oci: withImageConfig,
   * withProcessArgs, withMemoryLimit, …), as the Go client's WithNewSpec. A function gets
   * the resolved image first (for withImageConfig(image.config.config)). An option that
   * reads the rootfs (user and group names) gets the container's snapshot mounted read-only
   * while it runs.
   */
  specOpts?: SpecOpt[] | ((image: ResolvedImage | undefined) => SpecOpt[]);
  labels?: Record<string, string>;
  runtime?: string | { name: string; options?: { type_url: string; value: Buffer } };
}

export interface PullOptions extends CallOptions {
  /** Registry routing: containerd's hosts.toml directory (config_path), plain HTTP, … */
  hosts?: HostsOptions;
  /** Registry credentials per host (see src/remotes: readDockerConfig, a static callback). */
  credentials?: CredentialsCallback;
  /** The platform to pull (default: this host's). */
  platform?: Platform;
  /** Called as each blob is waiting, downloading, done or found present. */
  progress?: ProgressCallback;
  /** Unpack into this snapshotter after the download (default: the client's; false: do not). */
  unpack?: string | false;
  /** Blobs downloaded at once (default: no limit, as containerd's Go client and ctr). */
  maxConcurrentDownloads?: number;
  /**
   * Who pulls. 'client' (the default): this process fetches and writes through the Content
   * service, as containerd 1.6's client. 'daemon': the daemon's Transfer service does it all
   * (containerd 2's, berthd's; maxConcurrentDownloads is then the daemon's). 'auto': the
   * daemon when it has a Transfer service, else the client, as ctr 2 without --local.
   */
  via?: 'client' | 'daemon' | 'auto';
}

export interface PulledImage {
  image: Image;
  /** The unpacked chain ID ('' when not unpacked). */
  chainId: string;
}

export interface ServerVersion {
  version: string;
  revision: string;
}

export class Client {
  private readonly rpc: Rpc;
  readonly namespaces: Namespaces;
  readonly leases: Leases;
  readonly content: ContentStore;
  readonly images: Images;

  private constructor(
    private readonly channel: Channel,
    rpc: Rpc,
    private readonly opts: Required<Omit<ClientOptions, 'namespace'>>,
  ) {
    this.rpc = rpc;
    this.namespaces = new Namespaces(rpc);
    this.leases = new Leases(rpc);
    this.content = new ContentStore(rpc);
    this.images = new Images(rpc);
  }

  /** A client of the daemon at a unix socket path. The connection is made on the first call. */
  static connect(address: string, o: ClientOptions = {}): Client {
    const channel = new Channel(address.replace(/^unix:\/\//, ''));
    const ns = o.namespace ?? process.env.CONTAINERD_NAMESPACE ?? DEFAULT_NAMESPACE;
    return new Client(channel, new Rpc(channel, { namespace: ns }), {
      defaultRuntime: o.defaultRuntime ?? DEFAULT_RUNTIME,
      defaultSnapshotter: o.defaultSnapshotter ?? DEFAULT_SNAPSHOTTER,
    });
  }

  get address(): string {
    return this.channel.address;
  }

  get namespace(): string {
    return this.rpc.scope.namespace ?? DEFAULT_NAMESPACE;
  }

  /** The lease this client's calls carry, if any (see withLease). */
  get lease(): string | undefined {
    return this.rpc.scope.lease;
  }

  /** The same connection, calls made in another namespace. */
  withNamespace(namespace: string): Client {
    return new Client(this.channel, this.rpc.with({ namespace }), this.opts);
  }

  /** The same connection, calls carrying a lease (resources they make are held by it). */
  withLeaseId(lease: string): Client {
    return new Client(this.channel, this.rpc.with({ lease }), this.opts);
  }

  /**
   * Runs fn with a client whose calls carry a new lease, then deletes the lease (Go's
   * client.WithLease): what fn makes is protected from garbage collection while it runs.
   * The lease expires after 24 h should this process die before deleting it.
   */
  async withLease<T>(fn: (leased: Client) => Promise<T>, o: LeaseCreateOptions = {}, opts?: CallOptions): Promise<T> {
    if (this.lease) return fn(this);
    const lease = await this.leases.create({ expireMs: 24 * 3600_000, ...o }, opts);
    try {
      return await fn(this.withLeaseId(lease.id));
    } finally {
      await this.leases.delete(lease.id, {}, opts?.signal?.aborted ? undefined : opts);
    }
  }

  async version(opts?: CallOptions): Promise<ServerVersion> {
    return this.rpc.unary<ServerVersion>(Services.version, 'Version', {}, opts);
  }

  /** The daemon's plugins (Introspection.Plugins). */
  async plugins(filters: string[] = [], opts?: CallOptions): Promise<PluginInfo[]> {
    const r = await this.rpc.unary<{ plugins: PluginInfo[] }>(
      Services.introspection,
      'Plugins',
      { filters },
      opts,
    );
    return r.plugins;
  }

  snapshotter(name: string = this.opts.defaultSnapshotter): Snapshotter {
    return new Snapshotter(this.rpc, name);
  }

  getImage(name: string, opts?: CallOptions): Promise<Image> {
    return this.images.get(name, opts);
  }

  listImages(filters: string[] = [], opts?: CallOptions): Promise<Image[]> {
    return this.images.list(filters, opts);
  }

  /** This host's manifest, config and chain ID of an image. */
  async resolveImage(image: string | Image, opts?: CallOptions): Promise<ResolvedImage> {
    const img = typeof image === 'string' ? await this.images.get(image, opts) : image;
    if (!img.target) throw new NotFoundError(`image ${img.name} has no target`);
    return resolveImage(this.content, { media_type: img.target.media_type, digest: img.target.digest, size: img.target.size }, opts);
  }

  /**
   * Creates a container. With an image, a snapshot `snapshotKey` (default: the id) is
   * prepared on the image's unpacked chain ID in the snapshotter, as the Go client's
   * WithNewSnapshot does; an image that is not unpacked there is a FailedPreconditionError.
   */
  async newContainer(id: string, o: NewContainerOptions, opts?: CallOptions): Promise<Container> {
    if ((o.spec === undefined) === (o.specOpts === undefined)) throw new InvalidArgumentError('newContainer: give exactly one of spec and specOpts');
    // The image is read while the lease is made: neither needs the other, and a run's
    // start-up is mostly such round trips.
    const resolving = o.image === undefined ? Promise.resolve(undefined) : this.resolveForContainer(o.image, opts);
    resolving.catch(() => undefined);
    // Under a lease, as the Go client's NewContainer: the snapshot prepared first is
    // referenced by nothing until the container record is made, and a garbage collection in
    // between (berthd collects soon after any deletion) would remove it.
    if (!this.lease) return this.createContainerLeased(id, o, resolving, opts);
    return this.createContainer(id, o, resolving, this.rpc, opts);
  }

  /**
   * createContainer under a lease of its own. Once the container record exists it holds the
   * snapshot, and the lease has done its work: its Leases.Delete is sent but not waited for,
   * so the container's next call (Tasks.Create, in a run) goes out at once (~1 ms of
   * `berth run`). The Go client ignores that deletion's error as well; a lease whose
   * deletion failed or never left (the process ended first) expires after an hour. The
   * request is written to the connection before any later call's, and Client.close() ends
   * the connection only once it is answered.
   */
  private async createContainerLeased(
    id: string,
    o: NewContainerOptions,
    resolving: Promise<{ name: string; resolved: ResolvedImage } | undefined>,
    opts?: CallOptions,
  ): Promise<Container> {
    const lease = await this.leases.create({ expireMs: 3600_000 }, opts);
    try {
      // The container's calls must not carry the lease, which is gone once this returns.
      return await this.withLeaseId(lease.id).createContainer(id, o, resolving, this.rpc, opts);
    } finally {
      void this.leases.delete(lease.id, {}, opts?.signal?.aborted ? undefined : opts).catch(() => undefined);
    }
  }

  private async resolveForContainer(image: string | Image, opts?: CallOptions): Promise<{ name: string; resolved: ResolvedImage }> {
    const img = typeof image === 'string' ? await this.images.get(image, opts) : image;
    return { name: img.name, resolved: await this.resolveImage(img, opts) };
  }

  private async createContainer(
    id: string,
    o: NewContainerOptions,
    resolving: Promise<{ name: string; resolved: ResolvedImage } | undefined>,
    containerRpc: Rpc,
    opts?: CallOptions,
  ): Promise<Container> {
    const snapshotter = o.snapshotter ?? this.opts.defaultSnapshotter;
    const runtime = typeof o.runtime === 'string' ? { name: o.runtime } : (o.runtime ?? { name: this.opts.defaultRuntime });
    const img = await resolving;
    const image = img?.name ?? '';
    const resolved = img?.resolved;
    let snapshotKey = '';
    let mounts: Mount[] | undefined;
    if (resolved) {
      const snap = this.snapshotter(snapshotter);
      snapshotKey = o.snapshotKey ?? id;
      try {
        mounts = await snap.prepare(snapshotKey, resolved.chainId, {}, opts);
      } catch (err) {
        // A parent that is not there: the image is not unpacked in this snapshotter (asked
        // only now, not before every prepare: one round trip less on every run).
        if (err instanceof NotFoundError && (await snap.stat(resolved.chainId, opts).then(() => false, (e: unknown) => e instanceof NotFoundError))) {
          throw new FailedPreconditionError(`image ${image} is not unpacked in snapshotter ${snapshotter} (${resolved.chainId})`);
        }
        throw err;
      }
    }
    try {
      const spec = o.spec ?? (await this.buildSpec(id, snapshotKey ? mounts : undefined, resolved, o.specOpts!));
      await this.rpc.unary<{ container: ContainerRecord }>(
        Services.containers,
        'Create',
        {
          container: {
            id,
            image,
            labels: o.labels ?? {},
            runtime: { name: runtime.name, options: runtime.options ?? null },
            spec: { type_url: RUNTIME_SPEC_TYPE, value: Buffer.from(JSON.stringify(spec)) },
            snapshotter: snapshotKey ? snapshotter : '',
            snapshot_key: snapshotKey,
          },
        },
        opts,
      );
    } catch (err) {
      if (snapshotKey) await this.snapshotter(snapshotter).remove(snapshotKey).catch(() => undefined);
      throw err;
    }
    // What was just made is known: its task and its deletion need not ask for it again.
    return new Container(containerRpc, id, snapshotKey ? { snapshotter, snapshotKey, mounts } : { snapshotter: '', snapshotKey: '' });
  }

  /** containerd's default spec with opts applied; src/oci is loaded only when used. */
  private async buildSpec(
    id: string,
    mounts: Mount[] | undefined,
    image: ResolvedImage | undefined,
    specOpts: NonNullable<NewContainerOptions['specOpts']>,
  ): Promise<object> {
    const { generateSpec } = await import('../oci/default-spec');
    const list = typeof specOpts === 'function' ? specOpts(image) : specOpts;
    const ctx = { namespace: this.namespace, containerId: id };
    if (!mounts) return generateSpec(ctx, list);
    // As containerd's client: the snapshot is mounted read-only around each option that
    // reads the rootfs (user and group lookups), and not at all for a spec without them.
    // Its mounts are those its Prepare answered.
    return generateSpec({ ...ctx, mountRootfs: (fn) => withReadonlyTempMount(mounts, fn) }, list);
  }

  /**
   * Unpacks an image into a snapshotter through the Diff and Snapshots services (the
   * algorithm of src/unpack, as containerd's client does it); returns the top chain ID.
   */
  async unpack(image: string | Image, snapshotter: string = this.opts.defaultSnapshotter, opts?: CallOptions): Promise<string> {
    if (!this.lease) return this.withLease((leased) => leased.unpack(image, snapshotter, opts), { expireMs: 3600_000 }, opts);
    const resolved = await this.resolveImage(image, opts);
    const { unpackImage } = await import('../unpack/unpacker');
    const { grpcUnpackBackend } = await import('./unpack-backend');
    const mt = (d: { mediaType?: string; media_type?: string }): string => d.mediaType ?? d.media_type ?? '';
    const backend = grpcUnpackBackend({ snapshotter: this.snapshotter(snapshotter), differ: new Differ(this.rpc), content: this.content });
    const r = await unpackImage(backend, {
      config: { mediaType: mt(resolved.manifest.config), digest: resolved.manifest.config.digest, size: resolved.manifest.config.size },
      layers: resolved.manifest.layers.map((l) => ({ mediaType: mt(l), digest: l.digest, size: l.size, ...(l.annotations ? { annotations: l.annotations } : {}) })),
    });
    return r.chainId;
  }

  /** The unpack a pull starts while it downloads (src/unpack/during-pull.ts). */
  private async unpackDuringPull(snapshotter: string): Promise<import('../unpack/during-pull').UnpackDuringPull> {
    const { UnpackDuringPull } = await import('../unpack/during-pull');
    const { unpackImage } = await import('../unpack/unpacker');
    const { grpcUnpackBackend } = await import('./unpack-backend');
    const backend = grpcUnpackBackend({ snapshotter: this.snapshotter(snapshotter), differ: new Differ(this.rpc), content: this.content });
    return new UnpackDuringPull((digest) => this.content.readAll(digest), async (image, layerReady) => (await unpackImage(backend, image, { layerReady })).chainId);
  }

  /**
   * Pulls an image from a registry (src/remotes: resolve, fetch with resume, labels as
   * containerd sets them) into the content store under a lease, creates or updates the
   * image record, and unpacks it, as the Go client's Pull with WithPullUnpack.
   */
  async pull(ref: string, o: PullOptions = {}): Promise<PulledImage> {
    const via = o.via ?? 'client';
    // A transfer carries a hosts directory and the default scheme, not skipVerify.
    if (via === 'daemon' && o.hosts?.skipVerify) throw new InvalidArgumentError("hosts.skipVerify cannot go with via: 'daemon' (put skip_verify in a hosts directory)");
    if (via === 'daemon' || (via === 'auto' && !this.noTransfer && !o.hosts?.skipVerify)) {
      try {
        return await this.pullByDaemon(ref, o);
      } catch (err) {
        if (via === 'daemon' || !(err instanceof NotImplementedError)) throw err;
        this.noTransfer = true;
      }
    }
    if (!this.lease) return this.withLease((leased) => leased.pull(ref, { ...o, via: 'client' }), { expireMs: 3600_000 }, o);
    const remotes = await import('../remotes/index');
    const { contentServiceIngester } = await import('./content-ingester');
    const resolver = new remotes.Resolver({ hosts: o.hosts ?? {}, ...(o.credentials ? { credentials: o.credentials } : {}) });
    const snapshotter = o.unpack === false ? undefined : (o.unpack ?? this.opts.defaultSnapshotter);
    const early = snapshotter === undefined ? undefined : await this.unpackDuringPull(snapshotter);
    let r: Awaited<ReturnType<typeof remotes.pull>>;
    try {
      r = await remotes.pull(ref, {
        resolver,
        ingester: contentServiceIngester(this.rpc, this.content),
        ...(o.platform ? { platform: o.platform } : {}),
        ...(early ? { progress: early.progress(o.progress) } : o.progress ? { progress: o.progress } : {}),
        ...(o.signal ? { signal: o.signal } : {}),
        maxConcurrentDownloads: o.maxConcurrentDownloads !== undefined && o.maxConcurrentDownloads > 0 ? o.maxConcurrentDownloads : Number.MAX_SAFE_INTEGER,
      });
    } catch (err) {
      early?.fail(err);
      await early?.result().catch(() => undefined);
      throw err;
    }
    const image = await this.putImage(r.name, r.target, o);
    const chainId = snapshotter === undefined ? '' : ((await early?.result()) ?? (await this.unpack(image, snapshotter, o)));
    return { image, chainId };
  }

  /** The daemon answered Unimplemented to a transfer: this client pulls itself from then on. */
  private noTransfer = false;

  /** pull through the daemon's Transfer service (src/client/transfer.ts). */
  private async pullByDaemon(ref: string, o: PullOptions): Promise<PulledImage> {
    const { parsePullReference, formatReference } = await import('../remotes/reference');
    const name = formatReference(parsePullReference(ref));
    const { transferPull } = await import('./transfer');
    const unpack = o.unpack === false ? false : (o.unpack ?? this.opts.defaultSnapshotter);
    await transferPull(this.rpc, ref, name, {
      unpack,
      ...(o.hosts ? { hosts: o.hosts } : {}),
      ...(o.credentials ? { credentials: o.credentials } : {}),
      ...(o.platform ? { platform: o.platform } : {}),
      ...(o.progress ? { progress: o.progress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
    const image = await this.images.get(name, o);
    // The chain ID the unpack made: this host's manifest's (another platform's is not run here).
    const chainId = unpack === false || o.platform ? '' : (await this.resolveImage(image, o)).chainId;
    return { image, chainId };
  }

  /** Creates the image record, or points an existing one of that name at target (as ctr's
   * pull and import do). */
  private async putImage(name: string, target: Descriptor, o: CallOptions): Promise<Image> {
    const input = { name, target: { media_type: target.mediaType, digest: target.digest, size: target.size, annotations: target.annotations ?? {} } };
    try {
      return await this.images.create(input, o);
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
      return await this.images.update(input, ['target'], o);
    }
  }

  /**
   * Imports an OCI image archive (a tar stream: `ctr images export`, skopeo's
   * oci-archive): blobs into the content store under a lease, gc labels on the tree, an
   * image per named index entry, each unpacked (unless `unpack: false`). Returns the images.
   */
  async import(archive: Readable, o: { unpack?: string | false } & CallOptions = {}): Promise<Image[]> {
    if (!this.lease) return this.withLease((leased) => leased.import(archive, o), { expireMs: 3600_000 }, o);
    const { importArchive, labelChildren, importedName } = await import('./image-import');
    const { manifests } = await importArchive(this.content, archive);
    const out: Image[] = [];
    for (const desc of manifests) {
      await labelChildren(this.content, desc);
      const name = importedName(desc);
      if (!name) continue;
      const image = await this.putImage(name, desc, o);
      if (o.unpack !== false) await this.unpack(image, o.unpack ?? this.opts.defaultSnapshotter, o);
      out.push(image);
    }
    return out;
  }

  /** Writes the images (by name) as an OCI image archive to out (`ctr images export`). */
  async export(names: readonly string[], out: Writable, opts?: CallOptions): Promise<void> {
    const images = [];
    for (const n of names) images.push(await this.images.get(n, opts));
    const { exportArchive } = await import('./image-export');
    await exportArchive(this.content, images, out);
  }

  /**
   * Pushes an image to a registry (src/remotes: children first, cross-repository mounts
   * from the distribution-source labels, the manifest under its tag), reading from the
   * Content service. `ref` names the destination (default: the image's own name).
   */
  async push(
    image: string,
    o: { ref?: string; hosts?: HostsOptions; credentials?: CredentialsCallback; platform?: Platform; progress?: (p: PushProgress) => void } & CallOptions = {},
  ): Promise<void> {
    const img = await this.images.get(image, o);
    if (!img.target) throw new NotFoundError(`image ${image} has no target`);
    const remotes = await import('../remotes/index');
    const { contentServiceProvider } = await import('./content-provider');
    const resolver = new remotes.Resolver({ hosts: o.hosts ?? {}, ...(o.credentials ? { credentials: o.credentials } : {}) });
    await remotes.push(o.ref ?? img.name, {
      resolver,
      provider: contentServiceProvider(this.content),
      target: { mediaType: img.target.media_type, digest: img.target.digest, size: img.target.size, ...(Object.keys(img.target.annotations).length > 0 ? { annotations: img.target.annotations } : {}) },
      ...(o.platform ? { platform: o.platform } : {}),
      ...(o.progress ? { progress: o.progress } : {}),
      ...(o.signal ? { signal: o.signal } : {}),
    });
  }

  /** An existing container (NotFoundError if there is none). */
  async loadContainer(id: string, opts?: CallOptions): Promise<Container> {
    const c = new Container(this.rpc, id);
    await c.info(opts);
    return c;
  }

  /** Containers matching any of the filters. */
  async containers(filters: string[] = [], opts?: CallOptions): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for await (const m of this.rpc.stream<{ container: ContainerRecord }>(Services.containers, 'ListStream', { filters }, opts)) out.push(m.container);
    return out;
  }

  /** The tasks of this namespace (Tasks.List). */
  async tasks(filter = '', opts?: CallOptions): Promise<TaskSummary[]> {
    const r = await this.rpc.unary<{ tasks: TaskSummary[] }>(Services.tasks, 'List', { filter }, opts);
    return r.tasks;
  }

  /** Metrics of the namespace's tasks matching any of the filters (`id==x`; none: all), in
   * one Tasks.Metrics call, decoded. */
  async taskMetrics(filters: string[] = [], opts?: CallOptions): Promise<TaskMetrics[]> {
    const r = await this.rpc.unary<{ metrics: TaskMetric[] }>(Services.tasks, 'Metrics', { filters }, opts);
    return r.metrics.map(decodeTaskMetrics);
  }

  /** Events matching any of the filters, until the loop stops or the signal fires. */
  events(filters: string[] = [], opts?: CallOptions): AsyncGenerator<DaemonEvent> {
    return subscribe(this.rpc, filters, opts);
  }

  /** Closes the connection (every client made from this one with withNamespace/withLease shares it). */
  close(): void {
    this.channel.close();
  }
}
