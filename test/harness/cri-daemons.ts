// The daemons of a CRI test, started inside a CRI test environment (cri-env.ts): berthd
// with the environment's [cri] section, and the reference containerd 1.6 with its CRI
// plugin configured the same way (pause image, CNI dirs, registry hosts).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { startBerthd, type BerthdHandle, type BerthdOptions } from './berthd';
import { startContainerd, type ContainerdHandle, type ContainerdOptions } from './containerd';
import { type CriEnv } from './cri-env';

export interface CriBerthdOptions extends Omit<BerthdOptions, 'config' | 'wrap'> {
  /** TOML appended after the [cri] section (other sections, or more [cri.*] keys). */
  extraConfig?: string;
}

/**
 * berthd inside the environment with a config file holding env.berthdCriToml() (+ extra).
 * Rejects, with berthd's output, if it does not start.
 */
export async function startCriBerthd(env: CriEnv, opts: CriBerthdOptions = {}): Promise<BerthdHandle> {
  const { extraConfig, ...rest } = opts;
  const dir = fs.mkdtempSync(path.join(env.dir, 'berthd-config-'));
  const config = path.join(dir, 'berthd.toml');
  fs.writeFileSync(config, env.berthdCriToml() + (extraConfig ? `\n${extraConfig}\n` : ''));
  return startBerthd({ logLevel: 'info', ...rest, config, wrap: env.wrap });
}

/** containerd 1.6 inside the environment with its CRI plugin enabled. */
export async function startCriContainerd(env: CriEnv, opts: Omit<ContainerdOptions, 'cri' | 'wrap'> = {}): Promise<ContainerdHandle> {
  return startContainerd({ logLevel: 'info', ...opts, cri: env.containerdCri(), wrap: env.wrap });
}
