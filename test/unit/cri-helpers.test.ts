// Logic of the CRI layer that needs no daemon: the Go-template subset conf_template uses,
// image users, reference ranking and short-ID lookup as containerd's CRI image store does
// them, UpdateRuntimeConfig's CIDR checks. (AuthConfig → credentials is src/remotes':
// test/unit/remotes-auth.test.ts, and end to end in test/e2e/cri-images.test.ts.)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { renderGoTemplate } from '../../src/cri/update_runtime_config_template';
import { userOfImage } from '../../src/cri/image_status';
import { CriImageStore, sortReferences } from '../../src/cri/image_store';
import { updateRuntimeConfig, CNI_CONFIG_FILE_NAME } from '../../src/cri/update_runtime_config';
import { defaultConfig } from '../../src/daemon/config';
import type { CriDeps } from '../../src/cri/service-deps';
import type { NetworkPluginStatus } from '../../src/cri/status';
import { Logger } from '../../src/log/logger';

describe('Go template subset (conf_template)', () => {
  // The shape of containerd's documented CNI template.
  const tmpl = `{
  "cniVersion": "0.3.1",
  "plugins": [{
    "type": "bridge",
    "ipam": {
      "type": "host-local",
      "ranges": [{{- range $i, $range := .PodCIDRRanges}}{{if $i}}, {{end}}[{"subnet": "{{$range}}"}]{{end}}],
      "routes": [{{- range $i, $route := .Routes}}{{if $i}}, {{end}}{"dst": "{{$route}}"}{{end}}]
    }
  }],
  "first": "{{.PodCIDR}}"
}`;
  it('renders ranges, conditionals, variables and trim markers as Go does', () => {
    const out = renderGoTemplate(tmpl, { PodCIDR: '10.1.0.0/24', PodCIDRRanges: ['10.1.0.0/24', 'fd00::/64'], Routes: ['0.0.0.0/0', '::/0'] });
    const parsed = JSON.parse(out) as { plugins: Array<{ ipam: { ranges: unknown; routes: unknown } }>; first: string };
    expect(parsed.plugins[0]?.ipam.ranges).toEqual([[{ subnet: '10.1.0.0/24' }], [{ subnet: 'fd00::/64' }]]);
    expect(parsed.plugins[0]?.ipam.routes).toEqual([{ dst: '0.0.0.0/0' }, { dst: '::/0' }]);
    expect(parsed.first).toBe('10.1.0.0/24');
    expect(out).toContain('"ranges": [[{"subnet"');
  });
  it('range over . with else, if/else, comments', () => {
    expect(renderGoTemplate('{{range .R}}<{{.}}>{{else}}none{{end}}', { R: ['a', 'b'] })).toBe('<a><b>');
    expect(renderGoTemplate('{{range .R}}<{{.}}>{{else}}none{{end}}', { R: [] })).toBe('none');
    expect(renderGoTemplate('{{/* c */}}{{if .X}}y{{else}}n{{end}}', { X: '' })).toBe('n');
    expect(renderGoTemplate('a  {{- .X -}}  b', { X: '1' })).toBe('a1b');
  });
  it('refuses what it does not implement, naming it', () => {
    expect(() => renderGoTemplate('{{printf "%s" .X}}', { X: '1' })).toThrow('unsupported action {{printf "%s" .X}}');
    expect(() => renderGoTemplate('{{.Nope}}', { X: '1' })).toThrow("can't evaluate field Nope");
    expect(() => renderGoTemplate('{{if .X}}', { X: '1' })).toThrow('missing {{end}}');
  });
});

