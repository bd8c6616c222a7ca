/**
 * An async readers–writer lock. Content writers commit under the read side; the garbage
 * collector removes unreferenced blobs from disk under the write side, so it never
 * deletes a blob that a commit has put on disk but not yet recorded.
 */
export class RwLock {
  private readers = 0;
  private writer = false;
  private readonly waiting: Array<{ write: boolean; grant: () => void }> = [];

  async read<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(false);
    try {
      return await fn();
    } finally {
      this.readers--;
      this.wake();
    }
  }

  async write<T>(fn: () => Promise<T>): Promise<T> {
    await this.acquire(true);
    try {
      return await fn();
    } finally {
      this.writer = false;
      this.wake();
    }
  }

  private acquire(write: boolean): Promise<void> {
    // A waiting writer blocks new readers, so a stream of commits cannot starve GC.
    const free = write ? !this.writer && this.readers === 0 : !this.writer && !this.waiting.some((w) => w.write);
    if (free && this.waiting.length === 0) {
      if (write) this.writer = true;
      else this.readers++;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting.push({
        write,
        grant: () => {
          if (write) this.writer = true;
          else this.readers++;
          resolve();
        },
      });
    });
  }

  private wake(): void {
    while (this.waiting.length > 0) {
      const next = this.waiting[0] as { write: boolean; grant: () => void };
      if (next.write) {
        if (this.writer || this.readers > 0) return;
        this.waiting.shift();
        next.grant();
        return;
      }
      if (this.writer) return;
      this.waiting.shift();
      next.grant();
    }
  }
}
