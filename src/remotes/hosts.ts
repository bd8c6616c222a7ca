// Registry host routing as containerd 1.6's remotes/docker/config does it: for a registry
// name in a reference ("docker.io", "registry.k8s.io", "127.0.0.1:5000"), the endpoints
// to try in order. Without configuration that is the registry itself over https
// (docker.io → registry-1.docker.io; plain http for localhost / loopback addresses, or
// for every host with `plainHttp`). With a config_path, `<config_path>/<host>/hosts.toml`
// (or `<config_path>/_default/hosts.toml`) lists mirrors first and the `server` last:
//
//   server = "https://registry.k8s.io"
//   [host."http://127.0.0.1:5000"]
//     capabilities = ["pull", "resolve"]
//     skip_verify = true
//     override_path = false
//     ca = "ca.crt"                      # relative to the host's directory
//     [host."http://127.0.0.1:5000".header]
//       x-custom = "1"

import * as fs from 'node:fs';
import * as path from 'node:path';
import * as net from 'node:net';
import { parse as parseToml, TomlError } from 'smol-toml';
import { InvalidArgumentError } from '../errdefs/errors';

export type HostCapability = 'pull' | 'resolve' | 'push';

/** One endpoint to try for a registry. */
export interface RegistryHost {
  /** "https" or "http". */
  scheme: 'http' | 'https';
  /** host[:port] to connect to. */
  host: string;
  /** API root path: "/v2" unless override_path. */
  path: string;
  capabilities: ReadonlySet<HostCapability>;
  /** TLS: do not verify the server's certificate (hosts.toml skip_verify). */
  skipVerify?: boolean;
  /** TLS: extra CA certificate files. */
  caFiles?: string[];
  /** TLS: client certificate and key files ([cert, key]; key '' = in the cert file). */
  clientPairs?: Array<[string, string]>;
  /** Extra headers for every request to this host. */
  header?: Record<string, string[]>;
}

export interface HostsOptions {
  /** containerd's `config_path`: a directory of `<host>/hosts.toml`. Unset: defaults only. */
  configPath?: string;
  /** Plain HTTP for the default endpoint of every registry (ctr --plain-http). */
  plainHttp?: boolean;
  /** Skip TLS verification for the default endpoint (ctr --skip-verify). */
  skipVerify?: boolean;
}

const ALL_CAPABILITIES: ReadonlySet<HostCapability> = new Set(['pull', 'resolve', 'push']);

/** localhost, *.localhost and loopback IPs (with or without a port): containerd talks plain HTTP to them. */
export function isLocalhost(host: string): boolean {
  let h = host;
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    h = end === -1 ? h : h.slice(1, end);
  } else if (h.lastIndexOf(':') !== -1 && h.indexOf(':') === h.lastIndexOf(':')) {
    h = h.slice(0, h.lastIndexOf(':'));
  }
  if (h === 'localhost' || h.endsWith('.localhost')) return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1';
  return false;
}

/** The directories containerd looks in for a registry's hosts.toml, in order. */
export function hostDirectories(configPath: string, registry: string): string[] {
  const dirs: string[] = [];
  // containerd also accepts "host_port_" for "host:port" (a name Windows can hold).
  const colon = registry.lastIndexOf(':');
  if (colon > 0 && !registry.endsWith(']')) dirs.push(path.join(configPath, `${registry.slice(0, colon)}_${registry.slice(colon + 1)}_`));
  dirs.push(path.join(configPath, registry), path.join(configPath, '_default'));
  return dirs;
}

function invalid(file: string, why: string): InvalidArgumentError {
  return new InvalidArgumentError(`${file}: ${why}`);
}

function stringList(v: unknown, file: string, field: string): string[] {
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw invalid(file, `"${field}" must be a string or a list of strings`);
}

function absolute(p: string, base: string): string {
  return path.isAbsolute(p) ? p : path.join(base, p);
}

