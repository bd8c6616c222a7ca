// The loaded network configuration as containerd's CRI shows it in Status verbose info
// ("cniconfig": go-cni's GetConfig() marshalled by Go): Go field names, each plugin as
// libcni's types.NetConf (cniVersion, name, type, capabilities, ipam.type, dns) plus its
// source text.

import type { JsonObject, JsonValue, NetworkConfigList, PluginConfig } from './config';
import { isJsonObject } from './config';
import type { AttachedNetwork } from './load';

export interface CniConfigSummary {
  PluginDirs: string[];
  PluginConfDir: string;
  PluginMaxConfNum: number;
  Prefix: string;
  Networks: { Config: { Name: string; CNIVersion: string; Plugins: { Network: JsonObject; Source: string }[]; Source: string }; IFName: string }[];
}

/** JSON with object keys sorted, as Go's json.Marshal writes a map. */
function goJson(v: JsonValue): string {
  if (Array.isArray(v)) return `[${v.map(goJson).join(',')}]`;
  if (isJsonObject(v)) {
    return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${goJson(v[k]!)}`).join(',')}}`;
  }
  return JSON.stringify(v);
}

function netConf(p: PluginConfig): JsonObject {
  const raw = p.raw;
  const out: JsonObject = {};
  if (typeof raw['cniVersion'] === 'string' && raw['cniVersion'] !== '') out['cniVersion'] = raw['cniVersion'];
  if (typeof raw['name'] === 'string' && raw['name'] !== '') out['name'] = raw['name'];
  out['type'] = p.type;
  const caps = raw['capabilities'];
  if (isJsonObject(caps) && Object.keys(caps).length > 0) out['capabilities'] = caps;
  const ipam = raw['ipam'];
  if (isJsonObject(ipam) && typeof ipam['type'] === 'string' && ipam['type'] !== '') out['ipam'] = { type: ipam['type'] };
  else out['ipam'] = {};
  const dns = raw['dns'];
  const d: JsonObject = {};
  if (isJsonObject(dns)) for (const k of ['nameservers', 'domain', 'search', 'options']) if (dns[k] !== undefined) d[k] = dns[k]!;
  out['dns'] = d;
  return out;
}

function listSummary(list: NetworkConfigList): CniConfigSummary['Networks'][number]['Config'] {
  return {
    Name: list.name,
    CNIVersion: list.cniVersion,
    Plugins: list.plugins.map((p) => ({ Network: netConf(p), Source: goJson(p.raw) })),
    Source: list.bytes.toString('utf8'),
  };
}

export function summarizeConfig(
  networks: readonly AttachedNetwork[],
  opts: { binDirs: readonly string[]; confDir: string; maxConfNum: number; prefix: string },
): CniConfigSummary {
  return {
    PluginDirs: [...opts.binDirs],
    PluginConfDir: opts.confDir,
    PluginMaxConfNum: opts.maxConfNum,
    Prefix: opts.prefix,
    Networks: networks.map((n) => ({ Config: listSummary(n.config), IFName: n.ifName })),
  };
}
