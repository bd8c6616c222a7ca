// The image record a pull ends with: created, or (the name exists) pointed at the new
// target with the given labels, as containerd's pulls do (the client's createNewImage, the
// transfer service's image store). Publishes /images/create or /images/update.
import { AlreadyExistsError, NotFoundError } from '../errdefs/errors';
import type { DescriptorRecord, ImageRecord, Labels } from '../metadata/records';
import { publish, type ServiceDeps } from '../services/context';

export async function createOrUpdateImage(core: Pick<ServiceDeps, 'images' | 'exchange' | 'log'>, ns: string, name: string, labels: Labels, target: DescriptorRecord): Promise<ImageRecord> {
  for (;;) {
    try {
      const created = await core.images.create(ns, { name, labels, target });
      publish(core, ns, '/images/create', 'containerd.services.images.v1.ImageCreate', { name, labels: created.labels });
      return created;
    } catch (err) {
      if (!(err instanceof AlreadyExistsError)) throw err;
    }
    try {
      const updated = await core.images.update(ns, { name, labels, target }, []);
      publish(core, ns, '/images/update', 'containerd.services.images.v1.ImageUpdate', { name, labels: updated.labels });
      return updated;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err; // removed meanwhile: create again
    }
  }
}
