import { AlreadyExistsError, InvalidArgumentError, NotFoundError, NotImplementedError } from '../errdefs/errors';
import { parseListFilters } from '../filters/list';
import { adaptFields } from '../filters/adaptors';
import type { MetadataDB, Stored, WriteTx } from './db';
import { dec, leaseResourceKey, leaseResourcePrefix, objectKey, objectPrefix } from './keys';
import { cleanLabels } from './labels';
import { labelsFrom, storeTime, timeFrom } from './codec';
import { parseWall, type WallTime } from '../time/wall';
import type { Labels, LeaseRecord, LeaseResource } from './records';

const KIND = 'leases';
export const EXPIRE_LABEL = 'containerd.io/gc.expire';
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function toRecord(id: string, s: Stored): LeaseRecord {
  return { id, labels: labelsFrom(s), createdAt: timeFrom(s, 'createdAt') };
}

/** containerd's parseLeaseResource: the resource types a lease can hold. */
function checkResource(r: LeaseResource): LeaseResource {
  const parts = r.type.split('/');
  switch (parts[0]) {
    case 'content':
    case 'ingests':
      if (parts.length !== 1) throw new InvalidArgumentError(`invalid resource type ${r.type}`);
      if (parts[0] === 'content' && !DIGEST_RE.test(r.id)) {
        throw new InvalidArgumentError(`invalid content resource id ${r.id}: invalid digest`);
      }
      return r;
    case 'snapshots':
      if (parts.length !== 2) throw new InvalidArgumentError(`invalid snapshot resource type ${r.type}`);
      return r;
    default:
      throw new NotImplementedError(`resource type ${r.type} not supported yet`);
  }
}

/** When a lease stops protecting anything: its gc.expire label, if it parses as
 * RFC 3339 (containerd: time.Parse(time.RFC3339, …); fraction digits allowed). */
export function leaseExpiry(labels: Labels): WallTime | undefined {
  const v = labels[EXPIRE_LABEL];
  return v ? parseWall(v) : undefined;
}

export class LeaseStore {
  constructor(private readonly db: MetadataDB) {}

  async create(ns: string, id: string, labels: Labels): Promise<LeaseRecord> {
    if (id === '') throw new InvalidArgumentError('lease id must be provided');
    return this.db.update(async (tx) => {
      await tx.ensureNamespace(ns);
      const key = objectKey(ns, KIND, id);
      if (await tx.has(key)) throw new AlreadyExistsError(`lease "${id}"`);
      const rec = { labels: cleanLabels(labels), createdAt: storeTime(tx.now) };
      tx.put(key, rec);
      return toRecord(id, rec);
    });
  }

  async get(ns: string, id: string): Promise<LeaseRecord> {
    const s = await this.db.get(objectKey(ns, KIND, id));
    if (!s) throw new NotFoundError(`lease "${id}"`);
    return toRecord(id, s);
  }

  async delete(ns: string, id: string): Promise<void> {
    await this.db.update(async (tx) => {
      const key = objectKey(ns, KIND, id);
      if (!(await tx.has(key))) throw new NotFoundError(`lease "${id}"`);
      tx.del(key);
      for (const [k] of await tx.scanRaw(leaseResourcePrefix(ns, id))) tx.del(k);
    });
  }

  async list(ns: string, filters: readonly string[]): Promise<LeaseRecord[]> {
    const filter = parseListFilters(filters);
    const prefix = objectPrefix(ns, KIND);
    const out: LeaseRecord[] = [];
    for await (const [k, s] of this.db.scan(prefix)) {
      const l = toRecord(dec(k.slice(prefix.length)), s);
      if (filter.match(adaptFields({ id: l.id }, { labels: l.labels }))) out.push(l);
    }
    return out;
  }

  async addResource(ns: string, id: string, r: LeaseResource): Promise<void> {
    await this.db.update(async (tx) => {
      if (!(await tx.has(objectKey(ns, KIND, id)))) throw new NotFoundError(`lease "${id}"`);
      const res = checkResource(r);
      tx.put(leaseResourceKey(ns, id, res.type, res.id), {});
    });
  }

  async deleteResource(ns: string, id: string, r: LeaseResource): Promise<void> {
    await this.db.update(async (tx) => {
      if (!(await tx.has(objectKey(ns, KIND, id)))) throw new NotFoundError(`lease "${id}"`);
      const res = checkResource(r);
      tx.del(leaseResourceKey(ns, id, res.type, res.id));
    });
  }

  async listResources(ns: string, id: string): Promise<LeaseResource[]> {
    if (!(await this.db.get(objectKey(ns, KIND, id)))) throw new NotFoundError(`lease "${id}"`);
    const prefix = leaseResourcePrefix(ns, id);
    const out: LeaseResource[] = [];
    for await (const [k] of this.db.scan(prefix)) {
      const [type, rid] = k.slice(prefix.length).split('/');
      out.push({ type: dec(type ?? ''), id: dec(rid ?? '') });
    }
    // containerd lists content, then ingests, then snapshots.
    const order = (t: string): number => (t === 'content' ? 0 : t === 'ingests' ? 1 : 2);
    return out.sort((a, b) => order(a.type) - order(b.type));
  }
}

/**
 * Inside another store's transaction: record that the caller's lease (the
 * containerd-lease header) holds a resource. No lease → nothing to do; a lease that does
 * not exist → NotFound, as containerd answers.
 */
export async function leaseResourceInTx(tx: WriteTx, ns: string, lease: string | undefined, res: LeaseResource): Promise<void> {
  if (!lease) return;
  if (!(await tx.has(objectKey(ns, KIND, lease)))) throw new NotFoundError('lease does not exist');
  tx.put(leaseResourceKey(ns, lease, res.type, res.id), {});
}

/** Inside a transaction: the lease no longer holds the resource (missing lease: no-op). */
export function dropLeaseResourceInTx(tx: WriteTx, ns: string, lease: string | undefined, res: LeaseResource): void {
  if (!lease) return;
  tx.del(leaseResourceKey(ns, lease, res.type, res.id));
}
