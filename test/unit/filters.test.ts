import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errdefs/errors';
import {
  adaptFields,
  adaptorFunc,
  always,
  compileGoRegexp,
  FilterParseError,
  GoRegexpError,
  parseFilter,
  parseFilters,
  tokenize,
  type Adaptor,
  type Filter,
} from '../../src/filters';

function parseError(fn: () => unknown): FilterParseError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(FilterParseError);
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as FilterParseError;
  }
  throw new Error('expected a parse error');
}

/** The context part of the error (containerd's message without ": invalid argument"). */
function errorOf(input: string): string {
  return parseError(() => parseFilter(input)).context;
}

describe('scanner', () => {
  const toks = (input: string) =>
    tokenize(input).map((t) => (t.kind === 'eof' || t.text === '' ? [t.pos, t.kind] : [t.pos, t.kind, t.text]));

  it('scans fields, operators and values with byte positions', () => {
    expect(toks('name')).toEqual([[0, 'field', 'name'], [4, 'eof']]);
    expect(toks('name==value,foo!=bar')).toEqual([
      [0, 'field', 'name'],
      [4, 'operator', '=='],
      [6, 'value', 'value'],
      [11, 'separator', ','],
      [12, 'field', 'foo'],
      [15, 'operator', '!='],
      [17, 'value', 'bar'],
      [20, 'eof'],
    ]);
    expect(toks('name==value,labels.foo=value,other.bar~=match')).toEqual([
      [0, 'field', 'name'],
      [4, 'operator', '=='],
      [6, 'value', 'value'],
      [11, 'separator', ','],
      [12, 'field', 'labels'],
      [18, 'separator', '.'],
      [19, 'field', 'foo'],
      [22, 'operator', '='],
      [23, 'value', 'value'],
      [28, 'separator', ','],
      [29, 'field', 'other'],
      [34, 'separator', '.'],
      [35, 'field', 'bar'],
      [38, 'operator', '~='],
      [40, 'value', 'match'],
      [45, 'eof'],
    ]);
  });

  it('scans regexp values, plain and quoted', () => {
    expect(toks('name~=[abc]+,foo=test')).toEqual([
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'value', '[abc]+'],
      [12, 'separator', ','],
      [13, 'field', 'foo'],
      [16, 'operator', '='],
      [17, 'value', 'test'],
      [21, 'eof'],
    ]);
    expect(toks('name~=[abc]\\+,foo=test')[2]).toEqual([6, 'value', '[abc]\\+']);
    expect(toks('name~=/[abc]{0,2}/,foo=test').slice(2, 4)).toEqual([
      [6, 'quoted', '/[abc]{0,2}/'],
      [18, 'separator', ','],
    ]);
    expect(toks('input~=/foo\\/bar/,id!=ff').slice(2, 4)).toEqual([
      [7, 'quoted', '/foo\\/bar/'],
      [17, 'separator', ','],
    ]);
    expect(toks('input~=|foo/bar|,id!=ff').slice(2, 4)).toEqual([
      [7, 'quoted', '|foo/bar|'],
      [16, 'separator', ','],
    ]);
    expect(toks('name~="asdf\\n\\tfooo"')).toEqual([
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'quoted', '"asdf\\n\\tfooo"'],
      [20, 'eof'],
    ]);
  });

  it('reports positions in UTF-8 bytes', () => {
    expect(toks('name~=牛,labels.moo=true')).toEqual([
      [0, 'field', 'name'],
      [4, 'operator', '~='],
      [6, 'value', '牛'],
      [9, 'separator', ','],
      [10, 'field', 'labels'],
      [16, 'separator', '.'],
      [17, 'field', 'moo'],
      [20, 'operator', '='],
      [21, 'value', 'true'],
      [25, 'eof'],
    ]);
    expect(toks('name~=|牛|,labels.moo=true').slice(2, 4)).toEqual([
      [6, 'quoted', '|牛|'],
      [11, 'separator', ','],
    ]);
  });

  it('chomps whitespace only at token starts', () => {
    expect(toks('foo = bar    ')).toEqual([[0, 'field', 'foo'], [4, 'operator', '='], [6, 'value', 'bar'], [13, 'eof']]);
    expect(toks('doublevalue=value value')).toEqual([
      [0, 'field', 'doublevalue'],
      [11, 'operator', '='],
      [12, 'value', 'value'],
      [18, 'field', 'value'],
      [23, 'eof'],
    ]);
  });

  it('allows punctuation (including dots) inside unquoted values', () => {
    expect(toks('compound.labels==punctuated_value.foo-bar')).toEqual([
      [0, 'field', 'compound'],
      [8, 'separator', '.'],
      [9, 'field', 'labels'],
      [15, 'operator', '=='],
      [17, 'value', 'punctuated_value.foo-bar'],
      [41, 'eof'],
    ]);
    expect(toks('image==docker.io/library/x:latest')[2]).toEqual([7, 'value', 'docker.io/library/x:latest']);
  });

  it('handles partial input, missing values and leading quoted fields', () => {
    expect(toks('interrupted=')).toEqual([[0, 'field', 'interrupted'], [11, 'operator', '='], [12, 'eof']]);
    expect(toks('input==,id!=ff')).toEqual([
      [0, 'field', 'input'],
      [5, 'operator', '=='],
      [7, 'separator', ','],
      [8, 'field', 'id'],
      [10, 'operator', '!='],
      [12, 'value', 'ff'],
      [14, 'eof'],
    ]);
    expect(toks('"leading quote".postquote==value')).toEqual([
      [0, 'quoted', '"leading quote"'],
      [15, 'separator', '.'],
      [16, 'field', 'postquote'],
      [25, 'operator', '=='],
      [27, 'value', 'value'],
      [32, 'eof'],
    ]);
  });

  it('marks illegal input', () => {
    expect(toks('foo\x00bar')).toEqual([[0, 'field', 'foo'], [3, 'illegal'], [4, 'field', 'bar'], [7, 'eof']]);
    expect(toks('labels.containerd.io/key==value')).toEqual([
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'field', 'containerd'],
      [17, 'separator', '.'],
      [18, 'field', 'io'],
      [20, 'illegal', '/key==value'],
      [31, 'eof'],
    ]);
    expect(toks('labels."containerd.io\nkey"==value')).toEqual([
      [0, 'field', 'labels'],
      [6, 'separator', '.'],
      [7, 'illegal', '"containerd.io\n'],
      [22, 'field', 'key'],
      [25, 'illegal', '"==value'],
      [33, 'eof'],
    ]);
    expect(toks('labels."\\g"')[2]).toEqual([7, 'illegal', '"\\g"']);
    expect(toks('labels."\\xaz"')[2]).toEqual([7, 'illegal', '"\\xaz"']);
    expect(toks('a?')).toEqual([[0, 'field', 'a'], [1, 'char'], [2, 'eof']]);
  });
});

