// The default spec of a Linux container exactly as containerd 1.6.20's oci.GenerateSpec
// (populateDefaultUnixSpec) builds it before any option: root "rootfs", process as root in
// "/" with no_new_privileges, the 14 default capabilities in bounding/permitted/effective,
// RLIMIT_NOFILE 1024, the 7 default mounts, masked and read-only /proc and /sys paths, every
// device denied in the cgroup, new pid/ipc/uts/mount/network namespaces and cgroupsPath
// /<namespace>/<id>. Note what it does NOT set: no process.env (withImageConfig or
// withDefaultPathEnv bring PATH), no args, no hostname, no linux.devices, no seccomp
// profile (withDefaultSeccompProfile) — containerd's client and CRI add those by options.
import * as path from 'node:path';
import { FailedPreconditionError } from '../errdefs/errors';
import { applyOpts, type SpecContext, type SpecOpt } from './spec-opt';
import { OCI_VERSION, type LinuxNamespace, type Mount, type Spec } from './spec-types';

/** The PATH containerd gives a process whose image sets no environment. */
export const DEFAULT_UNIX_ENV: readonly string[] = ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'];

/** The capabilities of a container process by default (in containerd's order). */
export const DEFAULT_UNIX_CAPS: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/** Paths runc hides (bind of /dev/null or an empty read-only tmpfs) by default. */
export const DEFAULT_MASKED_PATHS: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];

/** Paths runc remounts read-only by default. */
export const DEFAULT_READONLY_PATHS: readonly string[] = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** The namespaces a container gets of its own by default (in containerd's order). */
export function defaultUnixNamespaces(): LinuxNamespace[] {
  return [{ type: 'pid' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'network' }];
}

/** The file systems every container gets (containerd's defaultMounts, in its order). */
export function defaultMounts(): Mount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/run', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  ];
}

/** containerd's namespaces.NamespaceRequired: a spec belongs to a namespace. */
export function requireNamespace(ctx: SpecContext): string {
  if (!ctx.namespace) throw new FailedPreconditionError('namespace is required');
  return ctx.namespace;
}

/** The default Linux spec for ctx's container, before any option (populateDefaultUnixSpec). */
export function defaultUnixSpec(ctx: SpecContext): Spec {
  const ns = requireNamespace(ctx);
  return {
    ociVersion: OCI_VERSION,
    root: { path: 'rootfs' },
    process: {
      user: { uid: 0, gid: 0 },
      cwd: '/',
      capabilities: {
        bounding: [...DEFAULT_UNIX_CAPS],
        effective: [...DEFAULT_UNIX_CAPS],
        permitted: [...DEFAULT_UNIX_CAPS],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    mounts: defaultMounts(),
    linux: {
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      // Go's filepath.Join cleans the result ("..", "//"); path.posix.join does the same.
      cgroupsPath: path.posix.join('/', ns, ctx.containerId),
      namespaces: defaultUnixNamespaces(),
      maskedPaths: [...DEFAULT_MASKED_PATHS],
      readonlyPaths: [...DEFAULT_READONLY_PATHS],
    },
  };
}

/**
 * The spec of a Linux container: containerd's default (defaultUnixSpec) with opts applied
 * in order, as containerd's oci.GenerateSpec does. Throws the first option's error.
 */
export async function generateSpec(ctx: SpecContext, opts: readonly SpecOpt[] = []): Promise<Spec> {
  const spec = defaultUnixSpec(ctx);
  await applyOpts(ctx, spec, opts);
  return spec;
}

/** Replaces spec's content with the default spec (containerd's WithDefaultSpec): use first. */
export const withDefaultSpec: SpecOpt = (ctx, spec) => {
  const fresh = defaultUnixSpec(ctx);
  for (const key of Object.keys(spec)) delete (spec as unknown as Record<string, unknown>)[key];
  Object.assign(spec, fresh);
};
