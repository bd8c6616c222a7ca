// Which networks a pod is attached to: loopback first (containerd's CRI always adds it),
// then the network configs of conf_dir, chosen as go-cni does: files ending in .conf,
// .conflist or .json in byte-wise lexical order, the first `maxConfNum` of them, a
// .conflist read as a list and anything else as a single plugin wrapped in a list.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isNativeError } from '../native';
import { loopbackNetwork, parseConfAsList, parseConfList, type NetworkConfigList } from './config';
import { CniConfigError, CniNotInitializedError } from './errors';

export const CONF_EXTENSIONS: readonly string[] = ['.conf', '.conflist', '.json'];

/** A network list and the interface name it gets in the pod. */
export interface AttachedNetwork {
  readonly config: NetworkConfigList;
  readonly ifName: string;
}

export interface LoadNetworksOptions {
  /** How many config files to use (containerd's max_conf_num, default 1; <= 0: all). */
  maxConfNum?: number;
  /** Interface name prefix for the configured networks: eth0, eth1… (go-cni's "eth"). */
  ifPrefix?: string;
  /** Attach the loopback network first (default true, as containerd's CRI). */
  loopback?: boolean;
}

/** A config file bigger than this is refused rather than read into memory. */
const MAX_CONF_BYTES = 1 << 20;

function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot < 0 ? '' : name.slice(dot);
}

/** libcni ConfFiles: the candidate files of dir, byte-wise sorted (Go's sort.Strings). */
export async function confFiles(dir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if (isNativeError(err, 'ENOENT')) return [];
    throw new CniConfigError(`failed to read CNI config dir ${dir}: ${(err as Error).message}`);
  }
  const names = entries
    .filter((e) => !e.isDirectory() && CONF_EXTENSIONS.includes(extensionOf(e.name)))
    .map((e) => e.name);
  names.sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  return names.map((n) => join(dir, n));
}

async function readConf(file: string): Promise<Buffer> {
  const bytes = await readFile(file);
  if (bytes.length > MAX_CONF_BYTES) throw new CniConfigError(`CNI config file ${file} is larger than ${MAX_CONF_BYTES} bytes`);
  return bytes;
}

/** Loads the networks a pod gets. Throws CniNotInitializedError when conf_dir holds no
 * config, CniConfigError when the first file(s) cannot be parsed (go-cni does not skip
 * a broken file: a typo must not silently attach pods to another network). */
export async function loadNetworks(confDir: string, opts: LoadNetworksOptions = {}): Promise<AttachedNetwork[]> {
  const max = opts.maxConfNum ?? 1;
  const prefix = opts.ifPrefix ?? 'eth';
  const files = await confFiles(confDir);
  if (files.length === 0) throw new CniNotInitializedError(`no network config found in ${confDir}`);
  const networks: AttachedNetwork[] = [];
  if (opts.loopback ?? true) networks.push({ config: loopbackNetwork(), ifName: 'lo' });
  let i = 0;
  for (const file of files) {
    let config: NetworkConfigList;
    if (file.endsWith('.conflist')) {
      try {
        config = parseConfList(await readConf(file), file);
      } catch (err) {
        throw new CniConfigError(`failed to load CNI config list file ${file}: ${(err as Error).message}`);
      }
    } else {
      try {
        config = parseConfAsList(await readConf(file), file);
      } catch (err) {
        throw new CniConfigError(`failed to load CNI config file ${file}: ${(err as Error).message}`);
      }
    }
    networks.push({ config, ifName: `${prefix}${i}` });
    i++;
    if (i === max) break;
  }
  return networks;
}
