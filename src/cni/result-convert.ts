// A cached result brought to the network list's spec version before DEL and CHECK hand it
// to plugins as prevResult, as libcni's getCachedResult does (GetAsVersion): a plugin must
// get prevResult in the version its config names, even when the result was cached by a
// plugin that answered in another one or the config's version changed while the pod ran.
// Shapes: 0.3.x/0.4.0 carry "version": "4"|"6" on each IP, 1.0.0 does not; 0.1.0/0.2.0
// have ip4/ip6 objects instead of interfaces and ips.

import { isJsonObject, type JsonObject, type JsonValue } from './config';
import { versionAtLeast } from './version';

function list(v: JsonValue | undefined): JsonObject[] {
  return Array.isArray(v) ? v.filter(isJsonObject) : [];
}

function isV6(cidr: JsonValue | undefined): boolean {
  return typeof cidr === 'string' && cidr.includes(':');
}

/** The result in the 0.3.0+ shape (interfaces, ips, routes, dns), from either shape. */
function toCurrentShape(r: JsonObject): { interfaces: JsonObject[]; ips: JsonObject[]; routes: JsonObject[]; dns: JsonValue | undefined } {
  const from = typeof r['cniVersion'] === 'string' ? r['cniVersion'] : '';
  if (versionAtLeast(from, '0.3.0')) {
    return { interfaces: list(r['interfaces']), ips: list(r['ips']), routes: list(r['routes']), dns: r['dns'] };
  }
  const ips: JsonObject[] = [];
  const routes: JsonObject[] = [];
  for (const key of ['ip4', 'ip6']) {
    const ipc = r[key];
    if (!isJsonObject(ipc)) continue;
    const ip: JsonObject = { address: ipc['ip'] ?? '' };
    if (typeof ipc['gateway'] === 'string' && ipc['gateway'] !== '') ip['gateway'] = ipc['gateway'];
    ips.push(ip);
    routes.push(...list(ipc['routes']));
  }
  return { interfaces: [], ips, routes, dns: r['dns'] };
}

export function convertResult(result: JsonObject, toVersion: string): JsonObject {
  const from = typeof result['cniVersion'] === 'string' ? result['cniVersion'] : '';
  if (from === toVersion) return result;
  const cur = toCurrentShape(result);
  if (!versionAtLeast(toVersion, '0.3.0')) {
    // libcni's convertTo02x: the first IP of each family, routes by destination family.
    const out: JsonObject = { cniVersion: toVersion };
    for (const [key, v6] of [['ip4', false], ['ip6', true]] as const) {
      const ip = cur.ips.find((x) => isV6(x['address']) === v6);
      if (!ip) continue;
      const entry: JsonObject = { ip: ip['address'] ?? '' };
      if (ip['gateway'] !== undefined) entry['gateway'] = ip['gateway'];
      const routes = cur.routes.filter((rt) => isV6(rt['dst']) === v6);
      if (routes.length > 0) entry['routes'] = routes;
      out[key] = entry;
    }
    if (cur.dns !== undefined) out['dns'] = cur.dns;
    return out;
  }
  const withVersion = !versionAtLeast(toVersion, '1.0.0');
  const ips = cur.ips.map((ip) => {
    const { version: _drop, ...rest } = ip;
    return withVersion ? { version: isV6(ip['address']) ? '6' : '4', ...rest } : rest;
  });
  const out: JsonObject = { cniVersion: toVersion };
  if (cur.interfaces.length > 0) out['interfaces'] = cur.interfaces;
  if (ips.length > 0) out['ips'] = ips;
  if (cur.routes.length > 0) out['routes'] = cur.routes;
  if (cur.dns !== undefined) out['dns'] = cur.dns;
  return out;
}
