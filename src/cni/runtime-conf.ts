// What a CNI call knows about the pod besides the network config: the container ID, the
// netns path, the interface name, CNI_ARGS, and the capability arguments that reach the
// plugins declaring them as runtimeConfig (libcni's RuntimeConf).

import type { JsonObject, JsonValue } from './config';

/** `portMappings` capability entry (go-cni's PortMapping JSON). */
export interface PortMapping {
  readonly hostPort: number;
  readonly containerPort: number;
  /** Lower case: "tcp", "udp", "sctp" (containerd lowercases the CRI protocol). */
  readonly protocol: string;
  /** Empty: all host addresses. */
  readonly hostIP: string;
}

/** `bandwidth` capability (bits per second and bits of burst). */
export interface BandWidth {
  readonly ingressRate: number;
  readonly ingressBurst: number;
  readonly egressRate: number;
  readonly egressBurst: number;
}

/** `dns` capability. */
export interface DnsCapability {
  readonly servers: readonly string[];
  readonly searches: readonly string[];
  readonly options: readonly string[];
}

export interface CapabilityArgs {
  readonly portMappings?: readonly PortMapping[];
  readonly bandwidth?: BandWidth;
  readonly dns?: DnsCapability;
  /** `ips`: addresses the pod asks for (CIDR or plain). */
  readonly ips?: readonly string[];
  /** The pod's annotations, for plugins declaring the "io.kubernetes.cri.pod-annotations"
   * capability (containerd's CRI always offers them). */
  readonly podAnnotations?: Readonly<Record<string, string>>;
  /** Any other capability, passed through by name. */
  readonly other?: Readonly<Record<string, JsonValue>>;
}

/** containerd's annotations.PodAnnotations capability name. */
export const POD_ANNOTATIONS_CAPABILITY = 'io.kubernetes.cri.pod-annotations';

/** The capability args as the JSON values libcni would inject, by capability name. */
export function capabilityValues(args: CapabilityArgs): Map<string, JsonValue> {
  const out = new Map<string, JsonValue>();
  for (const [k, v] of Object.entries(args.other ?? {})) out.set(k, v);
  if (args.portMappings) {
    out.set(
      'portMappings',
      args.portMappings.map((p): JsonObject => ({ hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol, hostIP: p.hostIP })),
    );
  }
  if (args.bandwidth) {
    const b = args.bandwidth;
    out.set('bandwidth', { ingressRate: b.ingressRate, ingressBurst: b.ingressBurst, egressRate: b.egressRate, egressBurst: b.egressBurst });
  }
  if (args.dns) out.set('dns', { servers: [...args.dns.servers], searches: [...args.dns.searches], options: [...args.dns.options] });
  if (args.ips) out.set('ips', [...args.ips]);
  if (args.podAnnotations) out.set(POD_ANNOTATIONS_CAPABILITY, { ...args.podAnnotations });
  return out;
}

export interface RuntimeConf {
  readonly containerId: string;
  /** The netns path; '' when the netns is gone (allowed for DEL only, by the spec). */
  readonly netns: string;
  readonly ifName: string;
  /** CNI_ARGS as key/value pairs, joined "k=v;k=v" in this order. */
  readonly args: readonly (readonly [string, string])[];
  readonly capabilityArgs: CapabilityArgs;
}

/** The pod a sandbox's networks are set up for. */
export interface PodIdentity {
  readonly namespace: string;
  readonly name: string;
  readonly uid: string;
  /** The sandbox (pause container) ID: CNI_CONTAINERID and K8S_POD_INFRA_CONTAINER_ID. */
  readonly sandboxId: string;
}

/** CNI_ARGS as containerd's CRI sets them (toCNILabels): IgnoreUnknown=1 so plugins that do
 * not know the K8S_* keys accept them, then the pod's identity. */
export function podCniArgs(pod: PodIdentity): [string, string][] {
  return [
    ['IgnoreUnknown', '1'],
    ['K8S_POD_NAMESPACE', pod.namespace],
    ['K8S_POD_NAME', pod.name],
    ['K8S_POD_INFRA_CONTAINER_ID', pod.sandboxId],
    ['K8S_POD_UID', pod.uid],
  ];
}

export function cniArgsString(args: RuntimeConf['args']): string {
  return args.map(([k, v]) => `${k}=${v}`).join(';');
}
