import { InvalidArgumentError, ResourceExhaustedError, UnavailableError, withContext } from '../errdefs/errors';
import { validateIdentifier } from '../identifiers/validate';
import { validateTopic } from '../identifiers/labels';
import type { Filter } from '../filters/filter';
import type { AnyValue } from '../metadata/records';
import { envelopeAdaptor } from './adaptor';
import type { HeldEventsStore } from './held-file';
import type { Envelope, EventDecoder } from './envelope';
import { wallNow } from '../time/wall';
import { toWireTimestamp } from '../proto/timestamp';

/** Most envelopes a subscriber may fall behind by before it is cut off; a stuck
 * client must not grow the daemon's memory without bound. */
const MAX_BACKLOG = 65536;

/** Most forwarded events held for the clients after a restart (see holdForwards); past it
 * the shims keep theirs and retry, as they do while berthd is down. */
const MAX_HELD_FORWARDS = 4096;

/** One subscriber's view: an async iterator of matching envelopes. */
export class Subscription implements AsyncIterable<Envelope> {
  private readonly backlog: Envelope[] = [];
  private waiter: ((r: IteratorResult<Envelope>) => void) | null = null;
  private failWaiter: ((e: Error) => void) | null = null;
  private closed = false;
  private error: Error | null = null;

  constructor(
    readonly filter: Filter,
    private readonly detach: (s: Subscription) => void,
    /** A consumer inside berthd (see Exchange.subscribe): it gets forwarded events at once
     * even while they are held for the clients after a restart. */
    readonly internal = false,
  ) {}

  /** @internal called by the exchange. */
  deliver(env: Envelope): void {
    if (this.closed) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w({ value: env, done: false });
      return;
    }
    if (this.backlog.length >= MAX_BACKLOG) {
      this.fail(new ResourceExhaustedError('event subscriber too slow, subscription dropped'));
      return;
    }
    this.backlog.push(env);
  }

  /**
   * @internal Ends the subscription at once with err: what is still queued is dropped,
   * and the stream fails with err (the daemon is going away).
   */
  abort(err: Error): void {
    if (this.closed) return;
    this.backlog.length = 0;
    this.fail(err);
  }

  private fail(err: Error): void {
    this.error = err;
    this.close();
    if (this.failWaiter) {
      const f = this.failWaiter;
      this.waiter = null;
      this.failWaiter = null;
      f(err);
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.detach(this);
    if (this.waiter && !this.error) {
      const w = this.waiter;
      this.waiter = null;
      this.failWaiter = null;
      w({ value: undefined, done: true });
    }
  }

  [Symbol.asyncIterator](): AsyncIterator<Envelope> {
    return {
      next: (): Promise<IteratorResult<Envelope>> => {
        const queued = this.backlog.shift();
        if (queued) return Promise.resolve({ value: queued, done: false });
        if (this.error) return Promise.reject(this.error);
        if (this.closed) return Promise.resolve({ value: undefined, done: true });
        return new Promise((resolve, reject) => {
          this.waiter = resolve;
          this.failWaiter = reject;
        });
      },
      return: (): Promise<IteratorResult<Envelope>> => {
        this.close();
        return Promise.resolve({ value: undefined, done: true });
      },
    };
  }
}

/**
 * The event exchange: services publish, shims forward, clients subscribe. Delivery is
 * synchronous into each subscriber's backlog, so publish order is delivery order.
 */
export class Exchange {
  private readonly subscribers = new Set<Subscription>();
  private stopping: Error | null = null;
  /** Set while forwarded events wait for a client to subscribe after a restart (see
   * holdForwards): the events held for the clients, oldest first. */
  private hold: { timer: NodeJS.Timeout | undefined; held: Envelope[] } | null = null;

  constructor(
    private readonly decode: EventDecoder,
    /** Keeps held events across a restart (none: memory only). */
    private readonly heldStore?: HeldEventsStore,
  ) {}

  /** Publish an event from this daemon: stamps the time now. */
  publish(namespace: string, topic: string, event: AnyValue): Envelope {
    const timestamp = toWireTimestamp(wallNow());
    const env: Envelope = { timestamp, namespace, topic, event };
    this.validate(env);
    this.broadcast(env, 'all');
    return env;
  }

