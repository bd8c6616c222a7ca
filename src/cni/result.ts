// A plugin's ADD result, read as libcni reads it: the 0.3.x/0.4.0/1.0.0 shape (interfaces,
// ips with an interface index, routes, dns) and the old 0.1.0/0.2.0 shape (ip4, ip6)
// brought into the same model. The raw JSON is kept: it is what the next plugin of the
// list gets as prevResult, and what the cache keeps for DEL and CHECK.

import { isJsonObject, type JsonObject, type JsonValue } from './config';
import { CniPluginError, CNI_ERROR_CODES } from './errors';
import { versionAtLeast } from './version';

export interface CniInterface {
  readonly name: string;
  readonly mac: string;
  /** The netns path for an interface inside the pod; empty for a host-side one. */
  readonly sandbox: string;
  readonly mtu?: number;
}

export interface CniIPConfig {
  /** CIDR notation, e.g. "10.88.0.2/16". */
  readonly address: string;
  readonly gateway: string;
  /** Index into interfaces; undefined when the result does not say. */
  readonly interface?: number;
}

export interface CniRoute {
  readonly dst: string;
  readonly gw: string;
}

export interface CniDNS {
  readonly nameservers: readonly string[];
  readonly domain: string;
  readonly search: readonly string[];
  readonly options: readonly string[];
}

export interface CniResult {
  readonly cniVersion: string;
  readonly interfaces: readonly CniInterface[];
  readonly ips: readonly CniIPConfig[];
  readonly routes: readonly CniRoute[];
  readonly dns: CniDNS;
  readonly raw: JsonObject;
}

function decodeError(what: string): CniPluginError {
  return new CniPluginError(CNI_ERROR_CODES.decodeFailure, 'failed to decode result', what);
}

function str(v: JsonValue | undefined, what: string): string {
  if (v === undefined || v === null) return '';
  if (typeof v !== 'string') throw decodeError(`${what} is not a string`);
  return v;
}

function strList(v: JsonValue | undefined, what: string): string[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw decodeError(`${what} is not a list`);
  return v.map((x, i) => str(x, `${what}[${i}]`));
}

function objList(v: JsonValue | undefined, what: string): JsonObject[] {
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw decodeError(`${what} is not a list`);
  return v.map((x, i) => {
    if (!isJsonObject(x)) throw decodeError(`${what}[${i}] is not an object`);
    return x;
  });
}

function parseRoutes(v: JsonValue | undefined, what: string): CniRoute[] {
  return objList(v, what).map((r, i) => ({ dst: str(r['dst'], `${what}[${i}].dst`), gw: str(r['gw'], `${what}[${i}].gw`) }));
}

function parseDNS(v: JsonValue | undefined): CniDNS {
  if (v === undefined || v === null) return { nameservers: [], domain: '', search: [], options: [] };
  if (!isJsonObject(v)) throw decodeError('dns is not an object');
  return {
    nameservers: strList(v['nameservers'], 'dns.nameservers'),
    domain: str(v['domain'], 'dns.domain'),
    search: strList(v['search'], 'dns.search'),
    options: strList(v['options'], 'dns.options'),
  };
}

/** Parses a result object; `confVersion` is used when the result names no version. */
export function parseResultObject(obj: JsonObject, confVersion: string): CniResult {
  const cniVersion = str(obj['cniVersion'], 'cniVersion') || confVersion;
  const dns = parseDNS(obj['dns']);
  if (!versionAtLeast(cniVersion, '0.3.0')) {
    // 0.1.0/0.2.0: {"ip4": {"ip", "gateway", "routes"}, "ip6": {...}}, no interfaces.
    const ips: CniIPConfig[] = [];
    const routes: CniRoute[] = [];
    for (const key of ['ip4', 'ip6']) {
      const v = obj[key];
      if (v === undefined || v === null) continue;
      if (!isJsonObject(v)) throw decodeError(`${key} is not an object`);
      ips.push({ address: str(v['ip'], `${key}.ip`), gateway: str(v['gateway'], `${key}.gateway`) });
      routes.push(...parseRoutes(v['routes'], `${key}.routes`));
    }
    return { cniVersion, interfaces: [], ips, routes, dns, raw: obj };
  }
  const interfaces = objList(obj['interfaces'], 'interfaces').map((x, i): CniInterface => {
    const mtu = x['mtu'];
    return {
      name: str(x['name'], `interfaces[${i}].name`),
      mac: str(x['mac'], `interfaces[${i}].mac`),
      sandbox: str(x['sandbox'], `interfaces[${i}].sandbox`),
      ...(typeof mtu === 'number' ? { mtu } : {}),
    };
  });
  const ips = objList(obj['ips'], 'ips').map((x, i): CniIPConfig => {
    const idx = x['interface'];
    if (idx !== undefined && idx !== null && (typeof idx !== 'number' || !Number.isInteger(idx) || idx < 0)) {
      throw decodeError(`ips[${i}].interface is not an index`);
    }
    return {
      address: str(x['address'], `ips[${i}].address`),
      gateway: str(x['gateway'], `ips[${i}].gateway`),
      ...(typeof idx === 'number' ? { interface: idx } : {}),
    };
  });
  return { cniVersion, interfaces, ips, routes: parseRoutes(obj['routes'], 'routes'), dns, raw: obj };
}

/** Parses a plugin's stdout. */
export function parseResult(stdout: Buffer, confVersion: string): CniResult {
  let v: unknown;
  try {
    v = JSON.parse(stdout.toString('utf8'));
  } catch (err) {
    throw decodeError((err as Error).message);
  }
  if (!isJsonObject(v)) throw decodeError('result is not a JSON object');
  return parseResultObject(v, confVersion);
}
