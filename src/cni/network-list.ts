// ADD, DEL and CHECK of one network list, as libcni's AddNetworkList/DelNetworkList/
// CheckNetworkList do: every plugin gets the list's name and cniVersion, ADD chains each
// plugin's result into the next one's prevResult, runtimeConfig carries only the
// capabilities a plugin declares, DEL runs the plugins in reverse with the cached ADD result
// (brought to the list's version, as libcni does).
//
// One deliberate difference: libcni's DEL stops at the first plugin that fails, so a list
// whose last plugin is missing or broken never reaches the IPAM of the first, and the pod's
// address leaks. Here DEL asks every plugin (each DEL must be idempotent by the spec, so a
// retry repeating the ones that worked is harmless) and then reports what failed.

import { isJsonObject, type JsonObject, type NetworkConfigList, type PluginConfig } from './config';
import type { ResultCache } from './cache';
import { execPlugin, findPlugin, type PluginExecLimits } from './exec';
import { CniConfigError, CniPluginFailedError, CniTeardownError } from './errors';
import { parseResult, type CniResult } from './result';
import { convertResult } from './result-convert';
import { capabilityValues, cniArgsString, type RuntimeConf } from './runtime-conf';
import { versionAtLeast } from './version';

export type CniCommand = 'ADD' | 'DEL' | 'CHECK';

/** How plugins are found and run. */
export interface PluginRunner {
  /** Plugin directories, searched in order (CNI_PATH). */
  readonly binDirs: readonly string[];
  readonly limits: PluginExecLimits;
  readonly cache: ResultCache;
}

/** libcni buildOneConfig: the plugin's own config plus name, cniVersion, prevResult and
 * the runtimeConfig of the capabilities it declares. */
export function pluginStdin(list: NetworkConfigList, plugin: PluginConfig, prevResult: JsonObject | undefined, rt: RuntimeConf): Buffer {
  const conf: JsonObject = { ...plugin.raw, name: list.name, cniVersion: list.cniVersion };
  if (prevResult) conf['prevResult'] = prevResult;
  const values = capabilityValues(rt.capabilityArgs);
  const runtimeConfig: JsonObject = {};
  for (const cap of plugin.capabilities) {
    const v = values.get(cap);
    if (v !== undefined) runtimeConfig[cap] = v;
  }
  if (Object.keys(runtimeConfig).length > 0) conf['runtimeConfig'] = runtimeConfig;
  return Buffer.from(JSON.stringify(conf));
}

export function pluginEnv(command: CniCommand, rt: RuntimeConf, binDirs: readonly string[]): Record<string, string> {
  return {
    CNI_COMMAND: command,
    CNI_CONTAINERID: rt.containerId,
    CNI_NETNS: rt.netns,
    CNI_IFNAME: rt.ifName,
    CNI_ARGS: cniArgsString(rt.args),
    CNI_PATH: binDirs.join(':'),
  };
}

async function invoke(runner: PluginRunner, command: CniCommand, list: NetworkConfigList, plugin: PluginConfig, prev: JsonObject | undefined, rt: RuntimeConf): Promise<Buffer> {
  const path = await findPlugin(plugin.type, runner.binDirs);
  return execPlugin(path, pluginEnv(command, rt, runner.binDirs), pluginStdin(list, plugin, prev, rt), runner.limits);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** ADD: the list's plugins in order; the final result is cached and returned. */
export async function addNetworkList(runner: PluginRunner, list: NetworkConfigList, rt: RuntimeConf): Promise<CniResult> {
  let prev: CniResult | undefined;
  for (const plugin of list.plugins) {
    try {
      const out = await invoke(runner, 'ADD', list, plugin, prev?.raw, rt);
      prev = parseResult(out, list.cniVersion);
    } catch (err) {
      throw new CniPluginFailedError(plugin.type, list.name, 'add', asError(err));
    }
  }
  // parseConfList refuses an empty list, so prev is set.
  const result = prev!;
  await runner.cache.set(list.name, list.bytes, rt, result.raw);
  return result;
}

/** DEL: the list's plugins in reverse order, each with the cached ADD result as prevResult
 * (0.4.0 and later). Every plugin is asked even when one fails; the cache entry is dropped
 * only when all succeeded (or failed in a way `tolerate` accepts), so a retried DEL still
 * has it. */
export async function delNetworkList(
  runner: PluginRunner,
  list: NetworkConfigList,
  rt: RuntimeConf,
  tolerate: (err: Error) => boolean = () => false,
): Promise<void> {
  let cached: JsonObject | undefined;
  if (versionAtLeast(list.cniVersion, '0.4.0')) {
    const entry = await runner.cache.get(list.name, rt);
    if (entry) cached = convertResult(entry.result, list.cniVersion);
  }
  const errors: Error[] = [];
  for (let i = list.plugins.length - 1; i >= 0; i--) {
    const plugin = list.plugins[i]!;
    try {
      await invoke(runner, 'DEL', list, plugin, cached, rt);
    } catch (err) {
      const e = asError(err);
      if (!tolerate(e)) errors.push(new CniPluginFailedError(plugin.type, list.name, 'delete', e));
    }
  }
  if (errors.length === 0) {
    await runner.cache.delete(list.name, rt);
    return;
  }
  throw errors.length === 1 ? errors[0]! : new CniTeardownError(errors);
}

/** CHECK: every plugin, in order, against the cached ADD result (spec 0.4.0 and later). */
export async function checkNetworkList(runner: PluginRunner, list: NetworkConfigList, rt: RuntimeConf): Promise<void> {
  if (!versionAtLeast(list.cniVersion, '0.4.0')) {
    throw new CniConfigError(`configuration version ${JSON.stringify(list.cniVersion)} does not support the CHECK command`);
  }
  if (list.disableCheck) return;
  const cached = await runner.cache.get(list.name, rt);
  if (!cached) {
    throw new CniConfigError(`no cached result for network ${JSON.stringify(list.name)} of container ${rt.containerId} (${rt.ifName}): nothing to check`);
  }
  const prev = convertResult(cached.result, list.cniVersion);
  for (const plugin of list.plugins) {
    try {
      await invoke(runner, 'CHECK', list, plugin, prev, rt);
    } catch (err) {
      throw new CniPluginFailedError(plugin.type, list.name, 'check', asError(err));
    }
  }
}

export interface PluginVersionInfo {
  readonly cniVersion: string;
  readonly supportedVersions: readonly string[];
}

/** VERSION: which spec versions a plugin speaks. */
export async function pluginVersionInfo(runner: PluginRunner, type: string): Promise<PluginVersionInfo> {
  const path = await findPlugin(type, runner.binDirs);
  const out = await execPlugin(path, { CNI_COMMAND: 'VERSION', CNI_PATH: runner.binDirs.join(':') }, Buffer.from('{"cniVersion":"1.0.0"}'), runner.limits);
  let v: unknown;
  try {
    v = JSON.parse(out.toString('utf8'));
  } catch (err) {
    throw new CniConfigError(`plugin ${type} gave an unreadable VERSION answer: ${(err as Error).message}`);
  }
  if (!isJsonObject(v) || typeof v['cniVersion'] !== 'string' || !Array.isArray(v['supportedVersions'])) {
    throw new CniConfigError(`plugin ${type} gave an unreadable VERSION answer`);
  }
  return { cniVersion: v['cniVersion'], supportedVersions: v['supportedVersions'].filter((x): x is string => typeof x === 'string') };
}
