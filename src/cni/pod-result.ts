// What a pod's network setup produced, gathered across its networks as go-cni does
// (createResult): every interface by name, each IP attached to the interface its result
// names (or to the default interface, eth0, when it names none), DNS and routes of every
// network; and the pod's IPs picked from eth0 as containerd's CRI does (selectPodIPs).

import { CniPluginError, CNI_ERROR_CODES } from './errors';
import type { CniDNS, CniResult, CniRoute } from './result';

export interface PodIPConfig {
  /** The address without its prefix length ("10.88.0.5"). */
  readonly ip: string;
  /** As the result gave it, with prefix length ("10.88.0.5/24"). */
  readonly cidr: string;
  readonly gateway: string;
}

export interface PodInterface {
  readonly mac: string;
  /** The netns path for an interface in the pod; empty for one on the host side. */
  readonly sandbox: string;
  readonly ipConfigs: PodIPConfig[];
}

export interface NetworkResult {
  /** The network list's name. */
  readonly network: string;
  readonly ifName: string;
  readonly result: CniResult;
}

export interface PodNetworkResult {
  readonly interfaces: ReadonlyMap<string, PodInterface>;
  readonly dns: readonly CniDNS[];
  readonly routes: readonly CniRoute[];
  /** Each network's own result, in setup order. */
  readonly results: readonly NetworkResult[];
}

/** go-cni createResult. */
export function gatherPodResult(results: readonly NetworkResult[], defaultIfName = 'eth0'): PodNetworkResult {
  const interfaces = new Map<string, PodInterface>();
  interfaces.set(defaultIfName, { mac: '', sandbox: '', ipConfigs: [] });
  const dns: CniDNS[] = [];
  const routes: CniRoute[] = [];
  for (const { result } of results) {
    for (const intf of result.interfaces) interfaces.set(intf.name, { mac: intf.mac, sandbox: intf.sandbox, ipConfigs: [] });
    for (const ipc of result.ips) {
      let name = defaultIfName;
      if (ipc.interface !== undefined) {
        const intf = result.interfaces[ipc.interface];
        if (!intf) {
          throw new CniPluginError(
            CNI_ERROR_CODES.decodeFailure,
            'invalid interface config',
            `interface number ${ipc.interface} is outside the range [0, ${result.interfaces.length})`,
          );
        }
        name = intf.name;
      }
      const slash = ipc.address.indexOf('/');
      interfaces.get(name)!.ipConfigs.push({ ip: slash < 0 ? ipc.address : ipc.address.slice(0, slash), cidr: ipc.address, gateway: ipc.gateway });
    }
    dns.push(result.dns);
    routes.push(...result.routes);
  }
  return { interfaces, dns, routes, results };
}

export type IPFamilyPreference = 'ipv4' | 'ipv6' | 'cni';

export interface PodIPs {
  readonly ip: string;
  readonly additionalIps: readonly string[];
}

/** containerd's selectPodIPs over the IPs of ifName: the first IPv4 (or IPv6, with
 * preference 'ipv6'; or the first of any family with 'cni') is the pod IP, the others
 * follow in order. Undefined when the interface has no IP (containerd: "failed to find
 * network info for sandbox"). */
export function selectPodIPs(result: PodNetworkResult, ifName = 'eth0', preference: IPFamilyPreference = 'ipv4'): PodIPs | undefined {
  const ips = (result.interfaces.get(ifName)?.ipConfigs ?? []).map((c) => c.ip);
  if (ips.length === 0) return undefined;
  const isV6 = (ip: string): boolean => ip.includes(':');
  let primary = 0;
  if (preference !== 'cni') {
    const found = ips.findIndex((ip) => isV6(ip) === (preference === 'ipv6'));
    if (found >= 0) primary = found;
  }
  return { ip: ips[primary]!, additionalIps: ips.filter((_, i) => i !== primary) };
}