describe('image store helpers', () => {
  it('image users: numeric uid (group dropped), names, none', () => {
    expect(userOfImage('1000:1000')).toEqual({ uid: 1000, username: '' });
    expect(userOfImage('0')).toEqual({ uid: 0, username: '' });
    expect(userOfImage('nobody:nogroup')).toEqual({ username: 'nobody' });
    expect(userOfImage('')).toEqual({ username: '' });
    expect(userOfImage(undefined)).toEqual({ username: '' });
  });
  it('references ranked as containerd ranks them: tags, digests, the ID', () => {
    const id = `sha256:${'a'.repeat(64)}`;
    const dig = `docker.io/library/b@sha256:${'c'.repeat(64)}`;
    expect(sortReferences([id, dig, 'docker.io/library/z:1', 'docker.io/library/a:2'])).toEqual(['docker.io/library/a:2', 'docker.io/library/z:1', dig, id]);
  });
});

describe('CriImageStore short IDs (go-digest digestset)', () => {
  /** A store whose index holds two images, without a core: the lookup is pure logic. */
  function storeWith(ids: string[]): CriImageStore {
    const s = new CriImageStore({} as never, 'k8s.io');
    const images = (s as unknown as { images: Map<string, unknown> }).images;
    for (const id of ids) images.set(id, { id, references: [id], chainId: '', size: 0, spec: {}, config: {}, layers: [] });
    return s;
  }
  const a = `sha256:abc1${'0'.repeat(60)}`;
  const b = `sha256:abc2${'0'.repeat(60)}`;
  it('full ID, hex prefix, algorithm and prefix; ambiguous and unknown', () => {
    const s = storeWith([a, b]);
    expect(s.get(a).id).toBe(a);
    expect(s.get('abc1').id).toBe(a);
    expect(s.get('sha256:abc2').id).toBe(b);
    expect(() => s.get('abc')).toThrow('ambiguous digest string');
    expect(() => s.get('abd')).toThrow('not found');
    expect(() => s.get('sha512:abc1')).toThrow('not found');
  });
});

describe('UpdateRuntimeConfig', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cri-urc-'));
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
  const notReady: NetworkPluginStatus = {
    status: async () => {
      throw new Error('cni plugin not initialized');
    },
    load: async () => {
      throw new Error('no config');
    },
    config: () => undefined,
    lastLoadStatus: () => 'no config',
  };
  function deps(template: string, network = notReady): CriDeps {
    const config = defaultConfig().cri;
    config.cni.conf_dir = path.join(dir, 'net.d');
    config.cni.conf_template = template;
    return { config, network, log: new Logger('error', {}, () => undefined) } as unknown as CriDeps;
  }
  it('renders the template into conf_dir with the pod CIDRs and routes', async () => {
    const t = path.join(dir, 't.tmpl');
    fs.writeFileSync(t, '{"cidr":"{{.PodCIDR}}","all":[{{range $i, $c := .PodCIDRRanges}}{{if $i}},{{end}}"{{$c}}"{{end}}],"routes":[{{range $i, $r := .Routes}}{{if $i}},{{end}}"{{$r}}"{{end}}]}');
    await updateRuntimeConfig(deps(t), '10.88.0.0/16, fd00:1::/64');
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'net.d', CNI_CONFIG_FILE_NAME), 'utf8'))).toEqual({
      cidr: '10.88.0.0/16',
      all: ['10.88.0.0/16', 'fd00:1::/64'],
      routes: ['0.0.0.0/0', '::/0'],
    });
  });
  it('writes nothing without a template, with no CIDR, or when the network is ready', async () => {
    const ready: NetworkPluginStatus = { ...notReady, status: async () => undefined };
    const t = path.join(dir, 't2.tmpl');
    fs.writeFileSync(t, 'x');
    fs.rmSync(path.join(dir, 'net.d'), { recursive: true, force: true });
    await updateRuntimeConfig(deps(''), '10.0.0.0/24');
    await updateRuntimeConfig(deps(t), '');
    await updateRuntimeConfig(deps(t, ready), '10.0.0.0/24');
    expect(fs.existsSync(path.join(dir, 'net.d'))).toBe(false);
  });
  it('refuses a bad CIDR with Go\'s words', async () => {
    await expect(updateRuntimeConfig(deps(''), '10.0.0.0/33')).rejects.toThrow('get routes: invalid CIDR address: 10.0.0.0/33');
  });
});