  /** Re-broadcast a complete envelope (from a shim or another daemon) unchanged. */
  forward(input: Omit<Envelope, 'timestamp' | 'event'> & { timestamp: Envelope['timestamp'] | undefined; event: Envelope['event'] | undefined }): void {
    // containerd checks namespace, then topic, then timestamp: the first failure is the
    // error a client sees, so the order is part of the wire behaviour.
    this.validate(input);
    // Unset means an absent field or Go's zero time.Time (year 1).
    const ts = input.timestamp;
    if (!ts || (ts.seconds === -62135596800 && ts.nanos === 0)) {
      throw new InvalidArgumentError('timestamp must be set on forwarded event');
    }
    // An absent event passes containerd's checks and then crashes its exchange (it reads
    // the event's type URL); an error is the closest answer that keeps us running. A present
    // but empty Any is a valid event and goes out as it came in.
    const event = input.event;
    if (!event) throw new InvalidArgumentError('envelope event must be set');
    // Refused, not dropped: a shim keeps the event queued and retries, so an exit that
    // happens while the daemon stops reaches the subscribers of the next one.
    if (this.stopping) throw this.stopping;
    const env: Envelope = { ...input, timestamp: ts, event };
    const hold = this.hold;
    if (!hold) {
      this.broadcast(env, 'all');
      return;
    }
    // Held for the clients only: berthd's own consumers (CRI's OOM watch, image events)
    // act on it now. Past the bound it is refused whole, internal consumers included, so
    // that the shim's retry brings it to each subscriber exactly once.
    if (hold.held.length >= MAX_HELD_FORWARDS) throw new UnavailableError('no event subscriber yet after restart');
    // On disk before the shim is answered (and forgets it): refused if it cannot be.
    try {
      this.heldStore?.append(env);
    } catch (err) {
      throw new UnavailableError(`cannot hold the event for the clients: ${(err as Error).message}`);
    }
    hold.held.push(env);
    this.broadcast(env, 'internal');
  }

  /**
   * Hold forwarded events for the clients until the first client subscribes, or at most
   * `maxMs` after `releaseForwards(maxMs)` is called. Started before the shims can reach a
   * restarted daemon: the events they queued while it was down (an exit during the last
   * shutdown) go to the clients that subscribe again — dockerd comes back a moment after
   * the socket does — instead of to nobody. Only the clients wait: berthd's internal
   * subscribers get each event as it arrives. The held events go to the clients
   * subscribed when the hold ends (in order, before anything newer); with none, to nobody.
   */
  holdForwards(): void {
    if (this.stopping || this.hold) return;
    // What a previous berthd held and did not hand out goes to the clients first; berthd's
    // own consumers have no use for it (CRI recovers exits from the tasks themselves).
    this.hold = { timer: undefined, held: this.heldStore?.load() ?? [] };
  }

  /** Events held for the clients now. */
  get heldCount(): number {
    return this.hold?.held.length ?? 0;
  }

  /** Ends the hold after maxMs (0: now), if no subscriber ended it before. */
  releaseForwards(maxMs = 0): void {
    const hold = this.hold;
    if (!hold) return;
    if (hold.timer) clearTimeout(hold.timer);
    if (maxMs <= 0) {
      this.endHold(hold);
      return;
    }
    hold.timer = setTimeout(() => this.endHold(hold), maxMs);
    hold.timer.unref();
  }

  private endHold(hold: NonNullable<Exchange['hold']>): void {
    if (this.hold !== hold) return;
    if (hold.timer) clearTimeout(hold.timer);
    this.hold = null;
    const held = hold.held.splice(0);
    for (const env of held) this.broadcast(env, 'external');
    try {
      if (!this.stopping) this.heldStore?.clear();
    } catch {
      // left for the next start, which hands the events out again (at least once)
    }
  }

  /**
   * `internal`: a subscriber inside berthd (CRI's OOM watch) that is there from the start;
   * it does not end the hold, which waits for the clients that come back after a restart.
   */
  subscribe(filter: Filter, opts: { internal?: boolean } = {}): Subscription {
    const sub = new Subscription(filter, (s) => this.subscribers.delete(s), opts.internal === true);
    if (this.stopping) {
      sub.abort(this.stopping);
      return sub;
    }
    this.subscribers.add(sub);
    if (!opts.internal) this.releaseForwards();
    return sub;
  }

  /**
   * The daemon is stopping: every subscription ends now with Unavailable (as containerd
   * cuts its streams), and nothing more reaches a subscriber — its client can make no
   * more calls to act on an event. Forwarded events are refused with Unavailable from now
   * on; events the daemon publishes itself reach nobody.
   */
  shutdown(): void {
    if (this.stopping) return;
    this.stopping = new UnavailableError('daemon is shutting down');
    // Held events reach nobody now: every subscription ends. Those on disk wait for the
    // clients of the next berthd.
    if (this.hold) this.hold.held.length = 0;
    this.releaseForwards();
    for (const sub of [...this.subscribers]) sub.abort(this.stopping);
    this.subscribers.clear();
  }

  get subscriberCount(): number {
    return this.subscribers.size;
  }

  private validate(env: Pick<Envelope, 'namespace' | 'topic'>): void {
    withContext('event envelope has invalid namespace', () => validateIdentifier(env.namespace));
    withContext(`envelope topic "${env.topic}"`, () => validateTopic(env.topic));
  }

  /** Delivers env to the matching subscribers of the given kind. */
  private broadcast(env: Envelope, to: 'all' | 'internal' | 'external'): void {
    for (const sub of this.subscribers) {
      if (to === 'internal' && !sub.internal) continue;
      if (to === 'external' && sub.internal) continue;
      if (sub.filter.match(envelopeAdaptor(env, this.decode))) sub.deliver(env);
    }
  }
}
