// Names kubelet's objects are reserved under (containerd's makeSandboxName and
// makeContainerName): unique while the metadata is.
import type { ContainerMetadata__Output } from '../generated/types/runtime/v1/ContainerMetadata';
import type { PodSandboxMetadata__Output } from '../generated/types/runtime/v1/PodSandboxMetadata';

export function makeSandboxName(m: PodSandboxMetadata__Output): string {
  return [m.name, m.namespace, m.uid, String(m.attempt)].join('_');
}

export function makeContainerName(c: ContainerMetadata__Output, s: PodSandboxMetadata__Output): string {
  return [c.name, s.name, s.namespace, s.uid, String(c.attempt)].join('_');
}