/** An endpoint without a host yet: the `server` entry may leave it to the default. */
type PartialHost = Omit<RegistryHost, 'host' | 'scheme' | 'path'> & { host?: string; scheme?: 'http' | 'https'; path?: string };

function parseHostEntry(server: string | undefined, table: Record<string, unknown>, dir: string, file: string): PartialHost {
  const out: PartialHost = { capabilities: ALL_CAPABILITIES };
  const overridePath = table.override_path;
  if (overridePath !== undefined && typeof overridePath !== 'boolean') throw invalid(file, '"override_path" must be a boolean');
  if (server !== undefined && server !== '') {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(server) && !/^https?:\/\//i.test(server)) {
      throw invalid(file, `server ${JSON.stringify(server)}: scheme must be http or https`);
    }
    const withScheme = /^https?:\/\//i.test(server) ? server : `https://${server}`;
    let u: URL;
    try {
      u = new URL(withScheme);
    } catch {
      throw invalid(file, `unable to parse server ${JSON.stringify(server)}`);
    }
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw invalid(file, `server ${JSON.stringify(server)}: scheme must be http or https`);
    out.scheme = u.protocol === 'http:' ? 'http' : 'https';
    out.host = u.host;
    let p = u.pathname === '/' ? '' : path.posix.normalize(u.pathname).replace(/\/$/, '');
    if (p.length > 0) {
      if (!p.endsWith('/v2') && overridePath !== true) p += '/v2';
    } else if (overridePath !== true) {
      p = '/v2';
    }
    out.path = p;
  }
  if (table.capabilities !== undefined) {
    const caps = new Set<HostCapability>();
    for (const c of stringList(table.capabilities, file, 'capabilities')) {
      const lc = c.toLowerCase();
      if (lc !== 'pull' && lc !== 'resolve' && lc !== 'push') throw invalid(file, `unknown capability ${c}`);
      caps.add(lc);
    }
    if (caps.size > 0) out.capabilities = caps;
  }
  if (table.skip_verify !== undefined) {
    if (typeof table.skip_verify !== 'boolean') throw invalid(file, '"skip_verify" must be a boolean');
    out.skipVerify = table.skip_verify;
  }
  if (table.ca !== undefined) out.caFiles = stringList(table.ca, file, 'ca').map((p) => absolute(p, dir));
  if (table.client !== undefined) {
    const c = table.client;
    const pairs: Array<[string, string]> = [];
    const items: unknown[] = typeof c === 'string' ? [c] : Array.isArray(c) ? c : [];
    if (typeof c !== 'string' && !Array.isArray(c)) throw invalid(file, '"client" must be a string, a list of strings or a list of [cert, key] pairs');
    for (const item of items) {
      if (typeof item === 'string') pairs.push([absolute(item, dir), '']);
      else if (Array.isArray(item) && item.length === 2 && item.every((s) => typeof s === 'string')) {
        pairs.push([absolute(item[0] as string, dir), absolute(item[1] as string, dir)]);
      } else throw invalid(file, `invalid pair ${JSON.stringify(item)} for "client"`);
    }
    out.clientPairs = pairs;
  }
  if (table.header !== undefined) {
    if (typeof table.header !== 'object' || table.header === null || Array.isArray(table.header)) throw invalid(file, '"header" must be a table');
    const header: Record<string, string[]> = {};
    for (const [k, v] of Object.entries(table.header as Record<string, unknown>)) header[k] = stringList(v, file, `header.${k}`);
    out.header = header;
  }
  return out;
}

/**
 * Parse a hosts.toml's text (containerd's parseHostsFile): the `[host."…"]` entries in file
 * order, then the top-level (`server`) entry last. `dir` anchors relative cert paths.
 * Throws InvalidArgumentError naming the file and field. One deliberate difference:
 * containerd 1.6.20 refuses a file without any `[host]` table ("invalid `host` tree", and
 * falls back to certs.d files), a bug later releases fixed; here `server` alone works.
 */
