// berth's `~=` matching (src/filters/regexp.ts: Go syntax checked by the translator,
// matched by re2js) against Go's regexp itself (test/go/regexpcheck): the same table of
// patterns and inputs, the same answers — matches, and the error texts of what Go
// rejects — including patterns that make a backtracking engine take exponential time.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import { buildGoProgram, runGoProgram } from '../harness';
import { compileGoRegexp } from '../../src/filters';

const long = 'a'.repeat(20_000);
const CASES: Array<[string, string]> = [
  // . and newlines, (?s)
  ['^a.b$', 'a\rb'], ['^a.b$', 'a\u2028b'], ['^a.b$', 'a\nb'], ['(?s)^a.b$', 'a\nb'], ['^.$', '😀'], ['^..$', '😀'],
  // Perl classes are ASCII; word boundaries
  ['^\\s$', '\u00a0'], ['^\\s$', '\v'], ['^\\s+$', ' \t\n\f\r'], ['^\\w$', 'é'], ['^\\d$', '٣'], ['^\\D\\S\\W$', 'a\u00a0é'],
  ['\\bfoo\\b', 'a foo b'], ['\\Bfoo', 'afoo'], ['\\bé', ' é'],
  // anchors
  ['^b', 'a\nb'], ['(?m)^b', 'a\nb'], ['a$', 'a\nb'], ['a$', 'a\n'], ['(?m)a$', 'a\nb'], ['(?m)a$', 'a\rb'], ['\\Aa', 'a'], ['a\\z', 'ba'], ['(?m)\\Ab', 'a\nb'],
  // case folding and scoped flags
  ['(?i)^abc$', 'AbC'], ['(?i)^k$', '\u212a'], ['(?i)^[a-z]+$', 'HELLO'], ['(?i)^[^k]$', 'K'], ['^a(?i)b$', 'aB'], ['^a(?i)b$', 'AB'],
  ['^(?i:a)b$', 'Ab'], ['^(?i:a)b$', 'AB'], ['(?i)^a(?-i)b$', 'Ab'], ['(?i)^a(?-i)b$', 'AB'], ['^(?i)a|b$', 'xB'], ['(?i)^\\W$', 's'],
  ['(?i)^\\W$', '\u017f'], ['(?i)^\\p{Lu}$', 'a'], ['(?i)^[[:upper:]]$', 'a'], ['(?i)ß', 'ẞ'], ['(?i)σ', 'ς'],
  // repetition
  ['^a{2,3}$', 'aaa'], ['^a{2,3}$', 'aaaa'], ['^a{2}$', 'aa'], ['^a{2,}$', 'aaaaa'], ['^a*?b$', 'aab'], ['(?U)^a+b$', 'aab'],
  ['^a{,3}$', 'a{,3}'], ['^a{01}$', 'a{01}'], ['^x{$', 'x{'], ['^}$', '}'], ['^]$', ']'], ['^*', 'x'], ['a*(?i)*', 'x'],
  // classes
  ['^[]a]+$', ']a'], ['^[^]a]$', 'b'], ['^[a-]+$', 'a-'], ['^[\\d-z]+$', '1-z'], ['^[[:alpha:][:digit:]]+$', 'ab12'], ['^[[:^alpha:]]$', 'a'],
  ['^[^a]$', '\n'], ['^[\\x{1F600}-\\x{1F64F}]$', '😃'], ['^[\\p{Greek}]+$', 'αβγ'], ['^\\pL+$', 'héllo'], ['^\\PL$', '1'], ['^\\p{^L}$', 'a'],
  ['^\\p{Any}$', '\n'], ['^[\\[\\]]+$', '[]'], ['^[.]$', 'x'],
  // escapes, groups, literals
  ['^\\Qa.b*\\E$', 'a.b*'], ['^\\Qa.b', 'axb'], ['^\\101\\x42\\x{43}\\0$', 'ABC\0'], ['^\\.\\*\\/\\_$', '.*/_'], ['^\\a\\f\\t\\n\\r\\v$', '\x07\f\t\n\r\v'],
  ['^(?P<name>x)|(y)$', 'y'], ['^(?:ab)+$', 'abab'], ['', 'anything'], ['^$', ''],
  // containerd-style filters
  ['^docker\\.io/library/', 'docker.io/library/busybox:latest'], ['io\\.containerd\\.runc\\.v[12]$', 'io.containerd.runc.v2'], ['^sha256:[a-f0-9]{64}$', `sha256:${'ab'.repeat(32)}`],
  // what Go rejects
  ['(', ''], ['a)', ''], ['[a', ''], ['a**', ''], ['a{2}{3}', ''], ['*', ''], ['(+)', ''], ['a|?', ''], ['a{1001}', ''], ['a{3,2}', ''],
  ['\\1', ''], ['\\q', ''], ['\\C', ''], ['\\Z', ''], ['[\\b]', ''], ['a\\', ''], ['[z-a]', ''], ['[[:foo:]]', ''], ['\\p{Foo}', ''], ['\\pX', ''],
  ['(?=a)', ''], ['(?!a)', ''], ['(?i-)a', ''], ['(?P<a-b>x)', ''], ['(?P<name', ''],
  // exponential for a backtracking engine, linear here and in Go
  ['(a+)+$', `${long}b`], ['(a|aa)+$', `${long}b`], ['(a*)*b', long], ['^(\\w+\\s?)*$', `${'word '.repeat(4000)}!`], ['(x+x+)+y', 'x'.repeat(20_000)],
  ['(.*a){20}', long], ['(a+)+$', long],
];

describe('~= against Go’s regexp', () => {
  it('answers every case of the table as Go does, in time linear in the input', async () => {
    const bin = await buildGoProgram('regexpcheck');
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-re-'));
    const file = path.join(dir, 'cases.json');
    fs.writeFileSync(file, JSON.stringify(CASES));
    const r = await runGoProgram(bin, [file]);
    fs.rmSync(dir, { recursive: true, force: true });
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines).toHaveLength(CASES.length);
    const wrong: string[] = [];
    const t0 = Date.now();
    CASES.forEach(([re, s], i) => {
      let ours: { match?: boolean; err?: string };
      try {
        ours = { match: compileGoRegexp(re).test(s) };
      } catch (err) {
        ours = { err: (err as Error).message };
      }
      const go = r.lines[i] as { match?: boolean; err?: string };
      if (JSON.stringify(ours) !== JSON.stringify(go)) wrong.push(`${JSON.stringify(re)} ${JSON.stringify(s.slice(0, 20))}: ours ${JSON.stringify(ours)}, Go ${JSON.stringify(go)}`);
    });
    const ms = Date.now() - t0;
    expect(wrong).toEqual([]);
    // A backtracking engine takes seconds per character beyond ~26 on the first of them.
    expect(ms).toBeLessThan(20_000);
  }, 300_000);
});
