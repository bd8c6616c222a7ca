import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { UntypedServiceImplementation } from '@grpc/grpc-js';
import { GrpcServer } from '../grpc/server';
import type { Logger } from '../log/logger';
import { MetadataDB } from '../metadata/db';
import { NamespaceStore } from '../metadata/namespaces';
import { ContainerStore } from '../metadata/containers';
import { LeaseStore } from '../metadata/leases';
import { ImageStore } from '../metadata/images';
import { NamespacedContentStore } from '../metadata/content';
import { GarbageCollector } from '../metadata/gc';
import { LocalContentStore } from '../content/local';
import { Exchange } from '../events/exchange';
import { HeldEventsFile } from '../events/held-file';
import { unpackAny } from '../proto/any';
import { prepareAllCodecs, serviceDefinition } from '../proto/registry';
import { hostPlatform, PluginRegistry, PluginType } from '../plugins/registry';
import { GcScheduler } from '../gc/scheduler';
import { metadataCollector } from '../gc/collector';
import type { ServiceDeps } from '../services/context';
import { VERSION_SERVICE, versionService } from '../services/version';
import { INTROSPECTION_SERVICE, introspectionService } from '../services/introspection';
import { HEALTH_SERVICE, healthService } from '../services/health';
import { NAMESPACES_SERVICE, namespacesService } from '../services/namespaces';
import { CONTAINERS_SERVICE, containersService } from '../services/containers';
import { LEASES_SERVICE, leasesService } from '../services/leases';
import { EVENTS_SERVICE, eventsService } from '../services/events';
import { CONTENT_SERVICE, contentService } from '../services/content';
import { IMAGES_SERVICE, imagesService } from '../services/images';
import { SNAPSHOTS_SERVICE, snapshotsService } from '../services/snapshots';
import { DIFF_SERVICE, diffService } from '../services/diff';
import { Differ } from '../differ/differ';
import { SnapshotterRegistry } from '../metadata/snapshots';
import { OverlaySnapshotter } from '../snapshotter/overlay';
import { NativeSnapshotter } from '../snapshotter/native';
import type { SnapshotterBackend } from '../snapshotter/snapshotter';
import { TASKS_SERVICE, tasksService } from '../services/tasks';
import { STREAMING_SERVICE, streamingService } from '../services/streaming';
import { TRANSFER_SERVICE, transferService } from '../services/transfer';
import { StreamManager } from '../streaming/manager';
import { startTtrpcEventsServer } from '../services/ttrpc-events';
import { BERTHD_BINARY, RuntimeResolver, TaskManager } from '../runtime';
import type { TtrpcServer } from '../ttrpc';
import { BerthError, FailedPreconditionError, NotFoundError, UnknownError } from '../errdefs/errors';
import { errorChainText, fsError, levelError } from '../errdefs/fs';
import { parseTcpAddress, ttrpcAddress, type BerthConfig } from './config';
import { RootLock } from './lock';
import { prepareSocketPath, removeSocket, secureSocket } from './socket';
import { serverUuid } from './identity';
import { buildInfo } from './version';
import { startCri, type CriServices } from '../cri/service-cri';
import { remotesImageFetcher } from '../cri/image_remote_remotes';
import { daemonTaskSource, GrpcServerMetrics, serveMetrics, type MetricsEndpoint } from '../metrics';

/**
 * After a restart with running tasks, how long shims' events are held for the clients'
 * first Events.Subscribe. dockerd reconnects with a back-off of up to 3 s, but on a loaded
 * machine it took longer than 5 s (the hold's first length: dockerd then never saw an exit
 * that happened while berthd was down). The first subscriber ends the hold at once, and
 * berthd's own consumers (CRI) get the events as they arrive, so a long hold delays
 * nothing that is waiting; the held events are bounded and on disk.
 */
const FORWARD_HOLD_MS = 30_000;

/** A running berthd: stores opened, services bound, ready for clients. */
export class Daemon {
  private constructor(
    private readonly cfg: BerthConfig,
    private readonly log: Logger,
    private readonly server: GrpcServer,
    private readonly db: MetadataDB,
    private readonly lock: RootLock,
    private readonly gc: GcScheduler,
    /** Stores to close after the database (snapshotter backends). */
    private readonly closers: Array<() => Promise<void>>,
    /** Where shims forward events. */
    private readonly ttrpcServer: TtrpcServer,
    private readonly tasks: TaskManager,
    private readonly exchange: Exchange,
    private readonly cri: CriServices | undefined,
    private readonly streams: StreamManager,
  ) {}

  /** The Prometheus endpoint, with [metrics] address. */
  private metrics: MetricsEndpoint | undefined;

