// [cri] in berthd's TOML: the defaults `berthd config default` prints, containerd's key names,
// and every invalid value refused at load with a message naming its key.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { defaultConfig, DEFAULT_CONFIG_TOML, loadConfig } from '../../src/daemon/config';
import { goDurationMs } from '../../src/cri/config';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cri-config-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
let n = 0;
function write(text: string): string {
  const f = path.join(dir, `c${n++}.toml`);
  fs.writeFileSync(f, text);
  return f;
}
const load = (text: string) => loadConfig(write(text), true);

describe('[cri] configuration', () => {
  it('defaults: the keys of issue 13, enabled, Debian paths for CNI', () => {
    const c = defaultConfig().cri;
    expect(c).toEqual({
      enabled: true,
      sandbox_image: 'registry.k8s.io/pause:3.9',
      restrict_oom_score_adj: false,
      stream_server_address: '127.0.0.1',
      stream_server_port: '0',
      stream_idle_timeout: '4h0m0s',
      max_container_log_line_size: 16384,
      max_concurrent_downloads: 3,
      cni: { bin_dir: '/usr/lib/cni', conf_dir: '/etc/cni/net.d', max_conf_num: 1, conf_template: '' },
      containerd: { snapshotter: 'overlayfs' },
      registry: { config_path: '/etc/berth/certs.d' },
    });
    // The printed default file loads to the same thing.
    expect(load(DEFAULT_CONFIG_TOML).cri).toEqual(c);
  });

  it('reads the file of issue 13 as written there', () => {
    const c = load(`[cri]
  enabled = true
  sandbox_image = "registry.k8s.io/pause:3.9"
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [cri.cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "/etc/cni/net.d"
  [cri.registry]
    config_path = "/etc/berth/certs.d"
`).cri;
    expect(c.restrict_oom_score_adj).toBe(true);
    expect(c.cni.max_conf_num).toBe(1); // untouched keys keep their defaults
  });

  it('overrides single keys and keeps the rest', () => {
    const c = load(`[cri]\nenabled = false\nsandbox_image = "127.0.0.1:5000/pause@sha256:${'a'.repeat(64)}"\n[cri.cni]\nconf_template = "/etc/berth/cni.tmpl"\n`).cri;
    expect(c.enabled).toBe(false);
    expect(c.sandbox_image).toBe(`127.0.0.1:5000/pause@sha256:${'a'.repeat(64)}`);
    expect(c.cni.conf_template).toBe('/etc/berth/cni.tmpl');
    expect(c.cni.bin_dir).toBe('/usr/lib/cni');
  });

  it.each([
    ['[cri]\nenabled = "yes"\n', /"cri.enabled" must be a boolean, got string/],
    ['[cri]\nstream_server_port = 10010\n', /"cri.stream_server_port" must be a string, got number/],
    ['[cri]\nstream_server_port = "65536"\n', /"cri.stream_server_port" must be a port number/],
    ['[cri]\nstream_server_port = "http"\n', /"cri.stream_server_port" must be a port number/],
    ['[cri]\nstream_server_address = "my host"\n', /"cri.stream_server_address" must be an IP address/],
    ['[cri]\nsandbox_image = ""\n', /"cri.sandbox_image" must be set/],
    ['[cri]\nsandbox_image = "Pause:3.9"\n', /"cri.sandbox_image" is not a valid image reference/],
    ['[cri]\nsandbox_image = "pause@sha256:abc"\n', /"cri.sandbox_image" is not a valid image reference/],
    ['[cri]\nstream_idle_timeout = "4 hours"\n', /"cri.stream_idle_timeout" must be a duration/],
    ['[cri]\nmax_container_log_line_size = -2\n', /"cri.max_container_log_line_size" must be an integer from -1/],
    ['[cri]\nmax_concurrent_downloads = 0\n', /"cri.max_concurrent_downloads" must be an integer from 1/],
    ['[cri]\nmax_concurrent_downloads = 2.5\n', /"cri.max_concurrent_downloads" must be an integer/],
    ['[cri.cni]\nbin_dir = "usr/lib/cni"\n', /"cri.cni.bin_dir" must be an absolute path/],
    ['[cri.cni]\nconf_dir = ""\n', /"cri.cni.conf_dir" must be an absolute path/],
    ['[cri.cni]\nmax_conf_num = -1\n', /"cri.cni.max_conf_num" must be an integer from 0/],
    ['[cri.cni]\nconf_template = "tmpl"\n', /"cri.cni.conf_template" must be an absolute path/],
    ['[cri.cni]\nnetwork = "x"\n', /unknown configuration key "cri.cni.network"/],
    ['[cri.containerd]\nsnapshotter = "../x"\n', /"cri.containerd.snapshotter" must be a snapshotter name/],
    ['[cri.registry]\nconfig_path = "certs.d"\n', /"cri.registry.config_path" must be an absolute path/],
    ['[cri.registry]\nmirrors = {}\n', /unknown configuration key "cri.registry.mirrors"/],
    ['cri = 1\n', /"cri" must be a table/],
  ])('refuses %j naming the key', (text, message) => {
    expect(() => load(text)).toThrow(message);
  });

  it('Go durations as containerd writes them', () => {
    expect(goDurationMs('4h0m0s')).toBe(4 * 3600e3);
    expect(goDurationMs('1.5s')).toBe(1500);
    expect(goDurationMs('300ms')).toBe(300);
    expect(goDurationMs('0')).toBe(0);
  });

  it('berthd refuses to start with an invalid [cri] value and says which key', () => {
    const berthd = path.resolve(__dirname, '..', '..', 'bin', 'berthd');
    const cfg = write('[cri]\nstream_server_port = "99999"\n');
    const r = spawnSync(berthd, ['--config', cfg, '--root', path.join(dir, 'root'), '--state', path.join(dir, 'state'), '--address', path.join(dir, 's.sock')], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    expect(r.status).not.toBe(0);
    expect(r.stderr + r.stdout).toContain('cri.stream_server_port');
    expect(fs.existsSync(path.join(dir, 's.sock'))).toBe(false);
  });
});
