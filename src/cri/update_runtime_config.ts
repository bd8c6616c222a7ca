import { promises as fsp } from 'node:fs';
import { isIPv4 } from 'node:net';
import { join } from 'node:path';
import { UnknownError } from '../errdefs/errors';
import type { UpdateRuntimeConfigResponse } from '../generated/types/runtime/v1/UpdateRuntimeConfigResponse';
import type { CriDeps } from './service-deps';
import { renderGoTemplate } from './update_runtime_config_template';

/** The file containerd writes from its template; the same name, so tools that look for it find it. */
export const CNI_CONFIG_FILE_NAME = '10-containerd-net.conflist';

/** A CIDR as Go's net.ParseCIDR takes it; whether it is IPv4. Else Go's error text. */
function parseCidr(s: string): { v4: boolean } {
  const m = /^([^/]+)\/(\d{1,3})$/.exec(s);
  if (m) {
    const ip = m[1] as string;
    const bits = Number(m[2]);
    if (isIPv4(ip) && bits <= 32) return { v4: true };
    if (ip.includes(':') && /^[0-9a-fA-F:.]+$/.test(ip) && bits <= 128) return { v4: false };
  }
  // containerd wraps Go's net.ParseError with fmt.Errorf: code Unknown, these words.
  throw new UnknownError(`get routes: invalid CIDR address: ${s}`);
}

/**
 * UpdateRuntimeConfig: only the pod CIDR means anything (kubelet sends it once the node has
 * one). As containerd: without conf_template, or with a network that is already ready (or
 * becomes ready on a reload), nothing is written; otherwise the template is rendered with
 * PodCIDR (the first), PodCIDRRanges (all) and Routes (0.0.0.0/0 and/or ::/0) into
 * conf_dir/10-containerd-net.conflist.
 */
export async function updateRuntimeConfig(deps: CriDeps, podCidr: string): Promise<UpdateRuntimeConfigResponse> {
  if (podCidr === '') return {};
  const cidrs = podCidr.split(',').map((c) => c.trim());
  const families = cidrs.map(parseCidr);
  const routes: string[] = [];
  if (families.some((f) => f.v4)) routes.push('0.0.0.0/0');
  if (families.some((f) => !f.v4)) routes.push('::/0');

  const template = deps.config.cni.conf_template;
  if (template === '') {
    deps.log.info('no cni config template is set; waiting for another component to write the CNI config');
    return {};
  }
  try {
    await deps.network.status();
    return {};
  } catch {
    // not ready: try a reload before writing anything
  }
  try {
    await deps.network.load();
    return {};
  } catch {
    // still no config: render the template
  }
  let src: string;
  try {
    src = await fsp.readFile(template, 'utf8');
  } catch (err) {
    throw new UnknownError(`failed to parse cni config template "${template}": ${(err as Error).message}`);
  }
  const text = renderGoTemplate(src, { PodCIDR: cidrs[0] as string, PodCIDRRanges: cidrs, Routes: routes });
  const dir = deps.config.cni.conf_dir;
  await fsp.mkdir(dir, { recursive: true, mode: 0o755 });
  // Write beside and rename, so a CNI loader never reads half a file.
  const file = join(dir, CNI_CONFIG_FILE_NAME);
  const tmp = `${file}.tmp-${process.pid}`;
  await fsp.writeFile(tmp, text, { mode: 0o644 });
  await fsp.rename(tmp, file);
  deps.log.info('wrote CNI config from template', { template, file, podCidr });
  return {};
}
