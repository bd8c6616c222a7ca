/**
 * A connection's open streams by id: an open-addressing hash table (linear probing,
 * backward-shift deletion) in one array that grows and never shrinks.
 *
 * Why not a Map: a JS Map (or Set) that gains and loses an entry on every call rehashes
 * into a new backing table every few calls, and V8 links each retired table to its
 * successor (for iterators live across the rehash) with the retired table's entries still
 * in it. Once one table is in the old generation, that dead table keeps the next one, and
 * the streams in it, alive through scavenges, which promotes them, and so on. Measured
 * with bench/grpc-alloc.ts --batch 10 (10 calls in flight per connection): with a Map of
 * streams and a Set as the pump queue, 1631 bytes per call reached the old generation,
 * 2.3 mark-compacts per 10k calls, 13.2 µs CPU per call; with this table and an array,
 * 181 bytes, 0.3 and 6.7 µs. Those mark-compacts were the tail of the load bench's latency
 * (issue 12). This table allocates only when it grows, which stops at twice the most
 * streams a connection ever had open (MAX_CONCURRENT_STREAMS bounds it), and an emptied
 * slot holds nothing.
 */
export class StreamTable<T extends { readonly id: number }> {
  private slots: Array<T | undefined>;
  private mask: number;
  private n = 0;

  constructor(initialCapacity = 16) {
    let cap = 8;
    while (cap < initialCapacity) cap *= 2;
    this.slots = new Array<T | undefined>(cap).fill(undefined);
    this.mask = cap - 1;
  }

  get size(): number {
    return this.n;
  }

  /** Client stream ids are odd and increase: id >>> 1 spreads consecutive ones over
   * consecutive slots. */
  private home(id: number): number {
    return (id >>> 1) & this.mask;
  }

  get(id: number): T | undefined {
    const { slots, mask } = this;
    for (let i = this.home(id); ; i = (i + 1) & mask) {
      const s = slots[i];
      if (s === undefined) return undefined;
      if (s.id === id) return s;
    }
  }

  has(id: number): boolean {
    return this.get(id) !== undefined;
  }

  /** Adds v under v.id (replacing one with the same id). */
  set(v: T): void {
    if ((this.n + 1) * 2 > this.slots.length) this.grow();
    const { slots, mask } = this;
    for (let i = this.home(v.id); ; i = (i + 1) & mask) {
      const s = slots[i];
      if (s === undefined) {
        slots[i] = v;
        this.n++;
        return;
      }
      if (s.id === v.id) {
        slots[i] = v;
        return;
      }
    }
  }

  delete(id: number): boolean {
    const { slots, mask } = this;
    let i = this.home(id);
    for (;;) {
      const s = slots[i];
      if (s === undefined) return false;
      if (s.id === id) break;
      i = (i + 1) & mask;
    }
    // Backward shift: later entries of the same probe run move up into the hole, so a
    // lookup never stops early at it and no tombstones build up.
    let hole = i;
    for (let j = (i + 1) & mask; ; j = (j + 1) & mask) {
      const s = slots[j];
      if (s === undefined) break;
      const h = this.home(s.id);
      // s may fill the hole if its home is not in the cyclic range (hole, j].
      const inRange = hole <= j ? h > hole && h <= j : h > hole || h <= j;
      if (!inRange) {
        slots[hole] = s;
        hole = j;
      }
    }
    slots[hole] = undefined;
    this.n--;
    return true;
  }

  /** A snapshot of the streams (safe to change the table while walking it). */
  values(): T[] {
    const out: T[] = [];
    for (const s of this.slots) if (s !== undefined) out.push(s);
    return out;
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new Array<T | undefined>(old.length * 2).fill(undefined);
    this.mask = this.slots.length - 1;
    this.n = 0;
    for (const s of old) if (s !== undefined) this.set(s);
  }
}
