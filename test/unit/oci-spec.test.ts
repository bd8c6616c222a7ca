// src/oci logic that the comparison with containerd's Go package (test/e2e/ocispec-go.test.ts)
// cannot reach from this machine: the seccomp profile of other architectures and older
// kernels, the one option containerd's oci package lacks (rootfs propagation), and that
// specs and options share no state.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  compose,
  defaultSeccompProfile,
  DEFAULT_UNIX_CAPS,
  generateSpec,
  withAddedCapabilities,
  withCapabilities,
  withMaskedPaths,
  withMounts,
  withRootfsPropagation,
  withAdditionalGIDs,
  withHostname,
  withUser,
  type Spec,
  type SpecOpt,
} from '../../src/oci';
import { capabilitiesFromMask, KNOWN_CAPABILITIES } from '../../src/oci/capabilities';

const ctx = { namespace: 'default', containerId: 'c1' };

function specWithCaps(bounding: string[]): Spec {
  return { ociVersion: '1.0.2-dev', process: { user: { uid: 0, gid: 0 }, cwd: '/', capabilities: { bounding } } };
}

describe('defaultSeccompProfile', () => {
  it('lists the architectures and extra calls of arm64', () => {
    const p = defaultSeccompProfile(specWithCaps([]), { arch: 'arm64', kernelRelease: '5.10.0' });
    expect(p.architectures).toEqual(['SCMP_ARCH_ARM', 'SCMP_ARCH_AARCH64']);
    expect(p.syscalls?.some((r) => r.names.includes('cacheflush'))).toBe(true);
    expect(p.syscalls?.some((r) => r.names.includes('arch_prctl'))).toBe(false);
  });

  it('checks clone flags in argument 1 on s390x, argument 0 elsewhere', () => {
    const index = (arch: string) => defaultSeccompProfile(specWithCaps([]), { arch, kernelRelease: '5.10.0' }).syscalls?.find((r) => r.names[0] === 'clone')?.args?.[0].index;
    expect(index('s390x')).toBe(1);
    expect(index('x64')).toBe(0);
  });

  it('allows ptrace only from kernel 4.8 on', () => {
    const hasPtrace = (kernelRelease: string) =>
      defaultSeccompProfile(specWithCaps([]), { arch: 'x64', kernelRelease }).syscalls?.some((r) => r.names.length === 1 && r.names[0] === 'ptrace');
    expect(hasPtrace('4.4.0-210-generic')).toBe(false);
    expect(hasPtrace('4.8.0')).toBe(true);
    expect(hasPtrace('3.19')).toBe(false);
    expect(hasPtrace('6.1.0-13-amd64')).toBe(true);
    expect(hasPtrace('garbage')).toBe(false);
  });

  it('omits architectures for an architecture containerd has no list for', () => {
    expect(defaultSeccompProfile(specWithCaps([]), { arch: 'mips', kernelRelease: '5.0' }).architectures).toBeUndefined();
  });

  it('with CAP_SYS_ADMIN allows clone/clone3 plainly and adds no namespace-flag rule', () => {
    const p = defaultSeccompProfile(specWithCaps(['CAP_SYS_ADMIN']), { arch: 'x64', kernelRelease: '5.10' });
    expect(p.syscalls?.some((r) => r.names.includes('clone3') && r.action === 'SCMP_ACT_ALLOW')).toBe(true);
    expect(p.syscalls?.some((r) => r.action === 'SCMP_ACT_ERRNO')).toBe(false);
  });
});

describe('options', () => {
  it('withRootfsPropagation sets linux.rootfsPropagation and "" removes it', async () => {
    const spec = await generateSpec(ctx, [withRootfsPropagation('rslave')]);
    expect(spec.linux?.rootfsPropagation).toBe('rslave');
    await withRootfsPropagation('')(ctx, spec);
    expect(spec.linux && 'rootfsPropagation' in spec.linux).toBe(false);
  });

  it('an empty list removes the key, as Go omits it', async () => {
    const spec = await generateSpec(ctx, [withMaskedPaths([])]);
    expect(JSON.stringify(spec)).not.toContain('maskedPaths');
  });

  it('applies options in order, awaiting async ones', async () => {
    const seen: string[] = [];
    const slow: SpecOpt = async (_c, s) => {
      await new Promise((r) => setTimeout(r, 5));
      seen.push(`slow:${s.hostname ?? ''}`);
      s.hostname = 'slow';
    };
    const fast: SpecOpt = (_c, s) => {
      seen.push(`fast:${s.hostname ?? ''}`);
      s.hostname = 'fast';
    };
    const spec = await generateSpec(ctx, [compose(slow, fast), slow]);
    expect(seen).toEqual(['slow:', 'fast:slow', 'slow:fast']);
    expect(spec.hostname).toBe('slow');
  });

  it('specs share no lists with each other or with the options that built them', async () => {
    const mounts = [{ destination: '/data', type: 'bind', source: '/x', options: ['rbind'] }];
    const caps = ['CAP_X'];
    const a = await generateSpec(ctx, [withMounts(mounts), withCapabilities(caps), withAddedCapabilities(['CAP_Y'])]);
    a.process?.capabilities?.bounding?.push('CAP_Z');
    a.mounts?.[7].options?.push('ro');
    expect(caps).toEqual(['CAP_X']);
    expect(mounts[0].options).toEqual(['rbind']);
    expect(a.process?.capabilities?.effective).toEqual(['CAP_X', 'CAP_Y']);
    const b = await generateSpec(ctx);
    expect(b.process?.capabilities?.bounding).toEqual(DEFAULT_UNIX_CAPS);
    expect(b.mounts).toHaveLength(7);
  });

  it('a namespace is required', async () => {
    await expect(generateSpec({ namespace: '', containerId: 'x' })).rejects.toThrow('namespace is required: failed precondition');
  });
});

describe('SpecContext.mountRootfs', () => {
  it('is called around each option that reads the rootfs, and never for a spec without one', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-oci-unit-'));
    try {
      fs.mkdirSync(path.join(dir, 'etc'));
      fs.writeFileSync(path.join(dir, 'etc', 'passwd'), 'alice:x:1000:1000::/:\n');
      fs.writeFileSync(path.join(dir, 'etc', 'group'), 'staff:x:50:alice\n');
      let mounted = 0;
      let active = 0;
      const mountRootfs = async <T>(fn: (root: string) => Promise<T>): Promise<T> => {
        mounted++;
        active++;
        try {
          return await fn(dir);
        } finally {
          active--;
        }
      };
      const spec = await generateSpec({ ...ctx, mountRootfs }, [withUser('alice'), withAdditionalGIDs('alice')]);
      expect(spec.process?.user).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 50] });
      expect(mounted).toBe(2);
      expect(active).toBe(0);
      await generateSpec({ ...ctx, mountRootfs }, [withHostname('x'), withUser('1:2')]);
      expect(mounted).toBe(2);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('capabilities', () => {
  it('reads a CapEff mask in bit order and ignores bits beyond the known ones', () => {
    expect(capabilitiesFromMask(0b101n)).toEqual(['CAP_CHOWN', 'CAP_DAC_READ_SEARCH']);
    expect(capabilitiesFromMask((1n << 63n) | (1n << 40n))).toEqual(['CAP_CHECKPOINT_RESTORE']);
    expect(capabilitiesFromMask((1n << 41n) - 1n)).toEqual(KNOWN_CAPABILITIES);
  });
});
