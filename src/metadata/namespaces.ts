import {
  AlreadyExistsError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  verbatim,
  withContext,
} from '../errdefs/errors';
import { validateIdentifier } from '../identifiers/validate';
import { validateLabels } from '../identifiers/labels';
import type { MetadataDB, Stored, WriteTx } from './db';
import { dec, namespaceIndexPrefix, namespaceKey, namespacePrefix } from './keys';
import { cleanLabels, setLabel } from './labels';
import { labelsFrom, storeTime, timeFrom } from './codec';
import type { Labels, NamespaceRecord } from './records';

/** Object kinds whose presence makes a namespace non-empty, in containerd's report order.
 * Leases are not among them: they are removed with the namespace. */
const BLOCKING_KINDS: Array<{ kind: string; describe: (rest: string) => string }> = [
  { kind: 'images', describe: () => 'images' },
  { kind: 'content', describe: () => 'blobs' },
  { kind: 'containers', describe: () => 'containers' },
  { kind: 'snapshots', describe: (rest) => `snapshots on "${dec(rest.split('/')[0] ?? '')}" snapshotter` },
];

function toRecord(name: string, s: Stored): NamespaceRecord {
  return { name, labels: labelsFrom(s), createdAt: timeFrom(s, 'createdAt'), updatedAt: timeFrom(s, 'updatedAt') };
}

function validateNamespaceLabels(labels: Labels): void {
  withContext('namespace.Labels', () => validateLabels(labels));
}

export class NamespaceStore {
  constructor(private readonly db: MetadataDB) {}

  async create(name: string, labels: Labels): Promise<NamespaceRecord> {
    validateIdentifier(name);
    validateNamespaceLabels(labels);
    return this.db.update(async (tx) => {
      const key = namespaceKey(name);
      if (await tx.has(key)) throw new AlreadyExistsError(`namespace "${name}"`);
      const at = storeTime(tx.now);
      const rec = { labels: cleanLabels(labels), createdAt: at, updatedAt: at };
      tx.put(key, rec);
      return toRecord(name, rec);
    });
  }

  async get(name: string): Promise<NamespaceRecord> {
    const ns = await this.find(name);
    if (!ns) throw new NotFoundError(`namespace "${name}"`);
    return ns;
  }

  /** The namespace, or undefined if it does not exist (no error for a routine miss). */
  async find(name: string): Promise<NamespaceRecord | undefined> {
    const s = await this.db.get(namespaceKey(name));
    return s ? toRecord(name, s) : undefined;
  }

  async list(): Promise<NamespaceRecord[]> {
    const out: NamespaceRecord[] = [];
    for await (const [k, s] of this.db.scan(namespaceIndexPrefix)) {
      out.push(toRecord(dec(k.slice(namespaceIndexPrefix.length)), s));
    }
    return out;
  }

  /**
   * Update labels. With paths, only `labels.<key>` paths are allowed and each copies
   * (or, when absent/empty, deletes) that key; without paths the labels are replaced.
   * Like containerd, setting a label creates the namespace if it does not exist.
   */
  async update(name: string, labels: Labels, paths: readonly string[]): Promise<NamespaceRecord> {
    validateIdentifier(name);
    for (const p of paths) {
      // containerd sends this one without the usual ": invalid argument" suffix.
      if (!p.startsWith('labels.')) throw verbatim(new InvalidArgumentError(`cannot update "${p}" field`));
    }
    validateNamespaceLabels(labels);
    return this.db.update(async (tx) => {
      await tx.ensureNamespace(name);
      const key = namespaceKey(name);
      const s = (await tx.get(key)) as Stored;
      const current = labelsFrom(s);
      let next: Labels;
      if (paths.length > 0) {
        next = current;
        for (const p of paths) {
          const k = p.slice('labels.'.length);
          setLabel(next, k, labels[k]);
        }
      } else {
        next = cleanLabels(labels);
      }
      const rec = { ...s, labels: next, updatedAt: storeTime(tx.now) };
      tx.put(key, rec);
      return toRecord(name, rec);
    });
  }

  async delete(name: string): Promise<void> {
    await this.db.update(async (tx) => {
      const key = namespaceKey(name);
      if (!(await tx.has(key))) throw new NotFoundError(`namespace "${name}"`);
      const blocking = await this.blockingKinds(tx, name);
      if (blocking.length > 0) {
        throw new FailedPreconditionError(`namespace "${name}" must be empty, but it still has ${blocking.join(', ')}`);
      }
      for (const [k] of await tx.scanRaw(namespacePrefix(name))) tx.del(k);
      tx.del(key);
    });
  }

  private async blockingKinds(tx: WriteTx, name: string): Promise<string[]> {
    const found: string[] = [];
    const prefix = namespacePrefix(name);
    for (const { kind, describe } of BLOCKING_KINDS) {
      const entries = await tx.scanRaw(`${prefix}${kind}/`, kind === 'snapshots' ? Infinity : 1);
      const described = new Set(entries.map(([k]) => describe(k.slice(`${prefix}${kind}/`.length))));
      found.push(...described);
    }
    return found;
  }
}
