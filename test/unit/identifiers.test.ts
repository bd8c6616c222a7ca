import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../src/errdefs/errors';
import { isValidIdentifier, validateIdentifier } from '../../src/identifiers/validate';
import { validateLabel, validateLabels, validateTopic } from '../../src/identifiers/labels';
import { goQuote } from '../../src/identifiers/goquote';

const PATTERN = '^[A-Za-z0-9]+(?:[._-](?:[A-Za-z0-9]+))*$';

function thrown(fn: () => void): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error('expected an error');
}

describe('validateIdentifier', () => {
  it.each([
    'default',
    'moby',
    'plugins.moby',
    'k8s.io',
    'a',
    '0',
    'A1b2C3',
    'foo-bar_baz.qux',
    'a.b.c.d',
    'x'.repeat(76),
    'UPPER.lower-Mixed_123',
  ])('accepts %j', (s) => {
    expect(() => validateIdentifier(s)).not.toThrow();
    expect(isValidIdentifier(s)).toBe(true);
  });

  it('rejects the empty string', () => {
    const err = thrown(() => validateIdentifier(''));
    expect(err.message).toBe('identifier must not be empty: invalid argument');
    expect(err.context).toBe('identifier must not be empty');
  });

  it('rejects more than 76 characters', () => {
    const s = 'x'.repeat(77);
    const err = thrown(() => validateIdentifier(s));
    expect(err.message).toBe(`identifier "${s}" greater than maximum length (76 characters): invalid argument`);
  });

  it('measures the length in UTF-8 bytes, like Go len()', () => {
    // 38 two-byte runes = 76 bytes: the length check passes, the pattern fails.
    const s = 'é'.repeat(38);
    expect(thrown(() => validateIdentifier(s)).message).toContain('must match');
    const t = 'é'.repeat(39); // 78 bytes
    expect(thrown(() => validateIdentifier(t)).message).toContain('greater than maximum length (76 characters)');
  });

  it('reports the pattern like containerd', () => {
    const err = thrown(() => validateIdentifier('bad_ns!'));
    expect(err.message).toBe(`identifier "bad_ns!" must match ${PATTERN}: invalid argument`);
  });

  it.each([
    '-leading',
    'trailing-',
    '.dot',
    'dot.',
    '_under',
    'double--dash',
    'double..dot',
    'mixed._sep',
    'has space',
    'slash/inside',
    'colon:',
    'bad id!',
    'tab\there',
    'newline\n',
    'ünïcode',
  ])('rejects %j', (s) => {
    const err = thrown(() => validateIdentifier(s));
    expect(err.message).toBe(`identifier ${goQuote(s)} must match ${PATTERN}: invalid argument`);
    expect(isValidIdentifier(s)).toBe(false);
  });

  it('quotes the identifier with Go %q escapes', () => {
    expect(thrown(() => validateIdentifier('a\nb')).message).toBe(`identifier "a\\nb" must match ${PATTERN}: invalid argument`);
    expect(thrown(() => validateIdentifier('a"b')).message).toBe(`identifier "a\\"b" must match ${PATTERN}: invalid argument`);
  });
});

describe('goQuote', () => {
  it.each([
    ['plain', '"plain"'],
    ['', '""'],
    ['a"b\\c', '"a\\"b\\\\c"'],
    ['\x07\b\f\n\r\t\v', '"\\a\\b\\f\\n\\r\\t\\v"'],
    ['\x00\x1f\x7f', '"\\x00\\x1f\\x7f"'],
    ['héllo 世界', '"héllo 世界"'],
    ['\u00a0\u200b', '"\\u00a0\\u200b"'],
    ['\u{1F600}', '"\u{1F600}"'],
    ['\u{E0001}', '"\\U000e0001"'],
  ])('quotes %j as %s', (input, expected) => {
    expect(goQuote(input)).toBe(expected);
  });
});

describe('validateLabels', () => {
  it('accepts labels up to 4096 bytes of key+value', () => {
    expect(() => validateLabels({ a: 'b', 'containerd.io/gc.root': '2024-01-01T00:00:00Z' })).not.toThrow();
    expect(() => validateLabels({ k: 'v'.repeat(4095) })).not.toThrow();
    expect(() => validateLabels({ ['k'.repeat(2048)]: 'v'.repeat(2048) })).not.toThrow();
    expect(() => validateLabels({})).not.toThrow();
    expect(() => validateLabels(undefined)).not.toThrow();
  });

  it('rejects key+value over 4096 bytes, naming the first 10 bytes of the key', () => {
    const err = thrown(() => validateLabels({ ok: 'x', 'containerd.io/big': 'v'.repeat(4096) }));
    expect(err.message).toBe('label key and value greater than maximum size (4096 bytes), key: containerd: invalid argument');
  });

  it('keeps short keys whole', () => {
    const err = thrown(() => validateLabel('short', 'v'.repeat(4092)));
    expect(err.message).toBe('label key and value greater than maximum size (4096 bytes), key: short: invalid argument');
  });

  it('counts UTF-8 bytes', () => {
    // 2048 two-byte runes = 4096 bytes, plus a 1-byte key.
    expect(() => validateLabel('k', 'é'.repeat(2048))).toThrow(InvalidArgumentError);
    expect(() => validateLabel('k', 'é'.repeat(2047) + 'a')).not.toThrow();
  });

  it('allows empty values', () => {
    expect(() => validateLabels({ k: '' })).not.toThrow();
  });
});

describe('validateTopic', () => {
  it.each(['/tasks/exit', '/tasks/oom', '/containers/create', '/images/update', '/namespaces/delete', '/snapshot/prepare', '/a', '/a.b/c-d/e_f'])(
    'accepts %j',
    (t) => {
      expect(() => validateTopic(t)).not.toThrow();
    },
  );

  it('rejects an empty topic', () => {
    expect(thrown(() => validateTopic('')).message).toBe('must not be empty: invalid argument');
  });

  it("rejects a topic not starting with '/'", () => {
    expect(thrown(() => validateTopic('tasks/exit')).message).toBe("must start with '/': invalid argument");
  });

  it('rejects a topic without components', () => {
    expect(thrown(() => validateTopic('/')).message).toBe('must have at least one component: invalid argument');
  });

  it('validates every component as an identifier', () => {
    expect(thrown(() => validateTopic('/tasks/bad!')).message).toBe(
      `failed validation on component "bad!": identifier "bad!" must match ${PATTERN}: invalid argument`,
    );
    expect(thrown(() => validateTopic('/tasks//exit')).message).toBe(
      'failed validation on component "": identifier must not be empty: invalid argument',
    );
    expect(thrown(() => validateTopic('/tasks/')).message).toBe(
      'failed validation on component "": identifier must not be empty: invalid argument',
    );
  });
});
