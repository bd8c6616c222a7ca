// Schema migrations for the LevelDBs MetadataDB opens: berthd's metadata and each
// snapshotter's own records (src/snapshotter/storage.ts), which share the schema key.
//
// A step maps one stored entry of version N to version N+1: the same Buffer when
// nothing changes, new bytes to rewrite it, null to delete it. MetadataDB.open runs the
// steps in order, each as one synced batch.

import { formatWall, parseWall } from '../time/wall';

export type MigrationStep = (key: string, value: Buffer) => Buffer | null;

/** The fields of JSON records that hold times, in every kind of either database
 * (namespaces, leases, images, content, ingests, snapshot records of both layers). */
const TIME_FIELDS = ['createdAt', 'updatedAt', 'startedAt', 'expireAt'] as const;

/** Container records (v1/<ns>/containers/<id>) are kept in wire form (protobuf), whose
 * Timestamps already had room for nanoseconds: nothing to change. */
const CONTAINER_KEY = /^v1\/[^/]+\/containers\//;

/**
 * 1 → 2: times were Date.toISOString() ("…T20:01:22.194Z", milliseconds); now they are
 * RFC 3339 with nine fraction digits ("…T20:01:22.194000000Z"). The same instant,
 * exactly: nothing is lost, and every stored time has one format from here on.
 */
function timesToNanoseconds(key: string, value: Buffer): Buffer {
  if (CONTAINER_KEY.test(key) || value[0] !== 0x7b /* '{' */) return value;
  let rec: unknown;
  try {
    rec = JSON.parse(value.toString('utf8'));
  } catch {
    return value; // not a JSON record: not ours to rewrite
  }
  if (rec === null || typeof rec !== 'object' || Array.isArray(rec)) return value;
  const obj = rec as Record<string, unknown>;
  let changed = false;
  for (const field of TIME_FIELDS) {
    const v = obj[field];
    if (typeof v !== 'string') continue;
    const t = parseWall(v);
    if (!t) continue; // unreadable before, unreadable after: leave it as it was
    const next = formatWall(t);
    if (next !== v) {
      obj[field] = next;
      changed = true;
    }
  }
  return changed ? Buffer.from(JSON.stringify(obj), 'utf8') : value;
}

/** Step from version N (the key) to N+1. */
export const MIGRATIONS: ReadonlyMap<number, MigrationStep> = new Map([[1, timesToNanoseconds]]);