  static async start(cfg: BerthConfig, log: Logger): Promise<Daemon> {
    for (const dir of [cfg.root, cfg.state]) {
      try {
        mkdirSync(dir, { recursive: true, mode: 0o711 });
      } catch (err) {
        throw fsError(err, 'mkdir', dir);
      }
    }
    const lock = RootLock.acquire(cfg.root);
    let db: MetadataDB | undefined;
    let ttrpcServer: TtrpcServer | undefined;
    let tasks: TaskManager | undefined;
    let cri: CriServices | undefined;
    let metrics: MetricsEndpoint | undefined;
    try {
      db = await openMetadata(join(cfg.root, 'meta'), cfg.root, log);
      const namespaces = new NamespaceStore(db);
      const containers = new ContainerStore(db);
      const leases = new LeaseStore(db);
      const plugins = registerPlugins(cfg);
      const images = new ImageStore(db);
      const local = await LocalContentStore.open(join(cfg.root, 'content'), { logger: log.with({ component: 'content' }) });
      // Deleting content only drops a namespace's record; the collector removes the file
      // once no namespace records it.
      let scheduleGc = (): void => undefined;
      const content = new NamespacedContentStore(db, local, () => scheduleGc());
      const backends = await openSnapshotters(cfg, log, plugins);
      const collector = new GarbageCollector(db, content, local, backends);
      // A backend snapshot whose removal failed is left to the collector's backend sweep.
      const snapshotters = new SnapshotterRegistry(db, backends, () => {
        collector.snapshotOrphaned();
        scheduleGc();
      });
      const exchange = new Exchange(unpackAny, new HeldEventsFile(join(cfg.state, 'events-held.jsonl')));
      const gc = new GcScheduler(metadataCollector(collector), log.with({ component: 'gc' }));
      scheduleGc = () => gc.schedule();
      tasks = new TaskManager({
        stateDir: join(cfg.state, 'tasks'),
        rootDir: join(cfg.root, 'tasks'),
        address: cfg.grpc.address,
        ttrpcAddress: ttrpcAddress(cfg),
        publishBinary: BERTHD_BINARY,
        debug: cfg.log.level === 'debug',
        resolver: new RuntimeResolver({ runtimes: cfg.runtimes }),
        publish: (ns, topic, event) => exchange.publish(ns, topic, event),
        containerRuntime: async (ns, id) => {
          try {
            return (await containers.get(ns, id)).runtime.name;
          } catch (err) {
            if (err instanceof NotFoundError) return undefined;
            throw err;
          }
        },
        log: log.with({ component: 'runtime' }),
      });
      const deps: ServiceDeps = {
        log: log.with({ component: 'grpc' }),
        namespaces,
        containers,
        leases,
        images,
        content,
        snapshotters,
        differ: new Differ(cfg.root),
        tasks,
        exchange,
        plugins,
        version: buildInfo(),
        uuid: serverUuid(cfg.root),
        gc,
        streams: new StreamManager(),
      };

      // berth's own HTTP/2 server (src/grpc): node:http2 and grpc-js cost a Go client
      // ~0.4 ms more per call than containerd, and clients make dozens per `ctr run`.
      const codecs = prepareAllCodecs();
      log.debug('protobuf codecs generated', { types: codecs });
      // Calls are counted only when metrics are served: otherwise the server has no observer.
      const grpcMetrics = cfg.metrics.address !== '' ? new GrpcServerMetrics({ handlingTimeHistogram: cfg.metrics.grpc_histogram }) : undefined;
      const server = new GrpcServer({
        maxReceiveMessageLength: cfg.grpc.max_recv_message_size,
        maxSendMessageLength: cfg.grpc.max_send_message_size,
        onError: (err) => log.debug('grpc transport error', { error: err.message }),
        observer: grpcMetrics,
      });
      const services: Array<[string, UntypedServiceImplementation]> = [
        [VERSION_SERVICE, versionService(deps)],
        [INTROSPECTION_SERVICE, introspectionService(deps)],
        [NAMESPACES_SERVICE, namespacesService(deps)],
        [CONTAINERS_SERVICE, containersService(deps)],
        [LEASES_SERVICE, leasesService(deps)],
        [CONTENT_SERVICE, contentService(deps)],
        [IMAGES_SERVICE, imagesService(deps)],
        [SNAPSHOTS_SERVICE, snapshotsService(deps)],
        [DIFF_SERVICE, diffService(deps)],
        [EVENTS_SERVICE, eventsService(deps)],
        [TASKS_SERVICE, tasksService(deps)],
        [STREAMING_SERVICE, streamingService(deps)],
        [TRANSFER_SERVICE, transferService(deps)],
      ];
      // Kubernetes CRI on the same socket, as containerd serves it (in the "k8s.io" namespace).
      if (cfg.cri.enabled) {
        cri = await startCri({ core: deps, config: cfg.cri, root: cfg.root, state: cfg.state, log: log.with({ component: 'cri' }), remote: remotesImageFetcher });
        services.push(...cri.services);
        plugins.register({ type: PluginType.grpc, id: 'cri', requires: [PluginType.metadata] });
      }
      const names = services.map(([n]) => n);
      services.push([HEALTH_SERVICE, healthService(deps, () => names)]);
      for (const [name, impl] of services) server.addService(serviceDefinition(name), impl);

      await prepareSocketPath(cfg.grpc.address);
      // Shims forward events here; it listens before reconnecting so that events they
      // queued while berthd was down arrive, and before the first task is created.
      await prepareSocketPath(ttrpcAddress(cfg));
      exchange.holdForwards();
      ttrpcServer = await startTtrpcEventsServer(ttrpcAddress(cfg), deps, log.with({ component: 'ttrpc' }));
      // Reconnect to the shims of tasks that outlived the previous berthd (containerd
      // does this before serving, so the first Tasks.List already sees them).
      await tasks.load();
      log.info('tasks loaded', { tasks: tasks.size });
      // CRI's pods and containers come back from the core's records and the tasks just
      // reconnected (containerd's CRI recovers before it serves, too).
      await cri?.recover();
      // Events of running tasks wait (held in the exchange) for a client to subscribe again,
      // for a few seconds at most; with no task there is nothing to wait for.
      exchange.releaseForwards(tasks.size > 0 || exchange.heldCount > 0 ? FORWARD_HOLD_MS : 0);

      // Whatever can fail binds first (a port in use fails the start, as in containerd); the
      // unix socket last, so that no client reaches a daemon that is about to exit (a
      // readiness probe on the socket did, when the metrics port was taken).
      if (grpcMetrics) {
        const { host, port } = parseTcpAddress(cfg.metrics.address, 'metrics.address');
        metrics = await serveMetrics({ host, port, grpc: grpcMetrics, tasks: daemonTaskSource({ namespaces, containers, tasks }), log: log.with({ component: 'metrics' }) });
        const bound = metrics.address();
        log.info('serving metrics', { address: `${bound.address}:${bound.port}` });
      }
      if (cfg.grpc.tcp_address !== '') {
        const { host, port } = parseTcpAddress(cfg.grpc.tcp_address);
        const bound = await server.listenTcp(host, port).catch((err: unknown) => {
          server.forceShutdown();
          throw err;
        });
        log.info('serving tcp', { address: `${bound.address}:${bound.port}` });
      }
      await server.listen(cfg.grpc.address);
      secureSocket(cfg.grpc.address, cfg.grpc.uid, cfg.grpc.gid);
      // Expired leases left from before a restart are collected shortly after start-up,
      // as containerd's startup_delay does.
      setTimeout(() => gc.schedule(), 100).unref();
      log.info('serving', { address: cfg.grpc.address, root: cfg.root, state: cfg.state, version: deps.version.version });
      const daemon = new Daemon(cfg, log, server, db, lock, gc, [...backends.values()].map((b) => () => b.close()), ttrpcServer, tasks, exchange, cri, deps.streams);
      daemon.metrics = metrics;
      return daemon;
    } catch (err) {
      await metrics?.close().catch(() => undefined);
      cri?.close();
      tasks?.close();
      await ttrpcServer?.close().catch(() => undefined);
      await db?.close().catch(() => undefined);
      lock.release();
      throw err;
    }
  }

