// Single-use tokens naming a pending exec/attach/port-forward request, as kubelet's
// streaming request cache keeps them: 8 characters of base64url from 6 random bytes, a
// 1-minute life, at most maxPendingTokens waiting (oldest expire first).
import * as crypto from 'node:crypto';
import { ResourceExhaustedError } from '../../errdefs/errors';

/** Too many tokens issued and not used: the CRI call answers ResourceExhausted with
 * kubelet's text alone ("maximum number of in-flight requests exceeded"). */
export class TooManyInFlightError extends ResourceExhaustedError {
  constructor() {
    super('maximum number of in-flight requests exceeded');
    this.message = this.context;
  }
}

interface Entry<T> {
  req: T;
  expiresAt: number;
}

export class RequestCache<T> {
  /** Insertion order is expiry order (one TTL for all), so the oldest are first. */
  private readonly entries = new Map<string, Entry<T>>();

  constructor(
    private readonly ttlMs: number,
    private readonly maxPending: number,
    private readonly now: () => number = Date.now,
  ) {}

  get size(): number {
    return this.entries.size;
  }

  insert(req: T): string {
    this.gc();
    if (this.entries.size >= this.maxPending) throw new TooManyInFlightError();
    for (let i = 0; i < 10; i++) {
      const token = crypto.randomBytes(6).toString('base64url');
      if (!this.entries.has(token)) {
        this.entries.set(token, { req, expiresAt: this.now() + this.ttlMs });
        return token;
      }
    }
    throw new Error('failed to generate unique token');
  }

  /** The request a token names, once: a used or expired token is gone. */
  consume(token: string): T | undefined {
    const e = this.entries.get(token);
    if (!e) return undefined;
    this.entries.delete(token);
    if (this.now() > e.expiresAt) return undefined;
    return e.req;
  }

  private gc(): void {
    const now = this.now();
    for (const [token, e] of this.entries) {
      if (now <= e.expiresAt) return;
      this.entries.delete(token);
    }
  }
}
