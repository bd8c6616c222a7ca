// Go's path/filepath semantics (Clean, Join, Split, Dir, Base) on "byte strings":
// file names in layers are bytes, not text, so every path in src/diff is a latin1
// string (one char per byte, code points 0–255). JavaScript's string comparison then
// orders them exactly like Go compares byte strings, and nothing is lost for names
// that are not valid UTF-8. `toBytes`/`fromBytes` convert at the edges.

/** A path held as a latin1 string: one character per byte of the real name. */
export type BytePath = string;

/** A UTF-8 path (what callers pass) as a byte string. */
export function toBytePath(utf8: string): BytePath {
  // Fast path: ASCII is the same in both encodings.
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(utf8)) return utf8;
  return Buffer.from(utf8, 'utf8').toString('latin1');
}

/** A byte string as the UTF-8 text it most likely is (for messages and callers). */
export function fromBytePath(p: BytePath): string {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(p)) return p;
  return Buffer.from(p, 'latin1').toString('utf8');
}

/** The bytes of a byte string, for syscalls. */
export function pathBuffer(p: BytePath): Buffer {
  return Buffer.from(p, 'latin1');
}

/** filepath.Clean: the shortest lexically equivalent path ("" → "."). */
export function goClean(p: string): string {
  if (p === '') return '.';
  const rooted = p.charCodeAt(0) === 0x2f;
  // Fast path: already clean (no "//", no "." or ".." element, no trailing slash).
  if (isClean(p, rooted)) return p;
  const out: string[] = [];
  for (const seg of p.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (out.length > 0 && out[out.length - 1] !== '..') out.pop();
      else if (!rooted) out.push('..');
      continue;
    }
    out.push(seg);
  }
  const joined = out.join('/');
  if (rooted) return '/' + joined;
  return joined === '' ? '.' : joined;
}

function isClean(p: string, rooted: boolean): boolean {
  const n = p.length;
  if (rooted && n === 1) return true;
  if (p.charCodeAt(n - 1) === 0x2f) return false;
  let start = rooted ? 1 : 0;
  for (let i = start; i <= n; i++) {
    if (i === n || p.charCodeAt(i) === 0x2f) {
      const len = i - start;
      if (len === 0) return false;
      if (p.charCodeAt(start) === 0x2e && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === 0x2e))) return false;
      start = i + 1;
    }
  }
  return true;
}

/** filepath.Join: joins the non-empty elements with "/" and cleans ("" if all are empty). */
export function goJoin(...elems: string[]): string {
  let s = '';
  let any = false;
  for (const e of elems) {
    if (e === '') continue;
    s = any ? s + '/' + e : e;
    any = true;
  }
  return any ? goClean(s) : '';
}

/** filepath.Split: [dir, file] split after the last "/" (dir keeps its trailing slash). */
export function goSplit(p: string): [string, string] {
  const i = p.lastIndexOf('/');
  return [p.slice(0, i + 1), p.slice(i + 1)];
}

/** filepath.Dir: everything but the last element, cleaned. */
export function goDir(p: string): string {
  return goClean(p.slice(0, p.lastIndexOf('/') + 1));
}

/** filepath.Base: the last element ("." for "", "/" for all-slashes). */
export function goBase(p: string): string {
  if (p === '') return '.';
  let end = p.length;
  while (end > 0 && p.charCodeAt(end - 1) === 0x2f) end--;
  if (end === 0) return '/';
  const s = p.slice(0, end);
  return s.slice(s.lastIndexOf('/') + 1);
}

/** filepath.IsAbs. */
export function goIsAbs(p: string): boolean {
  return p.charCodeAt(0) === 0x2f;
}
