// A pod's networks, set up and torn down as containerd's CRI does through go-cni: the
// networks are read from conf_dir at each call (containerd reloads them when the directory
// changes; reading one small file costs less than watching it), loopback first on "lo",
// then eth0…; all ADDed at once (as go-cni's Setup does; a failure of any is acted on once
// all have finished), and DELed in turn, in the same order, on teardown.

import { isNetNS } from '../netns';
import type { Logger } from '../log/logger';
import { ResultCache } from './cache';
import { summarizeConfig, type CniConfigSummary } from './config-summary';
import { parseConfList, type NetworkConfigList } from './config';
import { DEFAULT_EXEC_LIMITS, findPlugin, type PluginExecLimits } from './exec';
import { CniTeardownError } from './errors';
import { loadNetworks, type AttachedNetwork } from './load';
import { addNetworkList, checkNetworkList, delNetworkList, type PluginRunner } from './network-list';
import { gatherPodResult, type NetworkResult, type PodNetworkResult } from './pod-result';
import { versionAtLeast } from './version';
import { podCniArgs, type CapabilityArgs, type PodIdentity, type RuntimeConf } from './runtime-conf';

export interface CniManagerOptions {
  /** Where network configs are read (containerd's conf_dir, /etc/cni/net.d). */
  readonly confDir: string;
  /** Plugin directories, in search order (containerd's bin_dir; Debian's plugins are in /usr/lib/cni). */
  readonly binDirs: readonly string[];
  /** Result cache directory (libcni's default is /var/lib/cni; berthd keeps it under its root). */
  readonly cacheDir: string;
  /** containerd's max_conf_num (default 1; <= 0: every file). */
  readonly maxConfNum?: number;
  readonly ifPrefix?: string;
  /** Attach loopback first (default true). */
  readonly loopback?: boolean;
  readonly limits?: Partial<PluginExecLimits>;
  readonly log?: Logger;
}

export interface PodNetworkRequest {
  readonly pod: PodIdentity;
  /** The pod's netns path. For teardown it may be gone: DEL then runs with CNI_NETNS="",
   * as the spec allows, so plugins still release addresses and host-side state. */
  readonly netnsPath: string;
  readonly capabilityArgs?: CapabilityArgs;
}

/** CRI's NetworkReady condition. */
export interface NetworkStatus {
  readonly ready: boolean;
  /** Why not ready ('' when ready). */
  readonly message: string;
}

/** go-cni's Remove treats these DEL errors as done: a plugin saying what it should release
 * is "not found" (already released), or a file missing when the netns is gone (plugins
 * before spec 0.7's empty-netns DEL try to open it). */
function deleteErrorTolerated(err: Error, netns: string): boolean {
  return err.message.includes('not found') || (netns === '' && err.message.includes('no such file or directory'));
}

export class CniManager {
  private readonly runner: PluginRunner;
  private loaded: AttachedNetwork[] = [];
  private lastLoad = 'OK';

  constructor(private readonly opts: CniManagerOptions) {
    this.runner = {
      binDirs: opts.binDirs,
      limits: { ...DEFAULT_EXEC_LIMITS, ...opts.limits },
      cache: new ResultCache(opts.cacheDir),
    };
  }

  /** The networks a pod gets now (throws CniNotInitializedError / CniConfigError). Each
   * call reads conf_dir again and records the outcome for config() and lastLoadStatus(). */
  async networks(): Promise<AttachedNetwork[]> {
    try {
      const networks = await loadNetworks(this.opts.confDir, {
        ...(this.opts.maxConfNum !== undefined ? { maxConfNum: this.opts.maxConfNum } : {}),
        ...(this.opts.ifPrefix !== undefined ? { ifPrefix: this.opts.ifPrefix } : {}),
        ...(this.opts.loopback !== undefined ? { loopback: this.opts.loopback } : {}),
      });
      this.loaded = networks;
      this.lastLoad = 'OK';
      return networks;
    } catch (err) {
      this.loaded = [];
      this.lastLoad = (err as Error).message;
      throw err;
    }
  }

  /** Reads conf_dir again (go-cni's Load); rejects when there is no usable config. */
  async load(): Promise<void> {
    await this.networks();
  }

  /** "OK" or the last load's error (CRI Status verbose "lastCNILoadStatus"). */
  lastLoadStatus(): string {
    return this.lastLoad;
  }

