// CNI spec versions ("0.3.1", "1.0.0"): compared numerically, as libcni's version.GreaterThanOrEqualTo.

/** The version a config without cniVersion means (libcni: "0.1.0"). */
export const DEFAULT_CNI_VERSION = '0.1.0';

function parts(v: string): [number, number, number] | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)$/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : undefined;
}

export function isValidCniVersion(v: string): boolean {
  return parts(v) !== undefined;
}

/** a >= b; an unparsable version is never >= anything (libcni errors out instead). */
export function versionAtLeast(a: string, b: string): boolean {
  const pa = parts(a);
  const pb = parts(b);
  if (!pa || !pb) return false;
  for (let i = 0; i < 3; i++) {
    if (pa[i]! !== pb[i]!) return pa[i]! > pb[i]!;
  }
  return true;
}