// containerd's own filter test corpus (filters/filter_test.go), adapted.
describe('containerd filter corpus', () => {
  interface Entry {
    name: string;
    other?: string;
    labels?: Record<string, string>;
  }
  const corpus: Entry[] = [
    { name: 'foo', labels: { foo: 'true' } },
    { name: 'bar' },
    { name: 'foo', labels: { foo: 'present', 'more complex label': 'present' } },
    { name: 'bar', labels: { bar: 'true' } },
    { name: 'fooer', labels: { 'more complex label with \\ and "': 'present' } },
    { name: 'fooer', labels: { 'more complex label with \\ and ".post': 'present' } },
    { name: 'baz', other: 'too complex, yo' },
    { name: 'bazo', other: 'abc' },
    { name: 'compound', labels: { foo: 'omg_asdf.asdf-qwer' } },
  ];
  const adapt = (e: Entry): Adaptor => adaptFields({ name: e.name, other: e.other }, { labels: e.labels ?? {} });
  const select = (f: Filter) => corpus.map((e, i) => (f.match(adapt(e)) ? i : -1)).filter((i) => i >= 0);
  const all = corpus.map((_, i) => i);

  it.each<[string, number[]]>([
    ['', all],
    ['name', all],
    ['labels.foo', [0, 2, 8]],
    ['labels.foo,name', [0, 2, 8]],
    ['labels.foo==true', [0]],
    ['labels.foo==omg_asdf.asdf-qwer', [8]],
    ['name==bar', [1, 3]],
    ['name!=bar', [0, 2, 4, 5, 6, 7, 8]],
    ['name==bar,labels.bar', [3]],
    ['other=="too complex, yo"', [6]],
    ['other~=[abc]+,name!=foo', [6, 7]],
    ['other~=/[abc]+/,name!=foo', [6, 7]],
    ['other~=/[abc]{1,2}/,name!=foo', [6, 7]],
    ['other~=/[abc]{0,1}"\\//,name!=foo', []],
    ['name==bar,labels.bar==true', [3]],
    ['name==bar,labels.bar==wrong', []],
    ['name==foo,labels."more complex label"', [2]],
    ['labels."more complex label with \\\\ and \\""==present', [4]],
    ['labels."more complex label with \\\\ and \\"".post==present', [5]],
  ])('%j selects %j', (input, expected) => {
    expect(select(parseFilter(input))).toEqual(expected);
  });

  it.each<[string, string]>([
    ['labels.|foo|==omg_asdf.asdf-qwer', 'filters: parse error: [labels. >|||< foo|==omg_asdf.asdf-qwer]: invalid quote encountered'],
    [
      'labels.?"more complex label with \\\\ and \\"".post==present',
      'filters: parse error: [labels. >|?|< "more complex label with \\\\ and \\"".post==present]: expected field or quoted',
    ],
    ['name==foo,', 'filters: parse error: [name==foo,]: expected field or quoted'],
    ['labels.', 'filters: parse error: [labels.]: expected field or quoted'],
    ['image~=,id?=?fbaq', 'filters: parse error: [image~= >|,|< id?=?fbaq]: expected value or quoted'],
    ['labels.ns/key==value', 'filters: parse error: [labels.ns >|/|< key==value]: quoted literal not terminated'],
    ['labels.key==/value', 'filters: parse error: [labels.key== >|/|< value]: quoted literal not terminated'],
  ])('%j fails with containerd message', (input, message) => {
    expect(errorOf(input)).toBe(message);
  });
});

