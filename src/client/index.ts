// berth's client library for containerd-compatible daemons: the package's public API.
export { Client, DEFAULT_NAMESPACE, DEFAULT_RUNTIME, DEFAULT_SNAPSHOTTER } from './client';
export type { ClientOptions, NewContainerOptions, PullOptions, PulledImage, ServerVersion } from './client';
export { Differ } from './diff';
export type { CallOptions } from './call-options';
export { Container, RUNTIME_SPEC_TYPE } from './containers';
export type { ContainerRecord, NewTaskOptions, AttachOptions } from './containers';
export { Task, Process, PROCESS_SPEC_TYPE, signalNumber } from './task';
export type { ExitStatus, ExecOptions, ProcessStatus, ProcessInfo, TaskMetric } from './task';
export { decodeTaskMetrics, CGROUPS_V1_METRICS, CGROUPS_V2_METRICS } from './cgroup-metrics';
export type { TaskMetrics, CgroupV1Metrics, CgroupV2Metrics, CgroupV1MemoryStat, CgroupV1MemoryEntry, CgroupV1BlkIOEntry, CgroupV2MemoryStat, CgroupRdmaStat, CgroupRdmaEntry } from './cgroup-metrics';
export { TaskIO } from './cio';
export type { TaskStdio, FifoSet } from './cio';
export { ContentStore } from './content';
export type { ContentInfo, ContentWriteOptions, IngestStatus } from './content';
export { Images } from './images';
export type { Image, ImageInput, Descriptor } from './images';
export { chainId } from './image-manifest';
export type { ImageConfig, ResolvedImage } from './image-manifest';
export { Leases, randomLeaseId } from './leases';
export type { Lease, LeaseCreateOptions, LeaseResource } from './leases';
export { Namespaces } from './namespaces';
export type { Namespace } from './namespaces';
export { Snapshotter } from './snapshots';
export type { SnapshotInfo, Mount, SnapshotUsage } from './snapshots';
export type { DaemonEvent } from './events';
export {
  BerthError,
  InvalidArgumentError,
  NotFoundError,
  AlreadyExistsError,
  FailedPreconditionError,
  UnavailableError,
  NotImplementedError,
  OutOfRangeError,
  DataLossError,
  UnknownError,
} from '../errdefs/errors';
export type { ErrorClass } from '../errdefs/errors';
export { StatusError } from '../errdefs/status';
export { Code } from '../errdefs/codes';
export type {
  Timestamp,
  AnyValue,
  Labels,
  SnapshotKind,
  ProcessState,
  PluginInfo,
  TaskSummary,
} from './records';
