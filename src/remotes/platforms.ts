// Platform matching as containerd 1.6's platforms package does it: names normalised
// (x86_64 → amd64, aarch64 → arm64, armhf → arm/v7 …), an exact os/architecture/variant
// match, and for 32-bit arm a preference order over older variants that still run.

import type { Platform } from './descriptor';

/** What a pull uses to pick a manifest from an index. */
export interface PlatformMatcher {
  /** The platform a match is made for (reported back, used in errors). */
  readonly platform: Platform;
  match(p: Platform): boolean;
  /** p1 is preferred over p2. */
  less(p1: Platform, p2: Platform): boolean;
}

function normalizeOs(os: string): string {
  const o = os.toLowerCase();
  return o === 'macos' ? 'darwin' : o;
}

function normalizeArch(arch: string, variant: string): { architecture: string; variant: string } {
  const a = arch.toLowerCase();
  const v = variant.toLowerCase();
  switch (a) {
    case 'i386':
      return { architecture: '386', variant: '' };
    case 'x86_64':
    case 'x86-64':
    case 'amd64':
      return { architecture: 'amd64', variant: v === 'v1' ? '' : v };
    case 'aarch64':
    case 'arm64':
      return { architecture: 'arm64', variant: v === '8' || v === 'v8' ? '' : v };
    case 'armhf':
      return { architecture: 'arm', variant: 'v7' };
    case 'armel':
      return { architecture: 'arm', variant: 'v6' };
    case 'arm':
      if (v === '' || v === '7') return { architecture: 'arm', variant: 'v7' };
      if (v === '5' || v === '6' || v === '8') return { architecture: 'arm', variant: `v${v}` };
      return { architecture: 'arm', variant: v };
    default:
      return { architecture: a, variant: v };
  }
}

/** containerd's platforms.Normalize (os, architecture and variant; other fields kept). */
export function normalizePlatform(p: Platform): Platform {
  const { architecture, variant } = normalizeArch(p.architecture, p.variant ?? '');
  const out: Platform = { ...p, os: normalizeOs(p.os), architecture };
  if (variant !== '') out.variant = variant;
  else delete out.variant;
  return out;
}

/** "linux/arm64/v8"-style formatting (containerd's platforms.Format). */
export function formatPlatform(p: Platform): string {
  return [p.os || 'unknown', p.architecture, p.variant].filter((s) => s !== undefined && s !== '').join('/');
}

/**
 * Parse "linux", "linux/amd64", "linux/arm/v7", "amd64" (containerd's platforms.Parse:
 * a lone architecture takes the host's OS).
 */
export function parsePlatform(spec: string): Platform {
  const parts = spec.split('/');
  if (parts.some((s) => s === '') || parts.length > 3) throw new Error(`"${spec}": invalid platform specifier`);
  if (parts.length === 1) {
    const known = ['linux', 'windows', 'darwin', 'freebsd'];
    if (known.includes(parts[0]!.toLowerCase())) return normalizePlatform({ os: parts[0]!, architecture: hostPlatform().architecture });
    return normalizePlatform({ os: hostPlatform().os, architecture: parts[0]! });
  }
  return normalizePlatform({ os: parts[0]!, architecture: parts[1]!, ...(parts[2] ? { variant: parts[2] } : {}) });
}

/** This host: linux and node's architecture in OCI spelling (containerd's DefaultSpec). */
export function hostPlatform(): Platform {
  const arch: Record<string, string> = { x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64', loong64: 'loong64', mips64el: 'mips64le' };
  return normalizePlatform({ os: process.platform === 'linux' ? 'linux' : process.platform, architecture: arch[process.arch] ?? process.arch });
}

function exact(target: Platform): (p: Platform) => boolean {
  return (p) => {
    const n = normalizePlatform(p);
    return n.os === target.os && n.architecture === target.architecture && (n.variant ?? '') === (target.variant ?? '');
  };
}

/**
 * containerd's platforms.Only: the platform itself, and for arm/vN the older arm variants
 * that run on it, best first.
 */
export function onlyPlatform(platform: Platform): PlatformMatcher {
  const target = normalizePlatform(platform);
  const order: Array<(p: Platform) => boolean> = [exact(target)];
  if (target.architecture === 'arm') {
    const fallbacks: Record<string, string[]> = { v8: ['v7', 'v6', 'v5'], v7: ['v6', 'v5'], v6: ['v5'] };
    for (const v of fallbacks[target.variant ?? ''] ?? []) order.push(exact({ ...target, variant: v }));
  }
  const rank = (p: Platform): number => {
    const i = order.findIndex((m) => m(p));
    return i === -1 ? Infinity : i;
  };
  return {
    platform: target,
    match: (p) => rank(p) !== Infinity,
    less: (p1, p2) => rank(p1) < rank(p2),
  };
}

/** containerd's platforms.Default(): Only(this host). */
export function defaultPlatformMatcher(): PlatformMatcher {
  return onlyPlatform(hostPlatform());
}