describe('parseFilter semantics', () => {
  const obj = (fields: Record<string, string | undefined>, labels: Record<string, string> = {}) =>
    adaptFields(fields, { labels });

  it("dockerd's event subscription filter", () => {
    const f = parseFilters(['namespace==moby,topic~=|^/tasks/|']);
    expect(f.match(obj({ namespace: 'moby', topic: '/tasks/exit' }))).toBe(true);
    expect(f.match(obj({ namespace: 'moby', topic: '/tasks/oom' }))).toBe(true);
    expect(f.match(obj({ namespace: 'moby', topic: '/containers/create' }))).toBe(false);
    expect(f.match(obj({ namespace: 'default', topic: '/tasks/exit' }))).toBe(false);
    expect(f.match(obj({ namespace: 'plugins.moby', topic: '/tasks/exit' }))).toBe(false);
    // unanchored: the pattern anchors itself with ^
    expect(f.match(obj({ namespace: 'moby', topic: '/x/tasks/' }))).toBe(false);
    const g = parseFilters(['namespace==plugins.moby,topic~=|^/tasks/|']);
    expect(g.match(obj({ namespace: 'plugins.moby', topic: '/tasks/start' }))).toBe(true);
  });

  it('~= is an unanchored search', () => {
    const f = parseFilter('topic~=tasks');
    expect(f.match(obj({ topic: '/tasks/exit' }))).toBe(true);
    expect(f.match(obj({ topic: '/containers/create' }))).toBe(false);
    expect(parseFilter('topic~=^/tasks/').match(obj({ topic: '/tasks/exit' }))).toBe(true);
    expect(parseFilter('topic~="^/tasks/(exit|oom)$"').match(obj({ topic: '/tasks/oom' }))).toBe(true);
    expect(parseFilter('topic~="^/tasks/(exit|oom)$"').match(obj({ topic: '/tasks/oomx' }))).toBe(false);
  });

  it('~= matches an absent field as the empty string', () => {
    expect(parseFilter('image~=^$').match(obj({}))).toBe(true);
    expect(parseFilter('image~="."').match(obj({}))).toBe(false);
  });

  it("a value starting with '.' is a separator, as in containerd", () => {
    expect(errorOf('image~=.')).toBe('filters: parse error: [image~= >|.|< ]: expected value or quoted');
    expect(parseFilter('image~=a.').match(obj({ image: 'ab' }))).toBe(true);
  });

  it('quoted label keys and dotted raw label keys', () => {
    const labels = { 'a.b': 'c', 'containerd.io/gc.root': '2024' };
    expect(parseFilter('labels."a.b"==c').match(obj({}, labels))).toBe(true);
    expect(parseFilter('labels.a.b==c').match(obj({}, labels))).toBe(true);
    expect(parseFilter('labels.a.b==d').match(obj({}, labels))).toBe(false);
    expect(parseFilter('labels."containerd.io/gc.root"').match(obj({}, labels))).toBe(true);
    expect(parseFilter('labels."containerd.io/gc.root"==2024').match(obj({}, labels))).toBe(true);
    expect(parseFilter('labels."a".b==c').match(obj({}, labels))).toBe(true);
  });

  it('values may contain dots, slashes and colons', () => {
    const f = parseFilter('image==docker.io/library/x:latest');
    expect(f.match(obj({ image: 'docker.io/library/x:latest' }))).toBe(true);
    expect(f.match(obj({ image: 'docker.io/library/x:1.0' }))).toBe(false);
    expect(parseFilter('name==sha256:abc,id==a.b').match(obj({ name: 'sha256:abc', id: 'a.b' }))).toBe(true);
  });

  it('== needs the field present and equal', () => {
    expect(parseFilter('id==x').match(obj({ id: 'x' }))).toBe(true);
    expect(parseFilter('id==x').match(obj({ id: 'y' }))).toBe(false);
    expect(parseFilter('id==x').match(obj({}))).toBe(false);
    expect(parseFilter('id==""').match(obj({}))).toBe(false);
    expect(parseFilter('labels.k==""').match(obj({}, { k: '' }))).toBe(true);
  });

  it('!= treats an absent field as the empty string', () => {
    expect(parseFilter('image!=x').match(obj({}))).toBe(true);
    expect(parseFilter('image!=x').match(obj({ image: 'y' }))).toBe(true);
    expect(parseFilter('image!=x').match(obj({ image: 'x' }))).toBe(false);
    expect(parseFilter('image!=""').match(obj({}))).toBe(false);
    expect(parseFilter('image!=""').match(obj({ image: 'y' }))).toBe(true);
    expect(parseFilter('labels.k!=v').match(obj({}, {}))).toBe(true);
  });

  it('presence-only selectors', () => {
    expect(parseFilter('labels.foo').match(obj({}, { foo: '' }))).toBe(true);
    expect(parseFilter('labels.foo').match(obj({}, { bar: 'x' }))).toBe(false);
    expect(parseFilter('image').match(obj({ image: 'x' }))).toBe(true);
    expect(parseFilter('image').match(obj({ image: '' }))).toBe(false);
    expect(parseFilter('image').match(obj({}))).toBe(false);
    expect(parseFilter('image,labels.foo').match(obj({ image: 'x' }, { foo: 'y' }))).toBe(true);
    expect(parseFilter('image,labels.foo').match(obj({ image: 'x' }))).toBe(false);
  });

  it('comma is AND, separate strings are OR', () => {
    const a = obj({ id: 'a', image: 'img1' });
    const b = obj({ id: 'b', image: 'img2' });
    const c = obj({ id: 'c', image: 'img1' });
    const and = parseFilter('image==img1,id==a');
    expect([a, b, c].map((x) => and.match(x))).toEqual([true, false, false]);
    const or = parseFilters(['id==a', 'id==b']);
    expect([a, b, c].map((x) => or.match(x))).toEqual([true, true, false]);
    const mixed = parseFilters(['image==img1,id==c', 'id==b']);
    expect([a, b, c].map((x) => mixed.match(x))).toEqual([false, true, true]);
  });

  it('no filters, or empty strings, match everything', () => {
    const x = obj({ id: 'x' });
    expect(parseFilters([]).match(x)).toBe(true);
    expect(parseFilters(['']).match(x)).toBe(true);
    expect(parseFilters(['', 'id==y']).match(x)).toBe(true);
    expect(parseFilters(undefined).match(x)).toBe(true);
    expect(parseFilter('')).toBe(always);
    expect(parseFilters([])).toBe(always);
  });

  it('skips whitespace at token starts', () => {
    expect(parseFilter('id == x').match(obj({ id: 'x' }))).toBe(true);
    expect(parseFilter(' id==x').match(obj({ id: 'x' }))).toBe(true);
    expect(parseFilter('id==x, image==y').match(obj({ id: 'x', image: 'y' }))).toBe(true);
    expect(parseFilter('labels. foo==x').match(obj({}, { foo: 'x' }))).toBe(true);
    expect(parseFilter('id==\t"x y"').match(obj({ id: 'x y' }))).toBe(true);
  });

  it('quoted values use Go escapes', () => {
    expect(parseFilter('id=="a\\tb"').match(obj({ id: 'a\tb' }))).toBe(true);
    expect(parseFilter('id=="\\u00e9\\x41\\101\\U0001F600"').match(obj({ id: 'éAA😀' }))).toBe(true);
    expect(parseFilter('id=="\\xc3\\xa9"').match(obj({ id: 'é' }))).toBe(true);
    expect(parseFilter('id=="a,b c"').match(obj({ id: 'a,b c' }))).toBe(true);
    expect(parseFilter('id=="a\\"b\\\\"').match(obj({ id: 'a"b\\' }))).toBe(true);
    expect(parseFilter('id==""').match(obj({ id: '' }))).toBe(false);
  });

  it('regexp quotes /.../ and |...|', () => {
    expect(parseFilter('topic~=/^\\/tasks\\//').match(obj({ topic: '/tasks/exit' }))).toBe(true);
    expect(parseFilter('topic~=|a\\|b|').match(obj({ topic: 'xa|bx' }))).toBe(true);
    expect(parseFilter('topic~=|\\\\d+|').match(obj({ topic: 'abc123' }))).toBe(true);
    expect(parseFilter('topic~=|\\\\d+|').match(obj({ topic: 'abc' }))).toBe(false);
    expect(parseFilter('topic~="\\\\.json$"').match(obj({ topic: 'a.json' }))).toBe(true);
    expect(parseFilter('topic~="\\\\.json$"').match(obj({ topic: 'ajson' }))).toBe(false);
    // unquoted values keep backslashes verbatim
    expect(parseFilter('topic~=\\.json$').match(obj({ topic: 'a.json' }))).toBe(true);
  });

  it('field names may be quoted anywhere in the path', () => {
    expect(parseFilter('"labels"."x"==y').match(obj({}, { x: 'y' }))).toBe(true);
    expect(parseFilter('runtime.name==io.containerd.runc.v2').match(adaptFields({ 'runtime.name': 'io.containerd.runc.v2' }))).toBe(true);
  });

  it('passes the field path to the adaptor', () => {
    const seen: string[][] = [];
    const a = adaptorFunc((path) => {
      seen.push(path);
      return { value: '', present: false };
    });
    parseFilter('labels."containerd.io/gc.root",a.b.c==d,x~=y').match(a);
    expect(seen).toEqual([['labels', 'containerd.io/gc.root']]);
    seen.length = 0;
    parseFilters(['a.b.c!=d,"q.r"']).match(a);
    expect(seen).toEqual([['a', 'b', 'c'], ['q.r']]);
  });
});

