import { describe, expect, it } from 'vitest';
import { resolvConfContent } from '../../src/cri/sandbox_files';
import { splitReferences } from '../../src/cri/container_status';
import { parseSignal } from '../../src/cri/signals';
import { goDurationSeconds } from '../../src/cri/go_duration';
import { generateUserString } from '../../src/cri/user_string';
import { makeContainerName, makeSandboxName } from '../../src/cri/sandbox_name';
import { selectPodIps } from '../../src/cri/sandbox_network';
import { buildLabels } from '../../src/cri/core_ops';

describe('CRI pod helpers (containerd 1.6 behaviour)', () => {
  it('writes resolv.conf from a DNSConfig as parseDNSOptions does', () => {
    expect(resolvConfContent(['8.8.8.8', '1.1.1.1'], ['svc.local', 'local'], ['ndots:5'])).toBe(
      'search svc.local local\nnameserver 8.8.8.8\nnameserver 1.1.1.1\noptions ndots:5\n',
    );
    expect(resolvConfContent([], [], [])).toBe('');
  });

  it('splits repo tags from repo digests and skips the id', () => {
    expect(splitReferences(['docker.io/library/busybox:1.36', 'docker.io/library/busybox@sha256:abcd', 'sha256:ffff'])).toEqual({
      tags: ['docker.io/library/busybox:1.36'],
      digests: ['docker.io/library/busybox@sha256:abcd'],
    });
  });

  it('parses stop signals by name, short name or number', () => {
    expect(parseSignal('SIGTERM')).toBe(15);
    expect(parseSignal('KILL')).toBe(9);
    expect(parseSignal('sigquit')).toBe(3);
    expect(parseSignal('10')).toBe(10);
    expect(() => parseSignal('SIGNOPE')).toThrow('unknown signal');
  });

  it('prints timeouts as Go durations', () => {
    expect(goDurationSeconds(1)).toBe('1s');
    expect(goDurationSeconds(120)).toBe('2m0s');
    expect(goDurationSeconds(3605)).toBe('1h0m5s');
  });

  it('builds user strings as generateUserString', () => {
    expect(generateUserString('', { value: 1000 }, { value: 100 })).toBe('1000:100');
    expect(generateUserString('nobody', { value: 1000 }, null)).toBe('nobody');
    expect(generateUserString('', null, null)).toBe('');
    expect(() => generateUserString('', null, { value: 5 })).toThrow('user group "5" is specified without user');
  });

  it('names sandboxes and containers as containerd does', () => {
    const pod = { name: 'web', namespace: 'default', uid: 'u1', attempt: 2 };
    expect(makeSandboxName(pod)).toBe('web_default_u1_2');
    expect(makeContainerName({ name: 'nginx', attempt: 1 }, pod)).toBe('nginx_web_default_u1_1');
  });

  it('takes the first IPv4 address as the pod IP', () => {
    expect(selectPodIps(['fd00::5/64', '10.1.0.5/24'])).toEqual({ ip: '10.1.0.5', additional: ['fd00::5'] });
    expect(selectPodIps([])).toEqual({ ip: '', additional: [] });
  });

  it('labels records with valid image labels, then the config labels, then the kind', () => {
    expect(buildLabels({ a: 'config' }, { a: 'image', b: 'image', ['x'.repeat(5000)]: 'too long' }, 'container')).toEqual({
      a: 'config',
      b: 'image',
      'io.cri-containerd.kind': 'container',
    });
  });
});
