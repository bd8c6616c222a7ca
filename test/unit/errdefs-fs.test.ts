import { describe, expect, it } from 'vitest';
import { fsError, levelError, nodeFsError } from '../../src/errdefs/fs';
import { NotFoundError, UnknownError } from '../../src/errdefs/errors';
import { toServiceError } from '../../src/errdefs/grpc';

function errno(code: string, extra: Record<string, string> = {}): Error {
  return Object.assign(new Error(`${code}: something, write`), { code, ...extra });
}

describe('disk errors in containerd shape', () => {
  it('names the file and maps to Unknown with Go errno text', () => {
    const e = fsError(errno('ENOSPC'), 'write', '/r/content/ingest/abc/data');
    expect(e).toBeInstanceOf(UnknownError);
    const s = toServiceError(e);
    expect(s.code).toBe(2);
    expect(s.details).toBe('write /r/content/ingest/abc/data: no space left on device');
    expect((fsError(errno('EDQUOT'), 'open', '/x') as Error).message).toBe('open /x: disk quota exceeded');
    expect((fsError(errno('EROFS'), 'mkdir', '/x') as Error).message).toBe('mkdir /x: read-only file system');
  });

  it('leaves other errors and berth errors as they are', () => {
    const enoent = errno('ENOENT');
    expect(fsError(enoent, 'open', '/x')).toBe(enoent);
    const nf = new NotFoundError('content x');
    expect(fsError(nf, 'open', '/x')).toBe(nf);
  });

  it('takes op and path from a Node path error', () => {
    const e = nodeFsError(errno('ENOSPC', { syscall: 'mkdtemp', path: '/r/snapshots/new-XXXXXX' }), 'mkdir', '/fallback');
    expect((e as Error).message).toBe('mkdtemp /r/snapshots/new-XXXXXX: no space left on device');
  });

  it("reads LevelDB's status out of classic-level's cause chain", () => {
    const cause = new Error('IO error: /r/meta/000005.ldb: No space left on device');
    const err = Object.assign(new Error('Database failed to open'), { cause });
    expect((levelError(err, '/r/meta') as Error).message).toBe('write /r/meta/000005.ldb: no space left on device');
    const other = new Error('Corruption: bad block');
    expect(levelError(other, '/r/meta')).toBe(other);
  });
});
