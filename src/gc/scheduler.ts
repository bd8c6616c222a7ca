import type { Logger } from '../log/logger';

/** One collection pass; returns what it removed, for logging. */
export type Collector = () => Promise<{ removed: number }>;

/**
 * Runs garbage collection after deletions, as containerd's scheduler does with
 * deletion_threshold 0 and schedule_delay 0: a deletion schedules a run soon; runs never
 * overlap; a synchronous request (Images.Delete/Leases.Delete with sync) waits for a
 * full pass that starts after the request.
 */
export class GcScheduler {
  /** The last pass queued or running; passes run one after another. */
  private tail: Promise<void> = Promise.resolve();
  /** A pass queued but not yet started: later callers can share it. */
  private queued: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(
    private readonly collect: Collector,
    private readonly log: Logger,
    private readonly delayMs = 10,
  ) {}

  /** Ask for a run soon (after a deletion). */
  schedule(): void {
    if (this.stopped || this.timer) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.runNow();
    }, this.delayMs);
    this.timer.unref();
  }

  /** Wait for a full pass that starts after this call. */
  runNow(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.queued) return this.queued;
    const next = this.tail.then(() => {
      this.queued = null;
      return this.pass();
    });
    this.queued = next;
    this.tail = next;
    return next;
  }

  private async pass(): Promise<void> {
    const started = process.hrtime.bigint();
    try {
      const { removed } = await this.collect();
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      if (removed > 0) this.log.info('garbage collected', { removed, ms: Math.round(ms * 100) / 100 });
      else this.log.debug('garbage collection pass', { ms: Math.round(ms * 100) / 100 });
    } catch (err) {
      this.log.error('garbage collection failed', { error: err as Error });
    }
  }

  /** Stop scheduling and wait for a pass in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.tail;
  }
}