  /** The last loaded networks as go-cni's GetConfig() (CRI Status verbose "cniconfig"). */
  config(): CniConfigSummary {
    return summarizeConfig(this.loaded, {
      binDirs: this.opts.binDirs,
      confDir: this.opts.confDir,
      maxConfNum: this.opts.maxConfNum ?? 1,
      prefix: this.opts.ifPrefix ?? 'eth',
    });
  }

  /** Ready when a network config loads and every plugin it names is in a plugin directory. */
  async status(): Promise<NetworkStatus> {
    try {
      const networks = await this.networks();
      for (const n of networks) for (const p of n.config.plugins) await findPlugin(p.type, this.opts.binDirs);
      return { ready: true, message: '' };
    } catch (err) {
      return { ready: false, message: (err as Error).message };
    }
  }

  private runtimeConf(req: PodNetworkRequest, ifName: string, netns: string): RuntimeConf {
    return { containerId: req.pod.sandboxId, netns, ifName, args: podCniArgs(req.pod), capabilityArgs: req.capabilityArgs ?? {} };
  }

  /**
   * ADD every network in turn. With `rollback` (the default) a failure first runs the
   * teardown of every network (so nothing is left: no veth, no address) and then throws
   * the ADD's error; the teardown's own failure, if any, is logged and kept on the error
   * as `rollbackError`.
   */
  async setup(req: PodNetworkRequest, opts: { rollback?: boolean } = {}): Promise<PodNetworkResult> {
    const networks = await this.networks();
    try {
      // Every network at once, as go-cni's Setup does (loopback's plugin runs while the
      // bridge's do); all are settled before a failure is acted on, so the rollback below
      // never races an ADD still running. The first failure in network order is reported.
      const settled = await Promise.allSettled(
        networks.map((n) => addNetworkList(this.runner, n.config, this.runtimeConf(req, n.ifName, req.netnsPath))),
      );
      const results: NetworkResult[] = [];
      for (const [i, s] of settled.entries()) {
        if (s.status === 'rejected') throw s.reason;
        const n = networks[i]!;
        results.push({ network: n.config.name, ifName: n.ifName, result: s.value });
      }
      return gatherPodResult(results, `${this.opts.ifPrefix ?? 'eth'}0`);
    } catch (err) {
      if (opts.rollback ?? true) {
        try {
          await this.teardownNetworks(req, networks);
        } catch (rollbackErr) {
          this.opts.log?.warn('CNI rollback after a failed setup did not release everything', {
            sandbox: req.pod.sandboxId,
            error: (rollbackErr as Error).message,
          });
          if (err instanceof Error) Object.assign(err, { rollbackError: rollbackErr });
        }
      }
      throw err;
    }
  }

  /** DEL every network, in the order go-cni's Remove takes them (loopback first; within a
   * network, its plugins last to first). Every network is asked even when one fails. */
  async teardown(req: PodNetworkRequest): Promise<void> {
    await this.teardownNetworks(req, await this.networks());
  }

  private async teardownNetworks(req: PodNetworkRequest, networks: readonly AttachedNetwork[]): Promise<void> {
    const netns = req.netnsPath !== '' && isNetNS(req.netnsPath) ? req.netnsPath : '';
    const errors: Error[] = [];
    for (const n of networks) {
      const rt = this.runtimeConf(req, n.ifName, netns);
      try {
        await delNetworkList(this.runner, await this.configAddRanWith(n.config, rt), rt, (e) => deleteErrorTolerated(e, netns));
      } catch (err) {
        errors.push(err as Error);
      }
    }
    if (errors.length === 1) throw errors[0]!;
    if (errors.length > 1) throw new CniTeardownError(errors);
  }

  /** DEL runs with the config ADD ran with when the cache has it: a config edited while the
   * pod ran (another subnet, another IPAM data dir) must still release what ADD took. */
  private async configAddRanWith(current: NetworkConfigList, rt: RuntimeConf): Promise<NetworkConfigList> {
    const cached = await this.runner.cache.get(current.name, rt);
    if (!cached || cached.config.length === 0) return current;
    try {
      return parseConfList(cached.config, current.source);
    } catch {
      return current;
    }
  }

  /** CHECK every network against what ADD returned. A network of a spec version before
   * 0.4.0 has no CHECK and is skipped — the built-in loopback network is 0.3.1, and a pod
   * must not fail its check for that. */
  async check(req: PodNetworkRequest): Promise<void> {
    for (const n of await this.networks()) {
      if (!versionAtLeast(n.config.cniVersion, '0.4.0')) continue;
      await checkNetworkList(this.runner, n.config, this.runtimeConf(req, n.ifName, req.netnsPath));
    }
  }
}
