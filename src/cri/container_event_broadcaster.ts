// The fan-out behind GetContainerEvents: every event goes to every subscriber in the order
// it was sent, each subscriber with a bounded queue of its own. A subscriber that falls
// that far behind (a client that stopped reading its stream) is dropped with
// ResourceExhausted instead of letting berthd's memory grow; the others are not held up.
import { ResourceExhaustedError, UnavailableError } from '../errdefs/errors';

/** Events one subscriber may have queued (made, not yet written to its stream). containerd
 * warns from 100 on and never drops; kubelet reads its stream at once. */
export const MAX_QUEUED_CONTAINER_EVENTS = 1024;

/** One subscriber: an async iterator of events, failing when it was dropped or berthd stops. */
export class ContainerEventSubscription<T> implements AsyncIterable<T> {
  private readonly queue: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: Error) => void } | null = null;
  private closed = false;
  private error: Error | null = null;

  constructor(
    private readonly maxQueued: number,
    private readonly detach: (s: ContainerEventSubscription<T>) => void,
  ) {}

  get queued(): number {
    return this.queue.length;
  }

  /** @internal the broadcaster's delivery. */
  deliver(ev: T): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      w.resolve({ value: ev, done: false });
      return;
    }
    if (this.queue.length >= this.maxQueued) {
      this.fail(new ResourceExhaustedError(`container event subscriber ${this.maxQueued} events behind, dropped`));
      return;
    }
    this.queue.push(ev);
  }

  /** Ends the subscription with err: what is queued is dropped with it. */
  fail(err: Error): void {
    if (this.closed) return;
    this.queue.length = 0;
    this.error = err;
    this.close();
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach(this);
    const w = this.waiter;
    this.waiter = null;
    if (!w) return;
    if (this.error) w.reject(this.error);
    else w.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterator<T> {
    return {
      next: (): Promise<IteratorResult<T>> => {
        if (this.queue.length > 0) return Promise.resolve({ value: this.queue.shift() as T, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
      },
      return: (): Promise<IteratorResult<T>> => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

export class ContainerEventBroadcaster<T> {
  private readonly subscribers = new Set<ContainerEventSubscription<T>>();
  /** Events are made one after the other (their async part, e.g. image lookups), so that
   * subscribers get them in the order they were sent. */
  private chain: Promise<void> = Promise.resolve();
  private stopped: Error | null = null;

  constructor(
    private readonly onError: (err: unknown) => void,
    private readonly maxQueued = MAX_QUEUED_CONTAINER_EVENTS,
  ) {}

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  /**
   * Sends the event `make` finishes to every subscriber there is when it is done. Nothing is
   * made while nobody listens: `make` is only called with subscribers, after the events sent
   * before it.
   */
  send(make: () => Promise<T>): void {
    if (this.subscribers.size === 0 || this.stopped) return;
    this.chain = this.chain
      .then(async () => {
        if (this.subscribers.size === 0) return;
        const ev = await make();
        for (const sub of [...this.subscribers]) sub.deliver(ev);
      })
      .catch(this.onError);
  }

  subscribe(): ContainerEventSubscription<T> {
    const sub = new ContainerEventSubscription<T>(this.maxQueued, (s) => this.subscribers.delete(s));
    if (this.stopped) sub.fail(this.stopped);
    else this.subscribers.add(sub);
    return sub;
  }

  /** berthd is stopping: every subscription ends with Unavailable, and no more are taken. */
  shutdown(): void {
    this.stopped ??= new UnavailableError('daemon is shutting down');
    for (const sub of [...this.subscribers]) sub.fail(this.stopped);
  }
}
