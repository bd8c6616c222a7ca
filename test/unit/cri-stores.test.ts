import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../src/errdefs/errors';
import { TruncIndex, AmbiguousPrefixError } from '../../src/cri/truncindex';
import { ContainerStatusStore, emptyStatus, stateOf } from '../../src/cri/container_status_file';
import { NameIndex } from '../../src/cri/name_index';
import { LogLineSplitter } from '../../src/cri/log_lines';
import { rfc3339Nano } from '../../src/cri/time';

describe('TruncIndex', () => {
  it('finds ids by unique prefix and refuses ambiguous or empty ones', () => {
    const idx = new TruncIndex();
    idx.add('abc123');
    idx.add('abd456');
    idx.add('ff00');
    expect(idx.get('abc')).toBe('abc123');
    expect(idx.get('abd456')).toBe('abd456');
    expect(idx.get('f')).toBe('ff00');
    expect(() => idx.get('ab')).toThrow(AmbiguousPrefixError);
    expect(() => idx.get('ab')).toThrow('Multiple IDs found with provided prefix: ab');
    expect(() => idx.get('zz')).toThrow(NotFoundError);
    expect(() => idx.get('')).toThrow("Prefix can't be empty");
    expect(() => idx.add('abc123')).toThrow('already exists');
    expect(idx.delete('abd456')).toBe(true);
    expect(idx.get('ab')).toBe('abc123');
    expect(idx.delete('abd456')).toBe(false);
  });
});

describe('NameIndex', () => {
  it('reserves a name for one id', () => {
    const n = new NameIndex();
    n.reserve('pod_ns_uid_0', 'a');
    n.reserve('pod_ns_uid_0', 'a');
    expect(() => n.reserve('pod_ns_uid_0', 'b')).toThrow('name "pod_ns_uid_0" is reserved for "a"');
    n.releaseById('a');
    n.reserve('pod_ns_uid_0', 'b');
  });
});

describe('ContainerStatusStore', () => {
  let dir: string;
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('persists every synced update atomically and keeps in-memory flags out of the file', async () => {
    dir = mkdtempSync(join(tmpdir(), 'cri-status-'));
    const st = await ContainerStatusStore.create(dir, { ...emptyStatus(), createdAt: 1_700_000_000_123_456_789n });
    expect(stateOf(st.get())).toBe('CONTAINER_CREATED');
    st.update((s) => ({ ...s, starting: true }));
    await st.updateSync((s) => ({ ...s, pid: 42, startedAt: 1_700_000_001_000_000_001n }));
    expect(st.get().starting).toBe(true);
    expect(stateOf(st.get())).toBe('CONTAINER_RUNNING');
    const loaded = await ContainerStatusStore.load(dir);
    expect(loaded.pid).toBe(42);
    expect(loaded.startedAt).toBe(1_700_000_001_000_000_001n);
    expect(loaded.createdAt).toBe(1_700_000_000_123_456_789n);
    expect(loaded.starting).toBe(false);
    expect(JSON.parse(readFileSync(join(dir, 'status'), 'utf8')).Version).toBe('v1');
    await expect(st.updateSync(() => {
      throw new Error('refused');
    })).rejects.toThrow('refused');
    expect(st.get().pid).toBe(42);
    await st.updateSync((s) => ({ ...s, finishedAt: 1_700_000_002_000_000_000n, exitCode: 3, reason: 'Error' }));
    expect(stateOf(await ContainerStatusStore.load(dir))).toBe('CONTAINER_EXITED');
    writeFileSync(join(dir, 'status'), '{"Version":"v9"}');
    await expect(ContainerStatusStore.load(dir)).rejects.toThrow('unsupported version');
  });
});

describe('CRI log lines', () => {
  const run = (max: number, chunks: string[]): string[] => {
    const out: string[] = [];
    const s = new LogLineSplitter(max, (tag, c) => out.push(`${tag}:${c.toString()}`));
    for (const c of chunks) s.push(Buffer.from(c));
    s.end();
    return out;
  };

  it('tags full lines F, drops \\n and \\r\\n, and a tail without newline is P', () => {
    expect(run(16384, ['a\nbb\r\n', 'c', 'c\n\n', 'tail'])).toEqual(['F:a', 'F:bb', 'F:cc', 'F:', 'P:tail']);
  });

  it('splits long lines at maxLen as containerd does', () => {
    expect(run(4, ['abcd\n'])).toEqual(['F:abcd']);
    expect(run(4, ['abcde\n'])).toEqual(['P:abcd', 'F:e']);
    expect(run(4, ['ab', 'cdefghij', 'k\n'])).toEqual(['P:abcd', 'P:efgh', 'F:ijk']);
    expect(run(4, ['abcdefgh'])).toEqual(['P:abcd', 'P:efgh']);
    expect(run(4, ['x\r'])).toEqual(['P:x\r']);
    expect(run(4, ['x\r', '\ny'])).toEqual(['F:x', 'P:y']);
  });

  it('prints times as Go RFC3339Nano in UTC', () => {
    expect(rfc3339Nano({ seconds: 1_700_000_000, nanos: 120_000_000 })).toBe('2023-11-14T22:13:20.12Z');
    expect(rfc3339Nano({ seconds: 1_700_000_000, nanos: 0 })).toBe('2023-11-14T22:13:20Z');
    expect(rfc3339Nano({ seconds: 1_700_000_000, nanos: 5 })).toBe('2023-11-14T22:13:20.000000005Z');
  });
});
