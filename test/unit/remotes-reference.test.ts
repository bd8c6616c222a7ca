import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errdefs/errors';
import {
  familiarReference,
  formatReference,
  parseDockerRef,
  parseNormalizedReference,
  parsePullReference,
  referenceObject,
} from '../../src/remotes/reference';

// Image references normalised as docker's distribution/reference and containerd's
// ParseDockerRef do (their test tables' cases).

const D = 'sha256:' + 'a'.repeat(64);

describe('parseNormalizedReference / parseDockerRef', () => {
  it.each([
    ['busybox', 'docker.io/library/busybox:latest'],
    ['busybox:1.36', 'docker.io/library/busybox:1.36'],
    ['library/busybox', 'docker.io/library/busybox:latest'],
    ['docker.io/busybox', 'docker.io/library/busybox:latest'],
    ['index.docker.io/library/busybox:1', 'docker.io/library/busybox:1'],
    ['user/repo', 'docker.io/user/repo:latest'],
    ['localhost/foo', 'localhost/foo:latest'],
    ['localhost:5000/foo/bar:v1', 'localhost:5000/foo/bar:v1'],
    ['127.0.0.1:5000/a/b', '127.0.0.1:5000/a/b:latest'],
    ['registry.k8s.io/pause:3.9', 'registry.k8s.io/pause:3.9'],
    ['gcr.io/k8s-staging-cri-tools/test-image-1:latest', 'gcr.io/k8s-staging-cri-tools/test-image-1:latest'],
    ['[::1]:5000/x', '[::1]:5000/x:latest'],
    ['a__b/c-d.e_f', 'docker.io/a__b/c-d.e_f:latest'],
    ['a---b/c', 'docker.io/a---b/c:latest'],
    [`busybox@${D}`, `docker.io/library/busybox@${D}`],
    // ParseDockerRef drops the tag when a digest pins the content.
    [`busybox:1@${D}`, `docker.io/library/busybox@${D}`],
    [`host:1/x:tag@${D}`, `host:1/x@${D}`],
    // A lone "host:port" is a docker.io repo with a tag, as docker reads it.
    ['foo:5000', 'docker.io/library/foo:5000'],
    // Upper case is allowed in the domain.
    ['Registry.Example.COM/a', 'Registry.Example.COM/a:latest'],
  ])('%s → %s', (input, want) => {
    expect(formatReference(parseDockerRef(input))).toBe(want);
  });

  it('keeps tag and digest together for a pull and resolves the digest', () => {
    const r = parsePullReference(`127.0.0.1:5000/a/b:v1@${D}`);
    expect(r).toEqual({ domain: '127.0.0.1:5000', path: 'a/b', tag: 'v1', digest: D });
    expect(formatReference(r)).toBe(`127.0.0.1:5000/a/b:v1@${D}`);
    expect(referenceObject(r)).toBe(D);
    expect(referenceObject(parsePullReference('x'))).toBe('latest');
  });

  it('normalised without a default tag', () => {
    expect(parseNormalizedReference('busybox')).toEqual({ domain: 'docker.io', path: 'library/busybox' });
  });

  it.each([
    ['', 'repository name must have at least one component'],
    ['Busybox', 'repository name must be lowercase'],
    ['host:5000/Foo', 'repository name must be lowercase'],
    ['a'.repeat(64).replace(/a/g, 'f'), 'cannot specify 64-byte hexadecimal strings'],
    ['busybox:', 'invalid tag format'],
    ['busybox:-x', 'invalid tag format'],
    [`busybox:${'t'.repeat(129)}`, 'invalid tag format'],
    ['busybox@sha256:abc', 'invalid digest format'],
    [`busybox@sha256:${'A'.repeat(64)}`, 'invalid checksum digest format'],
    [`busybox@sha256:${'a'.repeat(63)}`, 'invalid checksum digest length'],
    [`busybox@md5:${'a'.repeat(32)}`, 'unsupported digest algorithm'],
    ['a/b//c', 'invalid reference format'],
    ['-foo', 'invalid reference format'],
    ['foo_', 'invalid reference format'],
    ['host:port/x', 'invalid reference format'],
    ['a b', 'invalid reference format'],
    [`x/${'a'.repeat(250)}`, 'repository name must not be more than 255 characters'],
  ])('%j is refused: %s', (input, why) => {
    let err: unknown;
    try {
      parseDockerRef(input);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect((err as Error).message).toContain(why);
    expect((err as Error).message).toContain(`failed to parse image reference ${JSON.stringify(input)}`);
    expect((err as Error).message).toMatch(/: invalid argument$/);
  });

  it('familiar form', () => {
    expect(familiarReference(parseDockerRef('docker.io/library/busybox:latest'))).toBe('busybox:latest');
    expect(familiarReference(parseDockerRef('user/repo:1'))).toBe('user/repo:1');
    expect(familiarReference(parseDockerRef('registry.k8s.io/pause:3.9'))).toBe('registry.k8s.io/pause:3.9');
  });
});
