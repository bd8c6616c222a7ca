import { AlreadyExistsError, InvalidArgumentError, NotFoundError, withContext } from '../errdefs/errors';
import { validateLabels } from '../identifiers/labels';
import { digestProblem } from '../content/digest';
import { parseListFilters } from '../filters/list';
import { adaptFields } from '../filters/adaptors';
import type { MetadataDB, Stored } from './db';
import { dec, objectKey, objectPrefix } from './keys';
import { cleanLabels, setLabel } from './labels';
import { labelsFrom, storeTime, timeFrom } from './codec';
import type { DescriptorRecord, ImageRecord } from './records';

const KIND = 'images';

export type NewImage = Omit<ImageRecord, 'createdAt' | 'updatedAt'>;

function toStored(i: ImageRecord): Stored {
  return {
    labels: i.labels,
    target: { ...i.target },
    createdAt: storeTime(i.createdAt),
    updatedAt: storeTime(i.updatedAt),
  };
}

function fromStored(name: string, s: Stored): ImageRecord {
  const t = (s.target ?? {}) as Partial<DescriptorRecord>;
  return {
    name,
    labels: labelsFrom(s),
    target: { mediaType: t.mediaType ?? '', digest: t.digest ?? '', size: t.size ?? 0, annotations: { ...(t.annotations ?? {}) } },
    createdAt: timeFrom(s, 'createdAt'),
    updatedAt: timeFrom(s, 'updatedAt'),
  };
}

/** containerd's validateImage / validateTarget, with their messages. */
function validateImage(i: NewImage): void {
  if (i.name === '') throw new InvalidArgumentError('image name must not be empty');
  withContext('image.Labels', () => validateLabels(i.labels));
  const problem = digestProblem(i.target.digest);
  if (problem) throw new InvalidArgumentError(`Target.Digest "${i.target.digest}" invalid: ${problem}`);
  if (i.target.size <= 0) throw new InvalidArgumentError('Target.Size must be greater than zero');
  if (i.target.mediaType === '') throw new InvalidArgumentError('Target.MediaType must be set');
}

export function imageAdaptor(i: ImageRecord): ReturnType<typeof adaptFields> {
  return adaptFields(
    { name: i.name, 'target.digest': i.target.digest, 'target.mediatype': i.target.mediaType },
    { labels: i.labels, annotations: i.target.annotations },
  );
}

export class ImageStore {
  constructor(private readonly db: MetadataDB) {}

  async get(ns: string, name: string): Promise<ImageRecord> {
    const s = await this.db.get(objectKey(ns, KIND, name));
    if (!s) throw new NotFoundError(`image "${name}"`);
    return fromStored(name, s);
  }

  async list(ns: string, filters: readonly string[]): Promise<ImageRecord[]> {
    const filter = parseListFilters(filters);
    const prefix = objectPrefix(ns, KIND);
    const out: ImageRecord[] = [];
    for await (const [k, s] of this.db.scan(prefix)) {
      const i = fromStored(dec(k.slice(prefix.length)), s);
      if (filter.match(imageAdaptor(i))) out.push(i);
    }
    return out;
  }

  async create(ns: string, image: NewImage): Promise<ImageRecord> {
    const draft: NewImage = { ...image, labels: cleanLabels(image.labels) };
    validateImage(draft);
    return this.db.update(async (tx) => {
      await tx.ensureNamespace(ns);
      const key = objectKey(ns, KIND, image.name);
      if (await tx.has(key)) throw new AlreadyExistsError(`image "${image.name}"`);
      const rec: ImageRecord = { ...draft, createdAt: tx.now, updatedAt: tx.now };
      tx.put(key, toStored(rec));
      return rec;
    });
  }

  /** containerd's rules: paths labels[.k], annotations[.k] and target (as a unit); no
   * paths replaces everything but the creation time. */
  async update(ns: string, image: NewImage, paths: readonly string[]): Promise<ImageRecord> {
    if (image.name === '') throw new InvalidArgumentError('image name is required for update');
    return this.db.update(async (tx) => {
      const key = objectKey(ns, KIND, image.name);
      const s = await tx.get(key);
      if (!s) throw new NotFoundError(`image "${image.name}"`);
      const current = fromStored(image.name, s);
      let next: ImageRecord;
      if (paths.length > 0) {
        next = { ...current, labels: { ...current.labels }, target: { ...current.target, annotations: { ...current.target.annotations } } };
        for (const path of paths) {
          if (path.startsWith('labels.')) {
            const k = path.slice('labels.'.length);
            setLabel(next.labels, k, image.labels[k]);
            continue;
          }
          if (path.startsWith('annotations.')) {
            const k = path.slice('annotations.'.length);
            setLabel(next.target.annotations, k, image.target.annotations[k]);
            continue;
          }
          switch (path) {
            case 'labels':
              next.labels = cleanLabels(image.labels);
              break;
            case 'target':
              next.target = { ...image.target, annotations: { ...image.target.annotations } };
              break;
            case 'annotations':
              next.target.annotations = { ...image.target.annotations };
              break;
            default:
              throw new InvalidArgumentError(`cannot update "${path}" field on image "${image.name}"`);
          }
        }
      } else {
        next = { ...image, labels: cleanLabels(image.labels), createdAt: current.createdAt, updatedAt: current.updatedAt };
      }
      validateImage(next);
      next.createdAt = current.createdAt;
      next.updatedAt = tx.now;
      tx.put(key, toStored(next));
      return next;
    });
  }

  async delete(ns: string, name: string): Promise<void> {
    await this.db.update(async (tx) => {
      const key = objectKey(ns, KIND, name);
      if (!(await tx.has(key))) throw new NotFoundError(`image "${name}"`);
      tx.del(key);
    });
  }
}