  /** Stop serving: refuse new calls, give running ones a moment, then close everything. */
  async stop(graceMs = 2000): Promise<void> {
    this.log.info('stopping', { subscribers: this.exchange.subscriberCount });
    // First cut the event streams: a subscriber would otherwise hold the drain below for
    // the whole grace period while events kept reaching a client that can no longer act
    // on them. Shims now keep their events queued until the next berthd takes them.
    this.exchange.shutdown();
    // The same for streams clients opened with Streaming.Stream (a containerd 2 client keeps
    // its auth streams open until its context ends).
    this.streams.closeAll();
    this.cri?.close();
    await this.metrics?.close().catch((err: unknown) => this.log.warn('metrics endpoint stop failed', { error: err as Error }));
    await new Promise<void>((resolve) => {
      const force = setTimeout(() => {
        this.server.forceShutdown();
        resolve();
      }, graceMs);
      this.server.tryShutdown(() => {
        clearTimeout(force);
        resolve();
      });
    });
    // Running tasks outlive berthd: only the connections to their shims are closed.
    this.tasks.close();
    await this.ttrpcServer.shutdown(graceMs).catch((err: unknown) => this.log.warn('ttrpc stop failed', { error: err as Error }));
    await this.gc.stop();
    await this.db.close();
    for (const close of this.closers) await close().catch((err: unknown) => this.log.warn('close failed', { error: err as Error }));
    removeSocket(this.cfg.grpc.address);
    this.lock.release();
    this.log.info('stopped');
  }
}

