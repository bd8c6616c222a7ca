// The records the client library returns, as decoded from the wire: field names as in
// containerd's .proto files, every field present (defaults filled), int64 as number, enums
// as their names, bytes as Buffer. Declared here rather than taken from src/generated so
// the package's public types stand alone (the generated input types reference protobuf
// helper packages a user does not install). The e2e tests decode real answers into these.

/** google.protobuf.Timestamp. */
export interface Timestamp {
  seconds: number;
  nanos: number;
}

/** google.protobuf.Any with containerd's bare type URLs. */
export interface AnyValue {
  type_url: string;
  value: Buffer;
}

export type Labels = { [key: string]: string };

export interface Descriptor {
  media_type: string;
  digest: string;
  size: number;
  annotations: Labels;
}

export interface Namespace {
  name: string;
  labels: Labels;
}

export interface Lease {
  id: string;
  created_at: Timestamp | null;
  labels: Labels;
}

export interface LeaseResource {
  id: string;
  type: string;
}

export interface ContentInfo {
  digest: string;
  size: number;
  created_at: Timestamp | null;
  updated_at: Timestamp | null;
  labels: Labels;
}

export interface IngestStatus {
  started_at: Timestamp | null;
  updated_at: Timestamp | null;
  ref: string;
  offset: number;
  total: number;
  expected: string;
}

export type SnapshotKind = 'UNKNOWN' | 'VIEW' | 'ACTIVE' | 'COMMITTED';

export interface SnapshotInfo {
  name: string;
  parent: string;
  kind: SnapshotKind;
  created_at: Timestamp | null;
  updated_at: Timestamp | null;
  labels: Labels;
}

export interface Mount {
  type: string;
  source: string;
  target: string;
  options: string[];
}

export interface Image {
  name: string;
  labels: Labels;
  target: Descriptor | null;
  created_at: Timestamp | null;
  updated_at: Timestamp | null;
}

export interface ContainerRecord {
  id: string;
  labels: Labels;
  image: string;
  runtime: { name: string; options: AnyValue | null } | null;
  spec: AnyValue | null;
  snapshotter: string;
  snapshot_key: string;
  created_at: Timestamp | null;
  updated_at: Timestamp | null;
  extensions: { [key: string]: AnyValue };
}

export type ProcessState = 'UNKNOWN' | 'CREATED' | 'RUNNING' | 'STOPPED' | 'PAUSED' | 'PAUSING';

export interface ProcessStatus {
  container_id: string;
  id: string;
  pid: number;
  status: ProcessState;
  stdin: string;
  stdout: string;
  stderr: string;
  terminal: boolean;
  exit_status: number;
  exited_at: Timestamp | null;
}

export interface ProcessInfo {
  pid: number;
  info: AnyValue | null;
}

export interface TaskMetric {
  timestamp: Timestamp | null;
  id: string;
  data: AnyValue | null;
}

export interface PluginInfo {
  type: string;
  id: string;
  requires: string[];
  platforms: Array<{ os: string; architecture: string; variant: string }>;
  exports: Labels;
  capabilities: string[];
  init_err: { code: number; message: string } | null;
}

export interface TaskSummary {
  container_id: string;
  id: string;
  pid: number;
  status: ProcessState;
  exit_status: number;
}