describe('parse errors', () => {
  it('topic==/x style values need double quotes', () => {
    expect(errorOf('topic==/tasks/exit')).toBe('filters: parse error: [topic== >|/|< tasks/exit]: invalid quote encountered');
    expect(errorOf('topic!=|x|')).toBe('filters: parse error: [topic!= >|||< x|]: invalid quote encountered');
    expect(errorOf('topic==/x')).toBe('filters: parse error: [topic== >|/|< x]: quoted literal not terminated');
    expect(parseFilter('topic=="/tasks/exit"').match(adaptFields({ topic: '/tasks/exit' }))).toBe(true);
  });

  it('unterminated quotes', () => {
    expect(errorOf('id=="abc')).toBe('filters: parse error: [id== >|"|< abc]: quoted literal not terminated');
    expect(errorOf('labels."abc==x')).toBe('filters: parse error: [labels. >|"|< abc==x]: quoted literal not terminated');
    expect(errorOf('id~=|abc')).toBe('filters: parse error: [id~= >|||< abc]: quoted literal not terminated');
    expect(errorOf('id=="a\nb"')).toBe('filters: parse error: [id== >|"|< a\nb"]: quoted literal not terminated');
  });

  it('bad escapes', () => {
    expect(errorOf('id=="\\g"')).toBe('filters: parse error: [id== >|"|< \\g"]: illegal escape sequence');
    expect(errorOf('id=="\\xzz"')).toBe('filters: parse error: [id== >|"|< \\xzz"]: illegal numeric escape sequence');
    expect(errorOf('id~=|\\d|')).toBe('filters: parse error: [id~= >|||< \\d|]: illegal escape sequence');
    expect(errorOf('id=="\\|"')).toBe('filters: parse error: [id== >|"|< \\|"]: illegal escape sequence');
    expect(errorOf('id=="\\U00110000"')).toBe('filters: parse error: [id== >|"|< \\U00110000"]: unquoting failed: quote syntax error');
    expect(errorOf('id=="\\777"')).toBe('filters: parse error: [id== >|"|< \\777"]: unquoting failed: quote syntax error');
  });

  it('trailing comma and field separator', () => {
    expect(errorOf('name==foo,')).toBe('filters: parse error: [name==foo,]: expected field or quoted');
    expect(errorOf('labels.')).toBe('filters: parse error: [labels.]: expected field or quoted');
    expect(errorOf(',')).toBe('filters: parse error: [ >|,|< ]: expected field or quoted');
  });

  it('missing value', () => {
    expect(errorOf('id==')).toBe('filters: parse error: [id==]: expected value or quoted');
    expect(errorOf('id==,image==x')).toBe('filters: parse error: [id== >|,|< image==x]: expected value or quoted');
    expect(errorOf('id==.x')).toBe('filters: parse error: [id== >|.|< x]: expected value or quoted');
  });

  it('bad operators', () => {
    expect(errorOf('id=x')).toBe('filters: parse error: [id >|=|< x]: unsupported operator "="');
    expect(errorOf('id===x')).toBe('filters: parse error: [id >|=|< ==x]: unsupported operator "==="');
    expect(errorOf('id!x')).toBe('filters: parse error: [id >|!|< x]: unsupported operator "!"');
    expect(errorOf('id?x')).toBe('filters: parse error: [id >|?|< x]: expected an operator ("=="|"!="|"~=")');
    expect(errorOf('id x')).toBe('filters: parse error: [id  >|x|< ]: expected an operator ("=="|"!="|"~=")');
  });

  it('trailing or stray input', () => {
    expect(errorOf('id==x ')).toBe('filters: parse error: [id==x >| |< ]: unexpected input:  ');
    expect(errorOf('id==x ,y')).toBe('filters: parse error: [id==x >| |< ,y]: unexpected input:  ');
    expect(errorOf('id=="x"y')).toBe('filters: parse error: [id=="x" >|y|< ]: unexpected input: y');
    expect(errorOf('id==x\x00')).toBe('filters: parse error: [id==x >|\x00|< ]: unexpected input: \ufffd');
    expect(errorOf('id\x00')).toBe('filters: parse error: [id >|\x00|< ]: unexpected null');
  });

  it('raw label keys with a slash are a parse error (quote them)', () => {
    expect(errorOf('labels.containerd.io/gc.root')).toBe(
      'filters: parse error: [labels.containerd.io >|/|< gc.root]: quoted literal not terminated',
    );
  });

  it('reports byte positions for non-ASCII input', () => {
    const err = parseError(() => parseFilter('牛==x,'));
    expect(err.position).toBe(0);
    expect(err.reason).toBe('expected field or quoted');
    const err2 = parseError(() => parseFilter('a==牛 '));
    expect(err2.position).toBe(6);
    expect(err2.context).toBe('filters: parse error: [a==牛 >| |< ]: unexpected input:  ');
  });

  it('invalid regexps parse but never match, as containerd compiles them lazily', () => {
    const a = adaptFields({ id: '(' });
    for (const f of ['id~=(', 'id~=/[abc/', 'x==y,id~=a**', 'id~=*']) {
      expect(parseFilter(f).match(a)).toBe(false);
    }
    expect(parseFilters(['id~=(', 'id==(']).match(a)).toBe(true);
  });

  it('FilterParseError carries input, position and reason; message ends with the class', () => {
    const err = parseError(() => parseFilters(['id==x', 'image==/x/']));
    expect(err.input).toBe('image==/x/');
    expect(err.position).toBe(7);
    expect(err.reason).toBe('invalid quote encountered');
    expect(err.message).toBe('filters: parse error: [image== >|/|< x/]: invalid quote encountered: invalid argument');
    expect(err.errorClass).toBe('invalid argument');
  });
});

