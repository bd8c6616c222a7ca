// Reserved names of sandboxes and containers (containerd's registrar): a name is taken by
// one id at a time, so two RunPodSandbox calls for the same pod attempt cannot both win.
import { UnknownError } from '../errdefs/errors';

export class NameIndex {
  private readonly byName = new Map<string, string>();

  /** Reserve name for id; reserving the same pair again is fine. */
  reserve(name: string, id: string): void {
    if (name === '' || id === '') throw new UnknownError('name and key must be set');
    const held = this.byName.get(name);
    if (held !== undefined && held !== id) {
      throw new UnknownError(`name "${name}" is reserved for "${held}"`);
    }
    this.byName.set(name, id);
  }

  releaseByName(name: string): void {
    this.byName.delete(name);
  }

  releaseById(id: string): void {
    for (const [n, i] of this.byName) {
      if (i === id) {
        this.byName.delete(n);
        return;
      }
    }
  }
}
