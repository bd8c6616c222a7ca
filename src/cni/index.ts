// CNI for pods: network configs from conf_dir, plugins from bin_dir, ADD/DEL/CHECK per
// the CNI spec as libcni and go-cni do it for containerd's CRI.
//
// How the CRI sandbox code uses it (containerd 1.6's RunPodSandbox/StopPodSandbox):
//   const cni = new CniManager({ confDir, binDirs: [binDir], cacheDir: <root>/cni, maxConfNum });
//   run:    ns = await createNetNS(<state>/netns)           (src/netns)
//           result = await cni.setup({ pod, netnsPath: ns.path, capabilityArgs })
//             — a failed setup has already DELed everything (rollback) before it throws;
//           ips = selectPodIPs(result, 'eth0', ipPreference) — undefined: containerd fails
//             with "failed to find network info for sandbox" and tears down;
//           on a later failure of RunPodSandbox: await cni.teardown(req); await ns.remove().
//   stop:   await cni.teardown({ pod, netnsPath: ns.path, capabilityArgs }) — a netns that is
//             gone is fine (DEL with CNI_NETNS=""); then await ns.remove().
//   status: (await cni.status()).ready / .message for NetworkReady; cni.config() and
//           cni.lastLoadStatus() for Status verbose info.

export { CniManager } from './manager';
export type { CniManagerOptions, PodNetworkRequest, NetworkStatus } from './manager';
export type { CniConfigSummary } from './config-summary';
export { gatherPodResult, selectPodIPs } from './pod-result';
export type { PodNetworkResult, PodInterface, PodIPConfig, PodIPs, NetworkResult, IPFamilyPreference } from './pod-result';
export { podCniArgs, capabilityValues, cniArgsString, POD_ANNOTATIONS_CAPABILITY } from './runtime-conf';
export type { PortMapping, BandWidth, DnsCapability, CapabilityArgs, RuntimeConf, PodIdentity } from './runtime-conf';
export type { CniResult, CniInterface, CniIPConfig, CniRoute, CniDNS } from './result';
export { parseResult, parseResultObject } from './result';
export { convertResult } from './result-convert';
export { loadNetworks, confFiles } from './load';
export type { AttachedNetwork, LoadNetworksOptions } from './load';
export { parseConfList, parseConfAsList, loopbackNetwork } from './config';
export type { NetworkConfigList, PluginConfig, JsonObject, JsonValue } from './config';
export { addNetworkList, delNetworkList, checkNetworkList, pluginVersionInfo, pluginStdin, pluginEnv } from './network-list';
export type { PluginRunner, PluginVersionInfo, CniCommand } from './network-list';
export { execPlugin, findPlugin, DEFAULT_EXEC_LIMITS } from './exec';
export type { PluginExecLimits } from './exec';
export { ResultCache } from './cache';
export {
  CniPluginError, CniPluginFailedError, CniPluginNotFoundError, CniPluginExecError, CniConfigError,
  CniNotInitializedError, CniTeardownError, CNI_ERROR_CODES, rollbackErrorOf,
} from './errors';