describe('Go regexp translation', () => {
  const m = (re: string, s: string) => compileGoRegexp(re).test(s);
  const goErr = (re: string): string => {
    try {
      compileGoRegexp(re);
    } catch (err) {
      expect(err).toBeInstanceOf(GoRegexpError);
      return (err as Error).message;
    }
    throw new Error(`expected ${re} to be rejected`);
  };

  it('. excludes only \\n unless (?s)', () => {
    expect(m('^a.b$', 'a\rb')).toBe(true);
    expect(m('^a.b$', 'a\u2028b')).toBe(true);
    expect(m('^a.b$', 'a\nb')).toBe(false);
    expect(m('(?s)^a.b$', 'a\nb')).toBe(true);
    expect(m('^.$', '😀')).toBe(true);
  });

  it('Perl classes are ASCII', () => {
    expect(m('^\\s$', '\u00a0')).toBe(false);
    expect(m('^\\s$', '\v')).toBe(false);
    expect(m('^\\s+$', ' \t\n\f\r')).toBe(true);
    expect(m('^\\w$', 'é')).toBe(false);
    expect(m('^\\d$', '٣')).toBe(false);
    expect(m('^\\D\\S\\W$', 'a\u00a0é')).toBe(true);
    expect(m('\\bfoo\\b', 'a foo b')).toBe(true);
    expect(m('\\Bfoo', 'afoo')).toBe(true);
  });

  it('anchors: text anchors by default, line anchors with (?m)', () => {
    expect(m('^b', 'a\nb')).toBe(false);
    expect(m('(?m)^b', 'a\nb')).toBe(true);
    expect(m('a$', 'a\nb')).toBe(false);
    expect(m('a$', 'a\n')).toBe(false);
    expect(m('(?m)a$', 'a\nb')).toBe(true);
    expect(m('(?m)a$', 'a\rb')).toBe(false);
    expect(m('\\Aa', 'a')).toBe(true);
    expect(m('a\\z', 'ba')).toBe(true);
    expect(m('(?m)\\Ab', 'a\nb')).toBe(false);
  });

  it('case folding, scoped flags', () => {
    expect(m('(?i)^abc$', 'AbC')).toBe(true);
    expect(m('(?i)^k$', '\u212a')).toBe(true); // Kelvin sign folds to k
    expect(m('(?i)^[a-z]+$', 'HELLO')).toBe(true);
    expect(m('(?i)^[^k]$', 'K')).toBe(false);
    expect(m('^a(?i)b$', 'aB')).toBe(true);
    expect(m('^a(?i)b$', 'AB')).toBe(false);
    expect(m('^(?i:a)b$', 'Ab')).toBe(true);
    expect(m('^(?i:a)b$', 'AB')).toBe(false);
    expect(m('(?i)^a(?-i)b$', 'Ab')).toBe(true);
    expect(m('(?i)^a(?-i)b$', 'AB')).toBe(false);
    expect(m('^(?i)a|b$', 'xB')).toBe(true);
    expect(m('(?i)^\\W$', 's')).toBe(false);
    expect(m('(?i)^\\W$', '\u017f')).toBe(false); // long s folds into \w
    expect(m('(?i)^\\p{Lu}$', 'a')).toBe(true);
    expect(m('(?i)^[[:upper:]]$', 'a')).toBe(true);
  });

  it('repetition: greedy, lazy, counted, (?U)', () => {
    expect(m('^a{2,3}$', 'aaa')).toBe(true);
    expect(m('^a{2,3}$', 'aaaa')).toBe(false);
    expect(m('^a{2}$', 'aa')).toBe(true);
    expect(m('^a{2,}$', 'aaaaa')).toBe(true);
    expect(m('^a*?b$', 'aab')).toBe(true);
    expect(m('(?U)^a+b$', 'aab')).toBe(true);
    expect(m('^a{,3}$', 'a{,3}')).toBe(true); // not a repeat: literal
    expect(m('^a{01}$', 'a{01}')).toBe(true);
    expect(m('^x{$', 'x{')).toBe(true);
    expect(m('^}$', '}')).toBe(true);
    expect(m('^]$', ']')).toBe(true);
    expect(m('^*', 'x')).toBe(true);
    expect(m('a*(?i)*', 'x')).toBe(true);
  });

  it('classes', () => {
    expect(m('^[]a]+$', ']a')).toBe(true);
    expect(m('^[^]a]$', 'b')).toBe(true);
    expect(m('^[a-]+$', 'a-')).toBe(true);
    expect(m('^[\\d-z]+$', '1-z')).toBe(true);
    expect(m('^[[:alpha:][:digit:]]+$', 'ab12')).toBe(true);
    expect(m('^[[:^alpha:]]$', 'a')).toBe(false);
    expect(m('^[^a]$', '\n')).toBe(true);
    expect(m('^[\\x{1F600}-\\x{1F64F}]$', '😃')).toBe(true);
    expect(m('^[\\p{Greek}]+$', 'αβγ')).toBe(true);
    expect(m('^\\pL+$', 'héllo')).toBe(true);
    expect(m('^\\PL$', '1')).toBe(true);
    expect(m('^\\p{^L}$', 'a')).toBe(false);
    expect(m('^\\p{Any}$', '\n')).toBe(true);
    expect(m('^[\\[\\]]+$', '[]')).toBe(true);
    expect(m('^[.]$', 'x')).toBe(false);
  });

  it('escapes and literals', () => {
    expect(m('^\\Qa.b*\\E$', 'a.b*')).toBe(true);
    expect(m('^\\Qa.b', 'axb')).toBe(false);
    expect(m('^\\101\\x42\\x{43}\\0$', 'ABC\0')).toBe(true);
    expect(m('^\\.\\*\\/\\_$', '.*/_')).toBe(true);
    expect(m('^\\a\\f\\t\\n\\r\\v$', '\x07\f\t\n\r\v')).toBe(true);
    expect(m('^(?P<name>x)|(y)$', 'y')).toBe(true);
    expect(m('^(?:ab)+$', 'abab')).toBe(true);
    expect(m('', 'anything')).toBe(true);
    expect(m('^$', '')).toBe(true);
  });

  it('matches in time linear in the input, whatever the pattern (a backtracking engine: ~4 s for the first at 28)', () => {
    const t0 = Date.now();
    expect(m('(a+)+$', `${'a'.repeat(28)}b`)).toBe(false);
    expect(m('(a|aa)+$', `${'a'.repeat(40)}b`)).toBe(false);
    expect(m('^(\\w+\\s?)*$', `${'word '.repeat(30)}!`)).toBe(false);
    expect(m('(a+)+$', `${'a'.repeat(10_000)}b`)).toBe(false);
    expect(m('(a+)+$', 'a'.repeat(10_000))).toBe(true);
    expect(Date.now() - t0).toBeLessThan(1000);
  });

  it('rejects what Go rejects', () => {
    expect(goErr('(')).toBe('error parsing regexp: missing closing ): `(`');
    expect(goErr('a)')).toBe('error parsing regexp: unexpected ): `a)`');
    expect(goErr('[a')).toBe('error parsing regexp: missing closing ]: `[a`');
    expect(goErr('a**')).toBe('error parsing regexp: invalid nested repetition operator: `**`');
    expect(goErr('a{2}{3}')).toBe('error parsing regexp: invalid nested repetition operator: `{2}{3}`');
    expect(goErr('*')).toBe('error parsing regexp: missing argument to repetition operator: `*`');
    expect(goErr('(+)')).toBe('error parsing regexp: missing argument to repetition operator: `+`');
    expect(goErr('a|?')).toBe('error parsing regexp: missing argument to repetition operator: `?`');
    expect(goErr('a{1001}')).toBe('error parsing regexp: invalid repeat count: `{1001}`');
    expect(goErr('a{3,2}')).toBe('error parsing regexp: invalid repeat count: `{3,2}`');
    expect(goErr('\\1')).toBe('error parsing regexp: invalid escape sequence: `\\1`');
    expect(goErr('\\q')).toBe('error parsing regexp: invalid escape sequence: `\\q`');
    expect(goErr('\\C')).toBe('error parsing regexp: invalid escape sequence: `\\C`');
    expect(goErr('\\Z')).toBe('error parsing regexp: invalid escape sequence: `\\Z`');
    expect(goErr('[\\b]')).toBe('error parsing regexp: invalid escape sequence: `\\b`');
    expect(goErr('\\x{110000}')).toContain('invalid escape sequence');
    expect(goErr('a\\')).toBe('error parsing regexp: trailing backslash at end of expression: ``');
    expect(goErr('[z-a]')).toBe('error parsing regexp: invalid character class range: `z-a`');
    expect(goErr('[[:foo:]]')).toBe('error parsing regexp: invalid character class range: `[:foo:]`');
    expect(goErr('\\p{Foo}')).toBe('error parsing regexp: invalid character class range: `\\p{Foo}`');
    expect(goErr('\\pX')).toBe('error parsing regexp: invalid character class range: `\\pX`');
    expect(goErr('(?=a)')).toBe('error parsing regexp: invalid or unsupported Perl syntax: `(?=`');
    expect(goErr('(?!a)')).toBe('error parsing regexp: invalid or unsupported Perl syntax: `(?!`');
    expect(goErr('(?i-)a')).toBe('error parsing regexp: invalid or unsupported Perl syntax: `(?i-)`');
    expect(goErr('(?P<a-b>x)')).toBe('error parsing regexp: invalid named capture: `(?P<a-b>`');
    expect(goErr('(?P<name')).toBe('error parsing regexp: invalid named capture: `(?P<name`');
    expect(goErr('('.repeat(1002) + ')'.repeat(1002))).toContain('expression nests too deeply');
  });
});

