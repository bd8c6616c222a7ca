// The result cache, as libcni keeps it (<cacheDir>/results/<network>-<container>-<ifname>):
// ADD records the list's final result; DEL hands it to the plugins as prevResult (spec
// 0.4.0+) and drops it once every plugin has released; CHECK needs it to have anything to
// check against. Written atomically (temp file + rename) so a crash leaves the old or the
// new entry, never half of one.

import { randomBytes } from 'node:crypto';
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { isNativeError } from '../native';
import { isJsonObject, type JsonObject } from './config';
import { CniConfigError } from './errors';
import type { RuntimeConf } from './runtime-conf';

export interface CachedResult {
  /** The list's config bytes ADD ran with. */
  readonly config: Buffer;
  readonly result: JsonObject;
}

export class ResultCache {
  constructor(readonly dir: string) {}

  private file(network: string, rt: RuntimeConf): string {
    for (const part of [network, rt.containerId, rt.ifName]) {
      if (part === '' || part.includes('/') || part === '.' || part === '..') {
        throw new CniConfigError(`cannot cache a CNI result for ${JSON.stringify(part)}: not a file name`);
      }
    }
    return join(this.dir, 'results', `${network}-${rt.containerId}-${rt.ifName}`);
  }

  async get(network: string, rt: RuntimeConf): Promise<CachedResult | undefined> {
    let text: string;
    try {
      text = await readFile(this.file(network, rt), 'utf8');
    } catch (err) {
      if (isNativeError(err, 'ENOENT')) return undefined;
      throw err;
    }
    let v: unknown;
    try {
      v = JSON.parse(text);
    } catch {
      return undefined; // a torn file from before atomic writes, or foreign: no result
    }
    if (!isJsonObject(v) || !isJsonObject(v['result'])) return undefined;
    const config = typeof v['config'] === 'string' ? Buffer.from(v['config'], 'base64') : Buffer.alloc(0);
    return { config, result: v['result'] };
  }

  async set(network: string, config: Buffer, rt: RuntimeConf, result: JsonObject): Promise<void> {
    const file = this.file(network, rt);
    await mkdir(join(this.dir, 'results'), { recursive: true, mode: 0o700 });
    const entry = {
      kind: 'cniCacheV1',
      containerId: rt.containerId,
      config: config.toString('base64'),
      ifName: rt.ifName,
      networkName: network,
      cniArgs: rt.args.map(([k, v]) => [k, v]),
      result,
    };
    const tmp = `${file}.tmp-${randomBytes(6).toString('hex')}`;
    await writeFile(tmp, JSON.stringify(entry), { mode: 0o600 });
    await rename(tmp, file);
  }

  async delete(network: string, rt: RuntimeConf): Promise<void> {
    await rm(this.file(network, rt), { force: true });
  }
}
