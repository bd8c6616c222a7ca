// On-disk layout of an ingest (an in-flight write), as containerd's local store keeps it:
//
//   <root>/ingest/<sha256(ref) hex>/ref        the ref, verbatim
//                                   data       the bytes written so far
//                                   startedat  RFC 3339 timestamp
//                                   updatedat  RFC 3339 timestamp (data's mtime may be newer)
//                                   total      expected size, decimal (absent = unknown)
//                                   expected   expected digest (berth only; absent = unknown)
//
// Small files are replaced atomically (write <name>.tmp, rename); a crash can leave a
// *.tmp behind, which LocalContentStore.open removes.

import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { join } from 'node:path';
import { NotFoundError } from '../errdefs/errors';
import { onPath } from '../errdefs/fs';
import type { IngestStatus } from './store';
import { formatWall, laterWall, parseWall, wallFromNs, type WallTime } from '../time/wall';

export const INGEST_DIR = 'ingest';
export const TMP_SUFFIX = '.tmp';

export interface IngestPaths {
  /** The ingest directory. */
  dir: string;
  ref: string;
  data: string;
  startedAt: string;
  updatedAt: string;
  total: string;
  expected: string;
}

/** Directory name of ref's ingest: the hex sha256 of the ref (constant length, any ref). */
export function ingestKey(ref: string): string {
  return createHash('sha256').update(ref).digest('hex');
}

export function ingestPathsOf(dir: string): IngestPaths {
  return {
    dir,
    ref: join(dir, 'ref'),
    data: join(dir, 'data'),
    startedAt: join(dir, 'startedat'),
    updatedAt: join(dir, 'updatedat'),
    total: join(dir, 'total'),
    expected: join(dir, 'expected'),
  };
}

export function ingestPaths(root: string, ref: string): IngestPaths {
  return ingestPathsOf(join(root, INGEST_DIR, ingestKey(ref)));
}

export function isErrno(err: unknown, code: string): boolean {
  return typeof err === 'object' && err !== null && (err as NodeJS.ErrnoException).code === code;
}

/** Replace a small file atomically (no fsync: a lost file only makes the ingest restart). */
export async function writeSmallFile(path: string, content: string): Promise<void> {
  const tmp = path + TMP_SUFFIX;
  await onPath('write', tmp, fsp.writeFile(tmp, content, { mode: 0o644 }));
  await onPath('rename', `${tmp} ${path}`, fsp.rename(tmp, path));
}

/** RFC 3339 with nanoseconds, as containerd writes these files (time.MarshalText). */
export function formatTimestamp(t: WallTime): string {
  return formatWall(t);
}

/** Reads what formatTimestamp, containerd, and berth before nanoseconds (Date's
 * milliseconds) wrote: ingests outlive daemon upgrades and are not migrated. */
export function parseTimestamp(s: string, path: string): WallTime {
  const t = parseWall(s.trim());
  if (!t) throw new Error(`could not parse timestamp file ${path}: ${JSON.stringify(s)}`);
  return t;
}

async function readOptional(path: string): Promise<string | undefined> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return undefined;
    throw err;
  }
}

async function readRequired(path: string): Promise<string> {
  try {
    return await fsp.readFile(path, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new NotFoundError(`open ${path}: no such file or directory`);
    throw err;
  }
}

async function readTimestamp(path: string, what: string): Promise<WallTime> {
  try {
    return parseTimestamp(await readRequired(path), path);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (err instanceof NotFoundError) throw new NotFoundError(`could not read ${what}: ${err.context}`);
    throw new Error(`could not read ${what}: ${msg}`);
  }
}

/** The recorded total (0 when absent or unreadable, like containerd). */
export async function readTotal(p: IngestPaths): Promise<number> {
  const s = await readOptional(p.total).catch(() => undefined);
  if (s === undefined) return 0;
  const n = Number.parseInt(s.trim(), 10);
  return Number.isSafeInteger(n) && n > 0 ? n : 0;
}

/** The recorded expected digest ('' when absent). */
export async function readExpected(p: IngestPaths): Promise<string> {
  const s = await readOptional(p.expected).catch(() => undefined);
  return s === undefined ? '' : s.trim();
}

/**
 * Status of the ingest at p, from the files (containerd's store.status): offset is the
 * data file's size, updatedAt the later of `updatedat` and the data file's mtime.
 * NotFoundError if the data or ref file is missing.
 */
export async function readIngestStatus(p: IngestPaths): Promise<IngestStatus> {
  let size: number;
  let mtime: WallTime;
  try {
    // bigint: the kernel's mtime has nanoseconds, which a number of ms would round.
    const st = await fsp.stat(p.data, { bigint: true });
    size = Number(st.size);
    mtime = wallFromNs(st.mtimeNs);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new NotFoundError(`stat ${p.data}: no such file or directory`);
    throw err;
  }
  const ref = await readRequired(p.ref);
  const startedAt = await readTimestamp(p.startedAt, 'startedat');
  let updatedAt = await readTimestamp(p.updatedAt, 'updatedat');
  updatedAt = laterWall(updatedAt, mtime);
  const [total, expected] = await Promise.all([readTotal(p), readExpected(p)]);
  return { ref, offset: size, total, expected, startedAt, updatedAt };
}