export function parseHostsToml(text: string, dir: string, file = path.join(dir, 'hosts.toml')): PartialHost[] {
  let doc: Record<string, unknown>;
  try {
    doc = parseToml(text) as Record<string, unknown>;
  } catch (err) {
    const msg = err instanceof TomlError ? err.message.split('\n')[0] : String(err);
    throw invalid(file, `failed to parse TOML: ${msg}`);
  }
  if (doc.server !== undefined && typeof doc.server !== 'string') throw invalid(file, '"server" must be a string');
  const hosts: PartialHost[] = [];
  const table = doc.host;
  if (table !== undefined) {
    if (typeof table !== 'object' || table === null || Array.isArray(table)) throw invalid(file, 'invalid `host` tree');
    // smol-toml keeps keys in the order the file defines them: containerd sorts by line.
    for (const [url, entry] of Object.entries(table as Record<string, unknown>)) {
      if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) throw invalid(file, `host ${JSON.stringify(url)} must be a table`);
      if (url === '') throw invalid(file, 'host with an empty URL');
      hosts.push(parseHostEntry(url, entry as Record<string, unknown>, dir, file));
    }
  }
  hosts.push(parseHostEntry(doc.server as string | undefined, doc, dir, file));
  return hosts;
}

/** A host directory without hosts.toml: docker's certs.d layout (*.crt CAs, *.cert/*.key pairs). */
function loadCertFiles(dir: string): PartialHost[] {
  const host: PartialHost = { capabilities: ALL_CAPABILITIES };
  let names: string[] = [];
  try {
    names = fs.readdirSync(dir);
  } catch {
    names = [];
  }
  for (const name of names.sort()) {
    if (name.endsWith('.crt')) (host.caFiles ??= []).push(path.join(dir, name));
    if (name.endsWith('.cert')) {
      const key = path.join(dir, `${name.slice(0, -'.cert'.length)}.key`);
      (host.clientPairs ??= []).push([path.join(dir, name), fs.existsSync(key) ? key : '']);
    }
  }
  return [host];
}

/**
 * The endpoints for a registry, in the order to try them (containerd's ConfigureHosts):
 * configured mirrors first, then the server, which is the registry itself unless hosts.toml
 * names another `server`.
 */
export function registryHosts(registry: string, opts: HostsOptions = {}): RegistryHost[] {
  let partial: PartialHost[] | undefined;
  if (opts.configPath) {
    for (const dir of hostDirectories(opts.configPath, registry)) {
      if (!fs.existsSync(dir)) continue;
      const file = path.join(dir, 'hosts.toml');
      let text = '';
      try {
        text = fs.readFileSync(file, 'utf8');
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw invalid(file, (err as Error).message);
      }
      partial = text.trim() === '' ? loadCertFiles(dir) : parseHostsToml(text, dir, file);
      break;
    }
  }
  partial ??= [{ capabilities: ALL_CAPABILITIES }];
  const last = partial[partial.length - 1];
  if (last && last.host === undefined) {
    // The default endpoint: the registry itself.
    if (registry === 'docker.io') {
      last.scheme = 'https';
      last.host = 'registry-1.docker.io';
    } else {
      last.host = registry;
      last.scheme = opts.plainHttp || isLocalhost(registry) ? 'http' : 'https';
    }
    last.path = '/v2';
    last.capabilities = ALL_CAPABILITIES;
    if (opts.skipVerify && last.skipVerify === undefined) last.skipVerify = true;
  }
  return partial.map((h) => ({ ...h, scheme: h.scheme ?? 'https', host: h.host ?? registry, path: h.path ?? '/v2' }));
}

/** "https://host/v2". */
export function hostBaseUrl(h: RegistryHost): string {
  return `${h.scheme}://${h.host}${h.path}`;
}
