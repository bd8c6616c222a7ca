import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import type { NetworkPluginStatus } from './status';

/** go-cni's error when no network configuration has been loaded; containerd shows it verbatim. */
const NOT_INITIALIZED = 'cni plugin not initialized';

interface LoadedNetwork {
  file: string;
  name: string;
  type: string;
}

/**
 * The network status from conf_dir alone, as go-cni computes it: the first max_conf_num
 * .conf/.conflist/.json files in name order that parse as a CNI network configuration (a
 * "type", or a "plugins" list) make the default network; with none, the plugin is "not
 * initialized". A stand-in for src/cni's plugin (which also runs the plugins): it reads the
 * directory again on every status() so a config dropped in later is seen, as containerd's
 * conf_dir watcher sees it.
 */
export class ConfDirNetworkStatus implements NetworkPluginStatus {
  private loaded: LoadedNetwork[] = [];
  private last = 'OK';

  constructor(
    private readonly confDir: string,
    private readonly maxConfNum: number,
  ) {}

  async status(): Promise<void> {
    await this.load().catch(() => undefined);
    if (this.loaded.length === 0) throw new Error(NOT_INITIALIZED);
  }

  async load(): Promise<void> {
    try {
      this.loaded = await this.read();
      if (this.loaded.length === 0) throw new Error(`no network config found in ${this.confDir}: ${NOT_INITIALIZED}`);
      this.last = 'OK';
    } catch (err) {
      this.loaded = [];
      this.last = (err as Error).message;
      throw err;
    }
  }

  config(): unknown {
    return { networks: this.loaded.map((n) => ({ file: n.file, name: n.name, type: n.type })) };
  }

  lastLoadStatus(): string {
    return this.last;
  }

  private async read(): Promise<LoadedNetwork[]> {
    let names: string[];
    try {
      names = await fsp.readdir(this.confDir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const out: LoadedNetwork[] = [];
    for (const name of names.filter((n) => /\.(conf|conflist|json)$/.test(n)).sort()) {
      if (this.maxConfNum > 0 && out.length >= this.maxConfNum) break;
      const file = join(this.confDir, name);
      let parsed: unknown;
      try {
        parsed = JSON.parse(await fsp.readFile(file, 'utf8'));
      } catch {
        continue; // go-cni skips files it cannot parse
      }
      if (typeof parsed !== 'object' || parsed === null) continue;
      const conf = parsed as { name?: unknown; type?: unknown; plugins?: unknown };
      const plugins = Array.isArray(conf.plugins) ? (conf.plugins as Array<{ type?: unknown }>) : undefined;
      const type = plugins ? plugins[0]?.type : conf.type;
      if (typeof type !== 'string' || type === '') continue;
      out.push({ file, name: typeof conf.name === 'string' ? conf.name : '', type });
    }
    return out;
  }
}
