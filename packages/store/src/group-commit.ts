/**
 * Group commit for Postgres statements on a hot path: callers submit one item each and get their
 * own result; items that queue while `maxConcurrent` batches are in flight leave together as one
 * batched call (one statement or one short transaction). An item submitted while a slot is free
 * goes out on the next turn of the event loop, so there is no added latency at low load; under load
 * batches grow by themselves and the database does one statement per batch instead of one per item.
 * The gateway's intake claims and the workers' ledger transitions both go through it.
 *
 * Items with the same `key` never share a batch (a statement must not touch one row twice): a
 * repeat waits for the next batch.
 */
export interface GroupCommit<I, O> {
  submit(item: I): Promise<O>;
  /** Submits items together (one batch unless more than maxBatch are queued, or keys repeat). */
  submitAll(items: readonly I[]): Promise<O[]>;
  /** Items queued or in flight. */
  pending(): number;
  /** Resolves once everything submitted so far has settled. */
  drain(): Promise<void>;
}

export interface GroupCommitOptions<I> {
  /** Items per batched call at most (500). */
  maxBatch?: number;
  /** Batched calls in flight at once (2). */
  maxConcurrent?: number;
  /** Items with the same key go in different batches. */
  key?: (item: I) => string;
  /** Called after each batch with its size and duration in ms (metrics). */
  observe?: (size: number, ms: number) => void;
}

interface Queued<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/** `run` must return one output per input, in the same order; a batch that does not is rejected. */
export function createGroupCommit<I, O>(
  run: (items: I[]) => Promise<O[]>,
  { maxBatch = 500, maxConcurrent = 2, key, observe }: GroupCommitOptions<I> = {},
): GroupCommit<I, O> {
  let queue: Queued<I, O>[] = [];
  let inFlight = 0;
  let inFlightItems = 0;
  let scheduled = false;
  let idle: Array<() => void> = [];

  const settleIdle = () => {
    if (queue.length > 0 || inFlight > 0) return;
    const waiting = idle;
    idle = [];
    for (const w of waiting) w();
  };

  /** The next batch: queue order, at most maxBatch items, no key twice; the rest stays queued. */
  const take = (): Queued<I, O>[] => {
    if (!key) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      return batch;
    }
    const batch: Queued<I, O>[] = [];
    const rest: Queued<I, O>[] = [];
    const keys = new Set<string>();
    for (const q of queue) {
      const k = key(q.item);
      if (batch.length >= maxBatch || keys.has(k)) rest.push(q);
      else {
        keys.add(k);
        batch.push(q);
      }
    }
    queue = rest;
    return batch;
  };

  const pump = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < maxConcurrent) {
      const batch = take();
      inFlight++;
      inFlightItems += batch.length;
      const started = performance.now();
      // `run` may throw synchronously; that rejects the batch like a failed call.
      Promise.resolve()
        .then(() => run(batch.map((q) => q.item)))
        .then((outs) => {
          if (outs.length !== batch.length) throw new Error(`batched call returned ${outs.length} results for ${batch.length}`);
          for (const [i, q] of batch.entries()) q.resolve(outs[i] as O);
        })
        .catch((err: unknown) => {
          for (const q of batch) q.reject(err);
        })
        .finally(() => {
          observe?.(batch.length, performance.now() - started);
          inFlight--;
          inFlightItems -= batch.length;
          if (queue.length > 0) schedule();
          settleIdle();
        });
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(pump);
  };
  const enqueue = (item: I) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      schedule();
    });

  return {
    submit: enqueue,
    submitAll: (items) => Promise.all(items.map(enqueue)),
    pending: () => queue.length + inFlightItems,
    drain: () => (queue.length === 0 && inFlight === 0 ? Promise.resolve() : new Promise<void>((resolve) => idle.push(resolve))),
  };
}
