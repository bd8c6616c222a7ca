// What CNI is told about a pod (containerd's cniNamespaceOpts, toCNILabels,
// toCNIPortMappings, toCNIDNS, selectPodIPs).
import { isIPv4 } from 'node:net';
import type { PodSandboxConfig__Output } from '../generated/types/runtime/v1/PodSandboxConfig';
import type { PodNetworkOptions } from './pod_deps';

export function podNetworkOptions(id: string, config: PodSandboxConfig__Output): PodNetworkOptions {
  const md = config.metadata;
  const opts: PodNetworkOptions = {
    labels: {
      K8S_POD_NAMESPACE: md?.namespace ?? '',
      K8S_POD_NAME: md?.name ?? '',
      K8S_POD_INFRA_CONTAINER_ID: id,
      K8S_POD_UID: md?.uid ?? '',
      IgnoreUnknown: '1',
    },
    portMappings: config.port_mappings
      .filter((p) => p.host_port > 0)
      .map((p) => ({ hostPort: p.host_port, containerPort: p.container_port, protocol: String(p.protocol).toLowerCase(), hostIP: p.host_ip })),
    annotations: { ...config.annotations },
  };
  const dns = config.dns_config;
  if (dns) opts.dns = { servers: [...dns.servers], searches: [...dns.searches], options: [...dns.options] };
  return opts;
}

/** The pod IP and the others (containerd's default preference: the first IPv4 leads). */
export function selectPodIps(ips: readonly string[]): { ip: string; additional: string[] } {
  const bare = ips.map((a) => a.replace(/\/\d+$/, ''));
  const v4 = bare.findIndex((a) => isIPv4(a));
  const first = v4 >= 0 ? v4 : 0;
  if (bare.length === 0) return { ip: '', additional: [] };
  return { ip: bare[first] as string, additional: bare.filter((_, i) => i !== first) };
}
