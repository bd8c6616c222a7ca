// In-process ref locks for content writers (containerd content/local/locks.go): one writer
// per ref at a time; a second one fails with Unavailable, after a short randomized retry.

import { UnavailableError } from '../errdefs/errors';

interface Held {
  since: Date;
  sinceNs: bigint;
}

export interface LockRetry {
  /** Attempts before giving up (containerd: 10). */
  attempts: number;
  /** Sleep before attempt n+1 is random in [0, 2^n) × this many ms (containerd: 1). */
  baseMs: number;
}

export const CONTAINERD_LOCK_RETRY: Readonly<LockRetry> = Object.freeze({ attempts: 10, baseMs: 1 });

export class RefLocks {
  private readonly held = new Map<string, Held>();

  constructor(private readonly retry: Readonly<LockRetry> = CONTAINERD_LOCK_RETRY) {}

  /**
   * Take the lock for ref or throw UnavailableError with containerd's text
   * (`ref <ref> locked for <duration> (since <time>)`).
   */
  tryLock(ref: string): void {
    const h = this.held.get(ref);
    if (h) {
      const elapsed = process.hrtime.bigint() - h.sinceNs;
      throw new UnavailableError(`ref ${ref} locked for ${formatGoDuration(elapsed)} (since ${formatGoTime(h.since)})`);
    }
    this.held.set(ref, { since: new Date(), sinceNs: process.hrtime.bigint() });
  }

  /** tryLock, retried like containerd's Writer does before reporting Unavailable. */
  async lock(ref: string): Promise<void> {
    let last: unknown;
    const attempts = Math.max(1, this.retry.attempts);
    for (let n = 0; n < attempts; n++) {
      try {
        this.tryLock(ref);
        return;
      } catch (err) {
        if (!(err instanceof UnavailableError)) throw err;
        last = err;
      }
      if (n + 1 < attempts && this.retry.baseMs > 0) {
        const ms = Math.floor(Math.random() * 2 ** n) * this.retry.baseMs;
        await new Promise<void>((resolve) => setTimeout(resolve, ms));
      }
    }
    throw last;
  }

  unlock(ref: string): void {
    this.held.delete(ref);
  }

  isLocked(ref: string): boolean {
    return this.held.has(ref);
  }
}

/** Go's time.Duration.String() for a duration in nanoseconds ("1.5ms", "2m3.04s", "0s"). */
export function formatGoDuration(ns: bigint): string {
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  const sign = neg ? '-' : '';
  if (u === 0n) return '0s';
  if (u < 1_000_000_000n) {
    const [unit, div] = u < 1_000n ? ['ns', 1n] : u < 1_000_000n ? ['µs', 1_000n] : ['ms', 1_000_000n];
    return sign + fraction(u, div) + unit;
  }
  const h = u / 3_600_000_000_000n;
  u -= h * 3_600_000_000_000n;
  const m = u / 60_000_000_000n;
  u -= m * 60_000_000_000n;
  let out = sign;
  if (h > 0n) out += `${h}h`;
  if (h > 0n || m > 0n) out += `${m}m`;
  return out + fraction(u, 1_000_000_000n) + 's';
}

function fraction(v: bigint, div: bigint): string {
  const whole = v / div;
  const rest = v % div;
  if (rest === 0n) return whole.toString();
  const digits = (div.toString().length - 1);
  const frac = rest.toString().padStart(digits, '0').replace(/0+$/, '');
  return `${whole}.${frac}`;
}

/** Go's time.Time.String() layout, in UTC ("2006-01-02 15:04:05.999 +0000 UTC"). */
export function formatGoTime(t: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, '0');
  const ms = t.getUTCMilliseconds();
  const frac = ms === 0 ? '' : '.' + p(ms, 3).replace(/0+$/, '');
  return (
    `${p(t.getUTCFullYear(), 4)}-${p(t.getUTCMonth() + 1)}-${p(t.getUTCDate())} ` +
    `${p(t.getUTCHours())}:${p(t.getUTCMinutes())}:${p(t.getUTCSeconds())}${frac} +0000 UTC`
  );
}