/**
 * Open LevelDB under dir. A failure names the database and carries LevelDB's own words
 * (classic-level hides them in a cause): a held LOCK is another process; a full disk reads
 * as containerd's "write <file>: no space left on device".
 */
async function openMetadata(dir: string, root: string, log: Logger): Promise<MetadataDB> {
  try {
    return await MetadataDB.open(dir);
  } catch (err) {
    const chain = errorChainText(err);
    log.error('metadata database failed to open', { path: dir, error: chain });
    if (err instanceof BerthError) throw err;
    const disk = levelError(err, dir);
    if (disk instanceof UnknownError) throw new UnknownError(`open metadata database ${dir}: ${disk.message}`);
    if (/\block\b.*LOCK|already held by process|Resource temporarily unavailable/.test(chain)) {
      throw new FailedPreconditionError(`the metadata database under ${root} is in use by another process (${chain})`);
    }
    throw new UnknownError(`open metadata database ${dir}: ${chain}`);
  }
}

/**
 * Open the snapshotter backends. One that cannot start (overlayfs on a filesystem without
 * overlay support) is reported by Introspection with its error, as containerd reports a
 * failed plugin, and the daemon goes on without it.
 */
async function openSnapshotters(cfg: BerthConfig, log: Logger, plugins: PluginRegistry): Promise<Map<string, SnapshotterBackend>> {
  const backends = new Map<string, SnapshotterBackend>();
  const openers: Array<[string, (root: string) => Promise<SnapshotterBackend>]> = [
    ['overlayfs', (root) => OverlaySnapshotter.open(root, { logger: log.with({ component: 'overlayfs' }) })],
    ['native', (root) => NativeSnapshotter.open(root, { logger: log.with({ component: 'native' }) })],
  ];
  for (const [name, open] of openers) {
    const root = join(cfg.root, 'snapshots', name);
    try {
      backends.set(name, await open(root));
      plugins.register({ type: PluginType.snapshotter, id: name, platforms: [hostPlatform()], exports: { root } });
    } catch (err) {
      log.warn('snapshotter unavailable', { snapshotter: name, error: err as Error });
      plugins.register({
        type: PluginType.snapshotter,
        id: name,
        platforms: [hostPlatform()],
        initError: { code: 2, message: (err as Error).message },
      });
    }
  }
  return backends;
}

function registerPlugins(cfg: BerthConfig): PluginRegistry {
  const plugins = new PluginRegistry();
  plugins.register({ type: PluginType.content, id: 'content', exports: { root: join(cfg.root, 'content') } });
  plugins.register({ type: PluginType.event, id: 'exchange' });
  plugins.register({
    type: PluginType.metadata,
    id: 'leveldb',
    requires: [PluginType.content],
    exports: { root: join(cfg.root, 'meta') },
  });
  plugins.register({ type: PluginType.gc, id: 'scheduler', requires: [PluginType.metadata] });
  plugins.register({ type: PluginType.lease, id: 'manager', requires: [PluginType.metadata] });
  plugins.register({ type: PluginType.differ, id: 'walking', requires: [PluginType.metadata], platforms: [hostPlatform()] });
  plugins.register({ type: PluginType.runtime, id: 'task', requires: [PluginType.event, PluginType.metadata], platforms: [hostPlatform()] });
  // containerd 2's streaming manager and local transferrer (registry → image store only).
  plugins.register({ type: PluginType.streaming, id: 'manager', requires: [PluginType.metadata] });
  plugins.register({ type: PluginType.transfer, id: 'local', requires: [PluginType.lease, PluginType.metadata] });
  for (const id of ['containers', 'content', 'diff', 'images', 'leases', 'namespaces', 'snapshots', 'tasks', 'events', 'introspection', 'version', 'healthcheck', 'streaming', 'transfer']) {
    plugins.register({ type: PluginType.grpc, id, requires: id === 'introspection' || id === 'version' ? [] : [PluginType.metadata] });
  }
  return plugins;
}
