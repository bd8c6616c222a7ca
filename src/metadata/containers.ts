import { AlreadyExistsError, InvalidArgumentError, NotFoundError, withContext } from '../errdefs/errors';
import { validateIdentifier } from '../identifiers/validate';
import { validateLabels } from '../identifiers/labels';
import { parseListFilters } from '../filters/list';
import { adaptFields } from '../filters/adaptors';
import type { MetadataDB } from './db';
import { objectKey, objectPrefix } from './keys';
import { cleanLabels, setLabel } from './labels';
import { containerFilterView, decodeContainer, encodeContainer } from './container-codec';
import type { ContainerRecord } from './records';
import type { WallTime } from '../time/wall';

const KIND = 'containers';

/** Stands in for the times while a new record is validated; the transaction sets them. */
const UNSET: WallTime = { seconds: 0, nanos: 0 };

/** Paths a full (mask-less) update replaces, as containerd does. */
const FULL_UPDATE_PATHS = ['labels', 'spec', 'extensions', 'image', 'snapshotkey'];

/** containerd's validateContainer, with its messages, under a context ("create container failed validation"). */
function validateContainer(c: ContainerRecord, context: string): void {
  withContext(context, () => checkContainer(c));
}

function checkContainer(c: ContainerRecord): void {
  withContext('container.ID', () => validateIdentifier(c.id));
  for (const k of Object.keys(c.extensions)) {
    if (k === '') throw new InvalidArgumentError('container.Extension keys must not be zero-length');
  }
  withContext('containers.Labels', () => validateLabels(c.labels));
  if (c.runtime.name === '') throw new InvalidArgumentError('container.Runtime.Name must be set');
  if (!c.spec) throw new InvalidArgumentError('container.Spec must be set');
  if (c.snapshotKey !== '' && c.snapshotter === '') {
    throw new InvalidArgumentError('container.Snapshotter must be set if container.SnapshotKey is set');
  }
}

export type NewContainer = Omit<ContainerRecord, 'createdAt' | 'updatedAt'>;

export class ContainerStore {
  constructor(private readonly db: MetadataDB) {}

  async get(ns: string, id: string): Promise<ContainerRecord> {
    return decodeContainer(await this.getEncoded(ns, id));
  }

  /** The stored record in wire form (containerd.services.containers.v1.Container). */
  async getEncoded(ns: string, id: string): Promise<Buffer> {
    const bytes = await this.db.getRaw(objectKey(ns, KIND, id));
    if (!bytes) throw new NotFoundError(`container "${id}" in namespace "${ns}"`);
    return bytes;
  }

  /** Containers matching filters (containerd grammar), in id order, in wire form.
   * Streams so that ListStream can send while reading. */
  async *iterateEncoded(ns: string, filters: readonly string[]): AsyncGenerator<Buffer> {
    const filter = parseListFilters(filters);
    const all = filters.every((f) => f === '');
    for await (const [, bytes] of this.db.scanRaw(objectPrefix(ns, KIND))) {
      if (all) {
        yield bytes;
        continue;
      }
      const v = containerFilterView(bytes);
      if (filter.match(adaptFields({ id: v.id, image: v.image, 'runtime.name': v.runtimeName }, { labels: v.labels }))) {
        yield bytes;
      }
    }
  }

  async list(ns: string, filters: readonly string[]): Promise<ContainerRecord[]> {
    const out: ContainerRecord[] = [];
    for await (const bytes of this.iterateEncoded(ns, filters)) out.push(decodeContainer(bytes));
    return out;
  }

  async create(ns: string, c: NewContainer): Promise<ContainerRecord> {
    const draft: ContainerRecord = { ...c, labels: cleanLabels(c.labels), createdAt: UNSET, updatedAt: UNSET };
    validateContainer(draft, 'create container failed validation');
    return this.db.update(async (tx) => {
      await tx.ensureNamespace(ns);
      const key = objectKey(ns, KIND, c.id);
      if (await tx.has(key)) throw new AlreadyExistsError(`container "${c.id}"`);
      const rec = { ...draft, createdAt: tx.now, updatedAt: tx.now };
      tx.putRaw(key, encodeContainer(rec));
      return rec;
    });
  }

  /**
   * Update following containerd's rules: without paths the mutable fields are replaced
   * and runtime/snapshotter must be unchanged; with paths only labels[.k], spec,
   * extensions[.k], image and snapshotkey may be named.
   */
  async update(ns: string, updated: NewContainer, paths: readonly string[]): Promise<ContainerRecord> {
    if (updated.id === '') throw new InvalidArgumentError('must specify a container id');
    return this.db.update(async (tx) => {
      const key = objectKey(ns, KIND, updated.id);
      const bytes = await tx.getRaw(key);
      if (!bytes) throw new NotFoundError(`container "${updated.id}"`);
      const c = decodeContainer(bytes);
      let fieldpaths = paths;
      if (fieldpaths.length === 0) {
        fieldpaths = FULL_UPDATE_PATHS;
        if (updated.snapshotter !== c.snapshotter) {
          throw new InvalidArgumentError('container.Snapshotter field is immutable');
        }
        if (updated.runtime.name !== c.runtime.name) {
          throw new InvalidArgumentError('container.Runtime.Name field is immutable');
        }
      }
      for (const path of fieldpaths) {
        if (path.startsWith('labels.')) {
          const k = path.slice('labels.'.length);
          setLabel(c.labels, k, updated.labels[k]);
          continue;
        }
        if (path.startsWith('extensions.')) {
          const k = path.slice('extensions.'.length);
          const v = updated.extensions[k];
          if (v) c.extensions[k] = v;
          else delete c.extensions[k];
          continue;
        }
        switch (path) {
          case 'labels':
            c.labels = cleanLabels(updated.labels);
            break;
          case 'spec':
            c.spec = updated.spec;
            break;
          case 'extensions':
            c.extensions = { ...updated.extensions };
            break;
          case 'image':
            c.image = updated.image;
            break;
          case 'snapshotkey':
            c.snapshotKey = updated.snapshotKey;
            break;
          default:
            throw new InvalidArgumentError(`cannot update "${path}" field on "${c.id}"`);
        }
      }
      validateContainer(c, 'update failed validation');
      c.updatedAt = tx.now;
      tx.putRaw(key, encodeContainer(c));
      return c;
    });
  }

  async delete(ns: string, id: string): Promise<void> {
    await this.db.update(async (tx) => {
      const key = objectKey(ns, KIND, id);
      if (!(await tx.has(key))) throw new NotFoundError(`container ${id}`);
      tx.del(key);
    });
  }
}
