// Linux-section options: namespaces, user namespace mappings, cgroup path, masked and
// read-only paths, sysctls (containerd's names and semantics).
import * as path from 'node:path';
import { requireNamespace } from './default-spec';
import type { SpecOpt } from './spec-opt';
import { ensureLinux, setList } from './spec-sections';
import type { LinuxIdMapping, LinuxNamespace, LinuxNamespaceType } from './spec-types';

/** Shares the host's namespace of this type: removes it from the spec (containerd's WithHostNamespace). */
export function withHostNamespace(type: LinuxNamespaceType): SpecOpt {
  return (_ctx, spec) => {
    const linux = ensureLinux(spec);
    const list = linux.namespaces ?? [];
    const i = list.findIndex((n) => n.type === type);
    if (i < 0) return;
    setList(linux, 'namespaces', [...list.slice(0, i), ...list.slice(i + 1)]);
  };
}

/** Uses ns, replacing the namespace of its type or appending it (containerd's WithLinuxNamespace). */
export function withLinuxNamespace(ns: LinuxNamespace): SpecOpt {
  return (_ctx, spec) => {
    const linux = ensureLinux(spec);
    const entry: LinuxNamespace = ns.path ? { type: ns.type, path: ns.path } : { type: ns.type };
    const list = [...(linux.namespaces ?? [])];
    const i = list.findIndex((n) => n.type === ns.type);
    if (i >= 0) list[i] = entry;
    else list.push(entry);
    linux.namespaces = list;
  };
}

/** Adds a user namespace (once) and appends id mappings (containerd's WithUserNamespace). */
export function withUserNamespace(uidMap: readonly LinuxIdMapping[], gidMap: readonly LinuxIdMapping[]): SpecOpt {
  return (_ctx, spec) => {
    const linux = ensureLinux(spec);
    const list = linux.namespaces ?? [];
    if (!list.some((n) => n.type === 'user')) linux.namespaces = [...list, { type: 'user' }];
    setList(linux, 'uidMappings', [...(linux.uidMappings ?? []), ...uidMap.map((m) => ({ ...m }))]);
    setList(linux, 'gidMappings', [...(linux.gidMappings ?? []), ...gidMap.map((m) => ({ ...m }))]);
  };
}

/** Sets linux.cgroupsPath ("" removes it; containerd's WithCgroup). */
export function withCgroup(cgroupsPath: string): SpecOpt {
  return (_ctx, spec) => {
    const linux = ensureLinux(spec);
    if (cgroupsPath === '') delete linux.cgroupsPath;
    else linux.cgroupsPath = cgroupsPath;
  };
}

/** Sets cgroupsPath to /<namespace>/<container id>, the default's (containerd's WithNamespacedCgroup). */
export const withNamespacedCgroup: SpecOpt = (ctx, spec) => {
  const ns = requireNamespace(ctx);
  ensureLinux(spec).cgroupsPath = path.posix.join('/', ns, ctx.containerId);
};

/** Replaces linux.maskedPaths; [] masks nothing (containerd's WithMaskedPaths). */
export function withMaskedPaths(paths: readonly string[]): SpecOpt {
  return (_ctx, spec) => setList(ensureLinux(spec), 'maskedPaths', [...paths]);
}

/** Replaces linux.readonlyPaths; [] makes none read-only (containerd's WithReadonlyPaths). */
export function withReadonlyPaths(paths: readonly string[]): SpecOpt {
  return (_ctx, spec) => setList(ensureLinux(spec), 'readonlyPaths', [...paths]);
}

/** Sets sysctls by key over the ones the spec has (containerd CRI's WithSysctls). */
export function withSysctls(sysctls: Readonly<Record<string, string>>): SpecOpt {
  return (_ctx, spec) => {
    const linux = ensureLinux(spec);
    const merged = { ...(linux.sysctl ?? {}), ...sysctls };
    if (Object.keys(merged).length > 0) linux.sysctl = merged;
  };
}

/** Removes the seccomp profile (containerd's WithSeccompUnconfined). */
export const withSeccompUnconfined: SpecOpt = (_ctx, spec) => {
  delete ensureLinux(spec).seccomp;
};
