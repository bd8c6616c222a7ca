// CNI network configuration: a network list (.conflist) of plugin configs, or a single
// plugin config (.conf/.json) wrapped into a list of one, parsed as libcni does.

import { CniConfigError } from './errors';
import { DEFAULT_CNI_VERSION } from './version';

export type JsonValue = string | number | boolean | null | JsonValue[] | JsonObject;
export interface JsonObject {
  [key: string]: JsonValue;
}

export function isJsonObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** One plugin of a list: its `type` (the binary's name), the capabilities it declares, and
 * the config object as written (name, cniVersion and runtimeConfig are injected per call). */
export interface PluginConfig {
  readonly type: string;
  /** `capabilities` entries set to true: only these get runtimeConfig values. */
  readonly capabilities: ReadonlySet<string>;
  readonly raw: JsonObject;
}

export interface NetworkConfigList {
  readonly name: string;
  readonly cniVersion: string;
  /** `disableCheck`: CHECK is a no-op for this network. */
  readonly disableCheck: boolean;
  readonly plugins: readonly PluginConfig[];
  /** The list as JSON (what the result cache records as the config ADD ran with). */
  readonly bytes: Buffer;
  /** Where it was read from, for messages (empty for built-in lists). */
  readonly source: string;
}

function parseJsonObject(bytes: Buffer | string, what: string): JsonObject {
  let v: unknown;
  try {
    v = JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch (err) {
    throw new CniConfigError(`error parsing ${what}: ${(err as Error).message}`);
  }
  if (!isJsonObject(v)) throw new CniConfigError(`error parsing ${what}: not a JSON object`);
  return v;
}

/** A plugin config object (a .conf file, or one entry of a list's `plugins`). */
export function pluginFromObject(raw: JsonObject): PluginConfig {
  const type = raw['type'];
  if (typeof type !== 'string' || type === '') throw new CniConfigError("error parsing configuration: missing 'type'");
  // The plugin name becomes a path element (CNI_PATH lookup): no directories in it.
  if (type.includes('/') || type === '.' || type === '..') {
    throw new CniConfigError(`error parsing configuration: invalid plugin type ${JSON.stringify(type)}`);
  }
  const capabilities = new Set<string>();
  const caps = raw['capabilities'];
  if (caps !== undefined) {
    if (!isJsonObject(caps)) throw new CniConfigError("error parsing configuration: 'capabilities' is not an object");
    for (const [name, on] of Object.entries(caps)) if (on === true) capabilities.add(name);
  }
  return { type, capabilities, raw };
}

function stringField(obj: JsonObject, key: string, what: string): string | undefined {
  const v = obj[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'string') throw new CniConfigError(`error parsing ${what}: invalid ${key} type ${typeof v}`);
  return v;
}

/** The network name names the result cache file (<network>-<container>-<ifname>): no
 * directories in it, refused at load rather than after ADD has run every plugin. */
function checkNetworkName(name: string, what: string): void {
  if (name.includes('/') || name.includes('\0') || name === '.' || name === '..') {
    throw new CniConfigError(`error parsing ${what}: invalid network name ${JSON.stringify(name)}`);
  }
}

/** libcni ConfListFromBytes. */
export function parseConfList(bytes: Buffer, source = ''): NetworkConfigList {
  const what = 'configuration list';
  const obj = parseJsonObject(bytes, what);
  const name = stringField(obj, 'name', what);
  if (name === undefined) throw new CniConfigError(`error parsing ${what}: no name`);
  checkNetworkName(name, what);
  const cniVersion = stringField(obj, 'cniVersion', what) ?? DEFAULT_CNI_VERSION;
  let disableCheck = false;
  const dc = obj['disableCheck'];
  if (dc !== undefined) {
    if (typeof dc === 'boolean') disableCheck = dc;
    else if (dc === 'true' || dc === 'false') disableCheck = dc === 'true';
    else throw new CniConfigError(`error parsing ${what}: invalid disableCheck value ${JSON.stringify(dc)}`);
  }
  const rawPlugins = obj['plugins'];
  if (rawPlugins === undefined) throw new CniConfigError(`error parsing ${what}: no 'plugins' key`);
  if (!Array.isArray(rawPlugins)) throw new CniConfigError(`error parsing ${what}: invalid 'plugins' type ${typeof rawPlugins}`);
  if (rawPlugins.length === 0) throw new CniConfigError(`error parsing ${what}: no plugins in list`);
  const plugins = rawPlugins.map((p, i) => {
    if (!isJsonObject(p)) throw new CniConfigError(`failed to parse plugin config ${i}: not a JSON object`);
    try {
      return pluginFromObject(p);
    } catch (err) {
      throw new CniConfigError(`failed to parse plugin config ${i}: ${(err as Error).message}`);
    }
  });
  return { name, cniVersion, disableCheck, plugins, bytes, source };
}

/** libcni ConfFromBytes + ConfListFromConf: a single plugin config as a list of one, the
 * list taking the plugin's name and cniVersion. */
export function parseConfAsList(bytes: Buffer, source = ''): NetworkConfigList {
  const obj = parseJsonObject(bytes, 'configuration');
  const plugin = pluginFromObject(obj);
  const name = stringField(obj, 'name', 'configuration') ?? '';
  checkNetworkName(name, 'configuration');
  const cniVersion = stringField(obj, 'cniVersion', 'configuration') ?? DEFAULT_CNI_VERSION;
  const listBytes = Buffer.from(JSON.stringify({ cniVersion, name, plugins: [obj] }));
  return { name, cniVersion, disableCheck: false, plugins: [plugin], bytes: listBytes, source };
}

/** The loopback network containerd's CRI attaches to every pod first (go-cni's
 * WithLoNetwork: "cni-loopback", version 0.3.1, plugin type loopback, interface lo). */
export function loopbackNetwork(): NetworkConfigList {
  const bytes = Buffer.from('{"cniVersion":"0.3.1","name":"cni-loopback","plugins":[{"type":"loopback"}]}');
  return parseConfList(bytes);
}
