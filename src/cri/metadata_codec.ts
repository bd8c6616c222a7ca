// The CRI metadata kept on core container records as JSON extensions, versioned like
// containerd's ({"Version":"v1","Metadata":{…}}), so a later berth can tell old from new.
import type { AnyValue } from '../metadata/records';
import { CONTAINER_METADATA_TYPE_URL, SANDBOX_METADATA_TYPE_URL } from './constants';
import type { ContainerMetadata } from './container_store';
import type { SandboxMetadata } from './sandbox_store';

const METADATA_VERSION = 'v1';

function encode(typeUrl: string, metadata: unknown): AnyValue {
  return { typeUrl, value: Buffer.from(JSON.stringify({ Version: METADATA_VERSION, Metadata: metadata })) };
}

function decode<T>(any: AnyValue | undefined, what: string): T {
  if (!any) throw new Error(`${what} metadata extension not found`);
  const v = JSON.parse(any.value.toString('utf8')) as { Version?: string; Metadata?: T };
  if (v.Version !== METADATA_VERSION || !v.Metadata) throw new Error(`unsupported version: "${String(v.Version)}"`);
  return v.Metadata;
}

export function encodeSandboxMetadata(m: SandboxMetadata): AnyValue {
  return encode(SANDBOX_METADATA_TYPE_URL, m);
}

export function decodeSandboxMetadata(any: AnyValue | undefined): SandboxMetadata {
  return decode<SandboxMetadata>(any, 'sandbox');
}

export function encodeContainerMetadata(m: ContainerMetadata): AnyValue {
  return encode(CONTAINER_METADATA_TYPE_URL, m);
}

export function decodeContainerMetadata(any: AnyValue | undefined): ContainerMetadata {
  return decode<ContainerMetadata>(any, 'container');
}
