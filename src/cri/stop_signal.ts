// A latch that is closed once (containerd's store.StopCh): "this sandbox/container has
// stopped", which StopPodSandbox and StopContainer wait on after signalling.

export class StopLatch {
  private closed = false;
  private readonly done: Promise<void>;
  private resolve!: () => void;

  constructor() {
    this.done = new Promise<void>((r) => {
      this.resolve = r;
    });
  }

  stop(): void {
    if (this.closed) return;
    this.closed = true;
    this.resolve();
  }

  get isStopped(): boolean {
    return this.closed;
  }

  /** Resolves true once stopped, false when ms pass first (ms undefined: wait for ever). */
  wait(ms?: number): Promise<boolean> {
    if (this.closed) return Promise.resolve(true);
    if (ms === undefined) return this.done.then(() => true);
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), Math.max(0, ms));
      void this.done.then(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }
}
