// One ttrpc connection per shim address for berth's shared shim, which serves every task of
// the daemon: tasks lease it (ShimClient.lease) instead of each dialling its own. A new
// connection per task cost ~0.3 ms of every Tasks.Create (connect, the shim's accept and
// peer check) and a close at Delete.
//
// A connection that closes (the shim exited or died) leaves the pool at once; the tasks
// that leased it see it close (ShimClient.waitClosed), exactly as they saw their own
// connection close before. The next lease dials again.
import { TtrpcClient } from '../ttrpc';
import { ShimClient, dialPath } from './shim-client';

interface Current {
  dialing: Promise<TtrpcClient>;
  /** Once dialled. */
  client?: TtrpcClient;
}

export class ShimConnectionPool {
  /** The current connection per address. */
  private readonly connections = new Map<string, Current>();
  /** Open leases per connection. */
  private readonly leases = new Map<TtrpcClient, number>();
  private closed = false;

  /**
   * A client for one task of the shim at `address`, over the shim's shared connection.
   * fresh: dial a new one for this and later leases (after a `start`, which may have
   * started a new shim at the address of one that is stopping; leases on the old
   * connection keep it until it closes).
   */
  async lease(address: string, namespace: string, timeoutMs: number, fresh = false): Promise<ShimClient> {
    if (this.closed) throw new Error('shim connections are closed');
    if (fresh) this.connections.delete(address);
    for (let attempt = 0; ; attempt++) {
      const c = await this.connection(address, timeoutMs);
      // Closed between the lookup and now: dial again, once.
      if (!c.closed || attempt > 0) {
        this.leases.set(c, (this.leases.get(c) ?? 0) + 1);
        return ShimClient.lease(c, namespace, () => this.release(address, c));
      }
    }
  }

  /** A lease ended: a connection that is no longer the current one closes with its last lease. */
  private release(address: string, c: TtrpcClient): void {
    const n = (this.leases.get(c) ?? 1) - 1;
    if (n > 0) {
      this.leases.set(c, n);
      return;
    }
    this.leases.delete(c);
    if (this.connections.get(address)?.client !== c) c.close();
  }

  /** Closes every connection (berthd stops; leases see their connection close). */
  close(): void {
    this.closed = true;
    for (const { dialing } of this.connections.values()) void dialing.then((c) => c.close(), () => undefined);
    this.connections.clear();
  }

  private connection(address: string, timeoutMs: number): Promise<TtrpcClient> {
    const existing = this.connections.get(address);
    if (existing) return existing.dialing;
    const current: Current = {
      dialing: TtrpcClient.connect(`unix://${dialPath(address)}`, { timeoutMs }).then((c) => {
        // Not a reason for berthd to stay up (calls in flight are: its gRPC server is).
        c.unref();
        current.client = c;
        c.onClosed(() => {
          forget();
          this.leases.delete(c);
        });
        if (this.closed) c.close();
        return c;
      }),
    };
    const forget = (): void => {
      if (this.connections.get(address) === current) this.connections.delete(address);
    };
    current.dialing.catch(forget);
    this.connections.set(address, current);
    return current.dialing;
  }
}
