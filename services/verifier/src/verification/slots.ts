/**
 * At most `size` verifications at once, whatever started them. Waiters are served by priority
 * (0 first: new backups and manual requests before scrubbing), then in arrival order.
 */
export class Slots {
  private used = 0;
  private readonly waiting: { priority: number; resolve: () => void; reject: (error: unknown) => void }[] = [];

  constructor(readonly size: number) {}

  get busy() {
    return this.used;
  }

  get queued() {
    return this.waiting.length;
  }

  /** Resolves with a release function once a slot is free; rejects if `signal` aborts first. */
  acquire(priority: number, signal?: AbortSignal): Promise<() => void> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    if (this.used < this.size && this.waiting.length === 0) {
      this.used++;
      return Promise.resolve(this.releaser());
    }
    return new Promise((resolve, reject) => {
      const waiter = {
        priority,
        resolve: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(this.releaser());
        },
        reject,
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const at = this.waiting.findIndex((w) => w.priority > priority);
      if (at < 0) this.waiting.push(waiter);
      else this.waiting.splice(at, 0, waiter);
    });
  }

  private releaser() {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.resolve();
      else this.used--;
    };
  }
}
