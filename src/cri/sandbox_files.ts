// A pod's own files (containerd's setupSandboxFiles / cleanupSandboxFiles): hostname,
// hosts and resolv.conf under the sandbox's root dir, bound into its containers; and a
// /dev/shm tmpfs of 64 MiB per pod under the state dir, shared by the pod's containers
// (unless the pod uses the host's IPC namespace, then it uses the host's /dev/shm).
import { promises as fsp } from 'node:fs';
import * as os from 'node:os';
import type { PodSandboxConfig__Output } from '../generated/types/runtime/v1/PodSandboxConfig';
import { UnknownError } from '../errdefs/errors';
import { isNativeError, MNT_DETACH, mount, MS_NODEV, MS_NOEXEC, MS_NOSUID, umount2 } from '../native';
import type { PodRuntime } from './pod_runtime';
import { sandboxNamespaces } from './sandbox_spec';
import { DEFAULT_SHM_SIZE } from './spec_opts';

/** resolv.conf from a DNSConfig (containerd's parseDNSOptions); '' when it says nothing. */
export function resolvConfContent(servers: readonly string[], searches: readonly string[], options: readonly string[]): string {
  let out = '';
  if (searches.length > 0) out += `search ${searches.join(' ')}\n`;
  if (servers.length > 0) out += `nameserver ${servers.join('\nnameserver ')}\n`;
  if (options.length > 0) out += `options ${options.join(' ')}\n`;
  return out;
}

export async function setupSandboxFiles(rt: PodRuntime, id: string, config: PodSandboxConfig__Output): Promise<void> {
  const hostname = config.hostname !== '' ? config.hostname : os.hostname();
  await fsp.writeFile(rt.sandboxHostnamePath(id), `${hostname}\n`, { mode: 0o644 });
  await fsp.copyFile('/etc/hosts', rt.sandboxHostsPath(id)).catch(async (err: NodeJS.ErrnoException) => {
    // A host without /etc/hosts: the pod gets an empty one rather than none.
    if (err.code !== 'ENOENT') throw new UnknownError(`failed to generate sandbox hosts file "${rt.sandboxHostsPath(id)}": ${err.message}`);
    await fsp.writeFile(rt.sandboxHostsPath(id), '', { mode: 0o644 });
  });
  const dns = config.dns_config;
  const content = dns ? resolvConfContent(dns.servers, dns.searches, dns.options) : '';
  const resolv = rt.sandboxResolvPath(id);
  if (content === '') {
    await fsp.copyFile('/etc/resolv.conf', resolv).catch(async (err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw new UnknownError(`failed to copy host's resolv.conf to "${resolv}": ${err.message}`);
      await fsp.writeFile(resolv, '', { mode: 0o644 });
    });
  } else {
    await fsp.writeFile(resolv, content, { mode: 0o644 });
  }
  if (sandboxNamespaces(config).ipc === 'NODE') {
    await fsp.stat('/dev/shm').catch((err: Error) => {
      throw new UnknownError(`host "/dev/shm" is not available for host ipc: ${err.message}`);
    });
    return;
  }
  const shm = rt.sandboxShmPath(id);
  await fsp.mkdir(shm, { recursive: true, mode: 0o700 });
  try {
    mount('shm', shm, 'tmpfs', MS_NOEXEC | MS_NOSUID | MS_NODEV, `mode=1777,size=${DEFAULT_SHM_SIZE}`);
  } catch (err) {
    throw new UnknownError(`failed to mount sandbox shm: ${(err as Error).message}`);
  }
}

/** Unmount the pod's /dev/shm (files go with the directories on remove). Idempotent. */
export function cleanupSandboxFiles(rt: PodRuntime, id: string, config: PodSandboxConfig__Output): void {
  if (sandboxNamespaces(config).ipc === 'NODE') return;
  const shm = rt.sandboxShmPath(id);
  for (let i = 0; i < 8; i++) {
    try {
      umount2(shm, MNT_DETACH);
    } catch (err) {
      if (isNativeError(err) && (err.code === 'EINVAL' || err.code === 'ENOENT')) return;
      throw new UnknownError(`failed to unmount "${shm}": ${(err as Error).message}`);
    }
  }
}

/** Remove the sandbox's directories (after cleanupSandboxFiles). */
export async function removeSandboxDirs(rt: PodRuntime, id: string): Promise<void> {
  await fsp.rm(rt.sandboxRootDir(id), { recursive: true, force: true });
  await fsp.rm(rt.sandboxStateDir(id), { recursive: true, force: true });
}
