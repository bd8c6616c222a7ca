// Domain records kept by the metadata store. These are berth's own shapes (camelCase,
// WallTimes, Buffers); services translate them to and from the wire messages.

import type { WallTime } from '../time/wall';

export type Labels = Record<string, string>;

/** A google.protobuf.Any kept byte-for-byte as the client sent it. */
export interface AnyValue {
  typeUrl: string;
  value: Buffer;
}

export interface NamespaceRecord {
  name: string;
  labels: Labels;
  createdAt: WallTime;
  updatedAt: WallTime;
}

export interface ContainerRuntime {
  name: string;
  options?: AnyValue;
}

export interface ContainerRecord {
  id: string;
  labels: Labels;
  image: string;
  runtime: ContainerRuntime;
  spec?: AnyValue;
  snapshotter: string;
  snapshotKey: string;
  extensions: Record<string, AnyValue>;
  createdAt: WallTime;
  updatedAt: WallTime;
}

export interface LeaseRecord {
  id: string;
  labels: Labels;
  createdAt: WallTime;
}

/** A resource held by a lease: type is `content`, `ingests` or `snapshots/<snapshotter>`. */
export interface LeaseResource {
  id: string;
  type: string;
}

/** An OCI descriptor (containerd.types.Descriptor). */
export interface DescriptorRecord {
  mediaType: string;
  digest: string;
  size: number;
  annotations: Labels;
}

export interface ImageRecord {
  name: string;
  labels: Labels;
  target: DescriptorRecord;
  createdAt: WallTime;
  updatedAt: WallTime;
}
