// A set of ids that answers "which id starts with this prefix?" (containerd's truncindex,
// which crictl relies on: `crictl stop 3fa` names the container whose id starts 3fa).
// A prefix two ids share is an error, never a guess.
import { NotFoundError, UnknownError } from '../errdefs/errors';

/** containerd's ErrAmbiguousPrefix: more than one id starts with the prefix. */
export class AmbiguousPrefixError extends UnknownError {
  constructor(readonly prefix: string) {
    super(`Multiple IDs found with provided prefix: ${prefix}`);
  }
}

export class TruncIndex {
  /** Sorted, so the ids a prefix names are one contiguous run found by binary search. */
  private readonly ids: string[] = [];

  add(id: string): void {
    if (id === '' || id.includes(' ')) throw new UnknownError(`illegal character: ' '`);
    const i = this.lowerBound(id);
    if (this.ids[i] === id) throw new UnknownError(`id already exists: '${id}'`);
    this.ids.splice(i, 0, id);
  }

  delete(id: string): boolean {
    const i = this.lowerBound(id);
    if (this.ids[i] !== id) return false;
    this.ids.splice(i, 1);
    return true;
  }

  /** The one id that starts with prefix; NotFound when none, AmbiguousPrefix when several. */
  get(prefix: string): string {
    if (prefix === '') throw new UnknownError(`Prefix can't be empty`);
    const i = this.lowerBound(prefix);
    const first = this.ids[i];
    if (first === undefined || !first.startsWith(prefix)) throw new NotFoundError('ID does not exist');
    // An exact id always wins over longer ids it is a prefix of only when it is the sole
    // match, as in containerd (whose ids all have one length, so this never arises).
    const next = this.ids[i + 1];
    if (next !== undefined && next.startsWith(prefix)) throw new AmbiguousPrefixError(prefix);
    return first;
  }

  get size(): number {
    return this.ids.length;
  }

  private lowerBound(s: string): number {
    let lo = 0;
    let hi = this.ids.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.ids[mid] as string) < s) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }
}
