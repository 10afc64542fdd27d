/**
 * The two concurrency primitives of the lanes: a serial queue (one task at a time, in the order
 * given; closing it abandons the tasks not yet started) and a counting semaphore (the bound on
 * lanes running at once).
 */

export class Abandoned extends Error {
  readonly code = 'LANE_ABANDONED';
  constructor() {
    super('lane closed before the task started (partition revoked)');
  }
}

export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private pending = 0;

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Runs `task` after every task queued before it; rejects with `Abandoned` when closed first. */
  run<T>(task: () => Promise<T>): Promise<T> {
    this.pending++;
    const result = this.tail.then(() => {
      if (this.closed) throw new Abandoned();
      return task();
    });
    const settle = () => {
      this.pending--;
    };
    this.tail = result.then(settle, settle);
    return result;
  }

  /** Tasks not started yet are abandoned; a running one finishes. */
  close(): void {
    this.closed = true;
  }
}

export class Semaphore {
  private available: number;
  private readonly waiters: Array<() => void> = [];

  constructor(readonly size: number) {
    this.available = size;
  }

  get inUse(): number {
    return this.size - this.available;
  }

  async use<T>(fn: () => Promise<T>): Promise<T> {
    if (this.available > 0) this.available--;
    else await new Promise<void>((resolve) => this.waiters.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiters.shift();
      if (next) next();
      else this.available++;
    }
  }
}
