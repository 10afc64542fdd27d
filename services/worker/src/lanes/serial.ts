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

export class SerialQueue<Tag = unknown> {
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private pending = 0;
  /** The tags of the tasks not started yet, in order (undefined for an untagged task). */
  private readonly waiting: (Tag | undefined)[] = [];

  /** Tasks queued or running. */
  get size(): number {
    return this.pending;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** The tags of the tasks queued and not started yet, in the order they will run. */
  get queued(): readonly (Tag | undefined)[] {
    return this.waiting;
  }

  /**
   * Runs `task` after every task queued before it; rejects with `Abandoned` when closed first.
   * `tag` names the task in `queued` until it starts.
   */
  run<T>(task: () => Promise<T>, tag?: Tag): Promise<T> {
    this.pending++;
    this.waiting.push(tag);
    const result = this.tail.then(() => {
      // Tasks start in the order they were queued: this one is the first of `waiting`.
      this.waiting.shift();
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

  /**
   * Runs `fn` holding one unit. `reserved`: the caller holds one already (`tryReserve`), which this
   * call takes over and gives back at the end.
   */
  async use<T>(fn: () => Promise<T>, reserved = false): Promise<T> {
    if (!reserved) {
      if (this.available > 0) this.available--;
      else await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  /** Takes a unit now if one is free (never waits); the holder gives it back with `release` or through `use`. */
  tryReserve(): boolean {
    if (this.available === 0) return false;
    this.available--;
    return true;
  }

  /** Gives one unit back: to the first waiter, else to the free count. */
  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.available++;
  }
}
