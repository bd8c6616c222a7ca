// The CRI's objects by id, as containerd's CRI stores keep them: a map by full id and a
// truncated-id index, so a unique prefix finds an object as crictl users expect.
import { AlreadyExistsError, NotFoundError } from '../errdefs/errors';
import { TruncIndex } from './truncindex';

export class IdStore<T extends { readonly id: string }> {
  private readonly byId = new Map<string, T>();
  private readonly index = new TruncIndex();

  /** kind names the objects in errors ("container", "sandbox"). */
  constructor(private readonly kind: string) {}

  add(v: T): void {
    if (this.byId.has(v.id)) throw new AlreadyExistsError(`${this.kind} ${v.id}`);
    this.index.add(v.id);
    this.byId.set(v.id, v);
  }

  /** By full id or unique prefix: NotFound, or the ambiguous-prefix error. */
  get(idOrPrefix: string): T {
    const v = this.byId.get(this.index.get(idOrPrefix));
    if (!v) throw new NotFoundError(`${this.kind} ${idOrPrefix}`);
    return v;
  }

  /** By full id only, or undefined. */
  find(id: string): T | undefined {
    return this.byId.get(id);
  }

  list(): T[] {
    return [...this.byId.values()];
  }

  delete(id: string): void {
    if (this.byId.delete(id)) this.index.delete(id);
  }
}