describe('adaptFields', () => {
  it('string fields are present iff non-empty', () => {
    const a = adaptFields({ id: 'x', image: '', runtime: undefined, 'runtime.name': 'io.containerd.runc.v2' });
    expect(a.field(['id'])).toEqual({ value: 'x', present: true });
    expect(a.field(['image'])).toEqual({ value: '', present: false });
    expect(a.field(['runtime'])).toEqual({ value: '', present: false });
    expect(a.field(['runtime', 'name'])).toEqual({ value: 'io.containerd.runc.v2', present: true });
    expect(a.field(['missing'])).toEqual({ value: '', present: false });
    expect(a.field(['toString'])).toEqual({ value: '', present: false });
    expect(a.field([])).toEqual({ value: '', present: false });
  });

  it('map lookups re-join the remaining path with dots', () => {
    const labels = { 'containerd.io/gc.root': 'now', plain: 'v', empty: '' };
    const a = adaptFields({ name: 'img' }, { labels, annotations: new Map([['org.opencontainers.image.ref.name', 'latest']]) });
    expect(a.field(['labels', 'containerd', 'io/gc', 'root'])).toEqual({ value: 'now', present: true });
    expect(a.field(['labels', 'containerd.io/gc.root'])).toEqual({ value: 'now', present: true });
    expect(a.field(['labels', 'plain'])).toEqual({ value: 'v', present: true });
    expect(a.field(['labels', 'empty'])).toEqual({ value: '', present: true });
    expect(a.field(['labels', 'nope'])).toEqual({ value: '', present: false });
    expect(a.field(['labels'])).toEqual({ value: '', present: false });
    expect(a.field(['labels', 'hasOwnProperty'])).toEqual({ value: '', present: false });
    expect(a.field(['annotations', 'org', 'opencontainers', 'image', 'ref', 'name'])).toEqual({ value: 'latest', present: true });
    expect(a.field(['name'])).toEqual({ value: 'img', present: true });
  });

  it('supports dotted map prefixes, longest first', () => {
    const a = adaptFields({ 'event.id': 'e1' }, { 'event.labels': { k: 'v' }, event: { labels: 'shadowed' } });
    expect(a.field(['event', 'labels', 'k'])).toEqual({ value: 'v', present: true });
    expect(a.field(['event', 'labels'])).toEqual({ value: '', present: false });
    expect(a.field(['event', 'id'])).toEqual({ value: '', present: false }); // the 'event' map wins over fields
  });

  it('drives filters end to end', () => {
    const container = adaptFields(
      { id: 'c1', image: 'docker.io/library/alpine:latest', 'runtime.name': 'io.containerd.runc.v2' },
      { labels: { 'io.kubernetes.pod.name': 'web', 'containerd.io/restart.status': 'running' } },
    );
    expect(parseFilters(['labels."io.kubernetes.pod.name"==web']).match(container)).toBe(true);
    expect(parseFilters(['labels.io.kubernetes.pod.name==web']).match(container)).toBe(true);
    expect(parseFilters(['runtime.name~=runc']).match(container)).toBe(true);
    expect(parseFilters(['image~=^docker\\.io/library/', 'id==zzz']).match(container)).toBe(true);
    expect(parseFilters(['id!=c1', 'labels.nope']).match(container)).toBe(false);
  });
});
