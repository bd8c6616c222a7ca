// The "set X to empty if unset" steps containerd's options take before writing into a
// section (setProcess, setLinux, setResources, setCPU, setCapabilities). A section created
// here holds only the fields Go always writes, so an option that creates one yields the
// JSON containerd's would (a new process: user 0:0 and cwd "").
import type { LinuxCapabilities, LinuxCpu, LinuxResources, Linux, Process, Root, Spec } from './spec-types';

export function ensureProcess(spec: Spec): Process {
  if (!spec.process) spec.process = { user: { uid: 0, gid: 0 }, cwd: '' };
  return spec.process;
}

export function ensureRoot(spec: Spec): Root {
  if (!spec.root) spec.root = { path: '' };
  return spec.root;
}

export function ensureLinux(spec: Spec): Linux {
  if (!spec.linux) spec.linux = {};
  return spec.linux;
}

export function ensureResources(spec: Spec): LinuxResources {
  const linux = ensureLinux(spec);
  if (!linux.resources) linux.resources = {};
  return linux.resources;
}

export function ensureCpu(spec: Spec): LinuxCpu {
  const resources = ensureResources(spec);
  if (!resources.cpu) resources.cpu = {};
  return resources.cpu;
}

export function ensureCapabilities(spec: Spec): LinuxCapabilities {
  const process = ensureProcess(spec);
  if (!process.capabilities) process.capabilities = {};
  return process.capabilities;
}

/**
 * Sets obj[key] to a list, or removes the key when the list is empty: Go omits an empty
 * list (`omitempty`), and a config.json with "maskedPaths": [] is not the one containerd writes.
 */
export function setList<T, K extends keyof T>(obj: T, key: K, list: T[K] & readonly unknown[] | undefined): void {
  if (list === undefined || list.length === 0) delete obj[key];
  else obj[key] = list;
}

/** Sets obj[key] to a string, or removes the key when it is "" (Go's omitempty). */
export function setString<T, K extends keyof T>(obj: T, key: K, value: (T[K] & string) | undefined): void {
  if (value === undefined || value === '') delete obj[key];
  else obj[key] = value;
}
