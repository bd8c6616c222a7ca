// Devices a container gets and the cgroup device rules that let it use them (containerd's
// WithDevices, WithLinuxDevice, WithLinuxDevices, WithHostDevices, WithAllDevicesAllowed,
// WithDefaultUnixDevices, WithParentCgroupDevices).
import { getDevices, deviceFromPath, hostDevices } from './devices';
import type { SpecOpt } from './spec-opt';
import { ensureLinux, ensureResources } from './spec-sections';
import type { LinuxDevice, LinuxDeviceCgroup, Spec } from './spec-types';

function allowRule(dev: LinuxDevice, access: string): LinuxDeviceCgroup {
  const rule: LinuxDeviceCgroup = { allow: true, type: dev.type, major: dev.major, minor: dev.minor };
  if (access !== '') rule.access = access;
  return rule;
}

function addDevices(spec: Spec, devices: readonly LinuxDevice[], access?: string): void {
  if (devices.length === 0) return;
  const linux = ensureLinux(spec);
  linux.devices = [...(linux.devices ?? []), ...devices];
  if (access === undefined) return;
  const resources = ensureResources(spec);
  resources.devices = [...(resources.devices ?? []), ...devices.map((d) => allowRule(d, access))];
}

/**
 * Adds the host device at devicePath — or every device below it when it is a directory —
 * as containerPath (default: the same path), each with a cgroup rule allowing `permissions`
 * ("rwm"…) (containerd's WithDevices on Linux).
 */
export function withDevices(devicePath: string, containerPath: string, permissions: string): SpecOpt {
  return (_ctx, spec) => addDevices(spec, getDevices(devicePath, containerPath), permissions);
}

/** Adds the one host device at devicePath with a cgroup rule allowing permissions (containerd's WithLinuxDevice). */
export function withLinuxDevice(devicePath: string, permissions: string): SpecOpt {
  return (_ctx, spec) => addDevices(spec, [deviceFromPath(devicePath)], permissions);
}

/** Adds these devices, without cgroup rules (containerd's WithLinuxDevices). */
export function withLinuxDevices(devices: readonly LinuxDevice[]): SpecOpt {
  return (_ctx, spec) => addDevices(spec, devices.map((d) => ({ ...d })));
}

/** Adds every device of the host's /dev, without cgroup rules (containerd's WithHostDevices). */
export const withHostDevices: SpecOpt = (_ctx, spec) => addDevices(spec, hostDevices());

/** Replaces the cgroup device rules with one allowing every device (containerd's WithAllDevicesAllowed). */
export const withAllDevicesAllowed: SpecOpt = (_ctx, spec) => {
  ensureResources(spec).devices = [{ allow: true, access: 'rwm' }];
};

/** Drops the cgroup device rules: the parent cgroup's apply (containerd's WithParentCgroupDevices). */
export const withParentCgroupDevices: SpecOpt = (_ctx, spec) => {
  delete ensureResources(spec).devices;
};

/**
 * Allows the standard character devices in the cgroup: null, random, full, tty, zero,
 * urandom, console, the pts range (136:*) and ptmx (containerd's WithDefaultUnixDevices).
 */
export const withDefaultUnixDevices: SpecOpt = (_ctx, spec) => {
  const rule = (major: number, minor?: number): LinuxDeviceCgroup =>
    minor === undefined ? { allow: true, type: 'c', major, access: 'rwm' } : { allow: true, type: 'c', major, minor, access: 'rwm' };
  const resources = ensureResources(spec);
  resources.devices = [
    ...(resources.devices ?? []),
    rule(1, 3), // /dev/null
    rule(1, 8), // /dev/random
    rule(1, 7), // /dev/full
    rule(5, 0), // /dev/tty
    rule(1, 5), // /dev/zero
    rule(1, 9), // /dev/urandom
    rule(5, 1), // /dev/console
    rule(136), // /dev/pts/*
    rule(5, 2), // /dev/ptmx
  ];
};
