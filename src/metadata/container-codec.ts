import type { Container, Container__Output } from '../generated/types/containerd/services/containers/v1/Container';
import { anyFromWire, anyToWire, type WireAny } from '../proto/any';
import { decodeMessage, encodeMessage, messageType } from '../proto/registry';
import { fromWireTimestamp, toWireTimestamp } from '../proto/timestamp';
import type { NewContainer } from './containers';
import type { AnyValue, ContainerRecord, Labels } from './records';
import type { WallTime } from '../time/wall';

const EPOCH: WallTime = { seconds: 0, nanos: 0 };

// Container records are stored as containerd.services.containers.v1.Container in wire
// form: the spec and extension Anys stay byte-for-byte as clients sent them, and List
// can send stored bytes without decoding and re-encoding 10,000 records.

export const CONTAINER_TYPE = 'containerd.services.containers.v1.Container';

export function containerToWire(c: ContainerRecord): Container {
  const extensions: Record<string, WireAny> = {};
  for (const [k, v] of Object.entries(c.extensions)) extensions[k] = { type_url: v.typeUrl, value: v.value };
  return {
    id: c.id,
    labels: c.labels,
    image: c.image,
    runtime: { name: c.runtime.name, options: anyToWire(c.runtime.options) },
    spec: anyToWire(c.spec),
    snapshotter: c.snapshotter,
    snapshot_key: c.snapshotKey,
    created_at: toWireTimestamp(c.createdAt),
    updated_at: toWireTimestamp(c.updatedAt),
    extensions,
  };
}

export function containerFromWire(c: Container__Output | null): NewContainer {
  const extensions: Record<string, AnyValue> = {};
  for (const [k, v] of Object.entries(c?.extensions ?? {})) {
    const a = anyFromWire(v);
    if (a) extensions[k] = a;
  }
  return {
    id: c?.id ?? '',
    labels: { ...(c?.labels ?? {}) },
    image: c?.image ?? '',
    runtime: { name: c?.runtime?.name ?? '', options: anyFromWire(c?.runtime?.options) },
    spec: anyFromWire(c?.spec),
    snapshotter: c?.snapshotter ?? '',
    snapshotKey: c?.snapshot_key ?? '',
    extensions,
  };
}

export function encodeContainer(c: ContainerRecord): Buffer {
  return encodeMessage(CONTAINER_TYPE, containerToWire(c));
}

export function decodeContainer(bytes: Buffer): ContainerRecord {
  const w = decodeMessage<Container__Output>(CONTAINER_TYPE, bytes);
  return {
    ...containerFromWire(w),
    createdAt: fromWireTimestamp(w.created_at) ?? EPOCH,
    updatedAt: fromWireTimestamp(w.updated_at) ?? EPOCH,
  };
}

/** The fields filters look at, read without converting the whole record. */
export interface ContainerFilterView {
  id: string;
  image: string;
  runtimeName: string;
  labels: Labels;
}

export function containerFilterView(bytes: Buffer): ContainerFilterView {
  const m = messageType(CONTAINER_TYPE).decode(bytes) as unknown as {
    id: string;
    image: string;
    runtime?: { name?: string } | null;
    labels?: Labels;
  };
  return { id: m.id, image: m.image, runtimeName: m.runtime?.name ?? '', labels: m.labels ?? {} };
}
