// Linux capability names in kernel bit order, as containerd 1.6's pkg/cap knows them
// (up to kernel 5.9, 41 entries): bit n of a capability mask is KNOWN_CAPABILITIES[n].
import * as fs from 'node:fs';
import { UnknownError } from '../errdefs/errors';

export const KNOWN_CAPABILITIES: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The known capability names whose bits are set in mask (bits beyond the list are ignored). */
export function capabilitiesFromMask(mask: bigint): string[] {
  const names: string[] = [];
  for (let bit = 0; bit < 64; bit++) {
    if (((mask >> BigInt(bit)) & 1n) === 1n && bit < KNOWN_CAPABILITIES.length) names.push(KNOWN_CAPABILITIES[bit]);
  }
  return names;
}

/** The effective capabilities of this process, from /proc/self/status CapEff (containerd's cap.Current). */
export function currentCapabilities(): string[] {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  for (const line of status.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.slice(0, colon).trim() !== 'CapEff') continue;
    const hex = line.slice(colon + 1).trim();
    if (!/^[0-9a-fA-F]{1,16}$/.test(hex)) throw new UnknownError(`failed to parse line ${JSON.stringify(line)}`);
    return capabilitiesFromMask(BigInt(`0x${hex}`));
  }
  return [];
}
