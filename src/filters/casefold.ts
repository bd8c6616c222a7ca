// Unicode simple case-folding orbits (the sets Go's regexp treats as equal under
// (?i)), derived once, lazily, from the JavaScript engine's own case mappings
// and its /iu canonicalization (both follow CaseFolding.txt, as Go does).

const LAST_CASED = 0x1ffff; // no cased code points above the SMP

let orbits: Map<number, number[]> | undefined;

function single(s: string): number | undefined {
  const cp = s.codePointAt(0);
  return cp !== undefined && String.fromCodePoint(cp).length === s.length ? cp : undefined;
}

function escapeCp(cp: number): string {
  return `\\u{${cp.toString(16)}}`;
}

function foldEqual(a: number, b: number): boolean {
  return new RegExp(`^${escapeCp(a)}$`, 'iu').test(String.fromCodePoint(b));
}

function build(): Map<number, number[]> {
  const parent = new Map<number, number>();
  const find = (x: number): number => {
    let r = x;
    while (parent.has(r) && parent.get(r) !== r) r = parent.get(r) as number;
    parent.set(x, r);
    return r;
  };
  const union = (a: number, b: number): void => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (let cp = 0; cp <= LAST_CASED; cp++) {
    if (cp >= 0xd800 && cp <= 0xdfff) continue;
    const s = String.fromCodePoint(cp);
    for (const mapped of [s.toLowerCase(), s.toUpperCase()]) {
      const m = single(mapped);
      if (m !== undefined && m !== cp && foldEqual(cp, m)) union(cp, m);
    }
  }
  const groups = new Map<number, number[]>();
  for (const cp of parent.keys()) {
    const root = find(cp);
    let g = groups.get(root);
    if (!g) groups.set(root, (g = []));
    g.push(cp);
  }
  const result = new Map<number, number[]>();
  for (const g of groups.values()) {
    if (g.length < 2) continue;
    g.sort((a, b) => a - b);
    for (const cp of g) result.set(cp, g);
  }
  return result;
}

/** All code points equivalent to `cp` under simple case folding (including `cp`). */
export function caseOrbit(cp: number): readonly number[] {
  if (!orbits) orbits = build();
  return orbits.get(cp) ?? [cp];
}

/** Every code point that has at least one case-folding equivalent. */
export function casedCodePoints(): IterableIterator<number> {
  if (!orbits) orbits = build();
  return orbits.keys();
}
