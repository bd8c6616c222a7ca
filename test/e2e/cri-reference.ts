// containerd 1.6.20 with its CRI plugin as the reference for berth's CRI image tests and
// bench/cri-pull.ts: startContainerd's options that enable the plugin (the harness disables it)
// with settings kept to what the image service needs.
import fs from 'node:fs';
import path from 'node:path';

const toml = (s: string): string => JSON.stringify(s);

export interface ContainerdCriSettings {
  /** [registry] config_path: <host>/hosts.toml routing. */
  hostsDir: string;
  cniBinDir: string;
  cniConfDir: string;
  /** [cni] conf_template ("" for none). */
  confTemplate?: string;
}

/** containerd's CRI plugin on: drop it from disabled_plugins, add its tables (kept small: images only). */
export function containerdCri({ hostsDir, cniBinDir: cniBin, cniConfDir: cniConf, confTemplate = '' }: ContainerdCriSettings): { extraConfig: string; beforeStart: (d: { root: string }) => void } {
  const p = '[plugins."io.containerd.grpc.v1.cri"';
  return {
    extraConfig: `  ${p}]
    sandbox_image = "registry.k8s.io/pause:3.9"
    restrict_oom_score_adj = true
    stream_server_address = "127.0.0.1"
    stream_server_port = "0"
    disable_tcp_service = true
    ${p}.containerd]
      snapshotter = "overlayfs"
    ${p}.cni]
      bin_dir = ${toml(cniBin)}
      conf_dir = ${toml(cniConf)}
      conf_template = ${toml(confTemplate)}
    ${p}.registry]
      config_path = ${toml(hostsDir)}
`,
    beforeStart: ({ root }) => {
      const file = path.join(path.dirname(root), 'config.toml');
      const text = fs.readFileSync(file, 'utf8');
      if (!text.includes('"io.containerd.grpc.v1.cri",\n')) throw new Error('containerd test config no longer disables CRI as expected');
      fs.writeFileSync(file, text.replace('"io.containerd.grpc.v1.cri",\n', ''));
    },
  };
}

