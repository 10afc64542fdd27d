/**
 * Groups calls that arrive together into one batched call: an item submitted while no batch is
 * running goes out on the next turn of the event loop (no added latency at low load); items that
 * arrive while `maxConcurrent` batches are in flight wait and leave together. This is how one
 * Postgres round trip serves many concurrent requests.
 */
export interface Coalescer<I, O> {
  submit(item: I): Promise<O>;
  /** Submits items together (one batch unless more than maxBatch are queued). */
  submitAll(items: readonly I[]): Promise<O[]>;
  /** Items queued or in flight. */
  pending(): number;
  /** Resolves once everything submitted so far has settled. */
  drain(): Promise<void>;
}

export interface CoalescerOptions {
  maxBatch?: number;
  maxConcurrent?: number;
}

interface Queued<I, O> {
  item: I;
  resolve: (o: O) => void;
  reject: (e: unknown) => void;
}

/** `run` must return one output per input, in the same order. */
export function createCoalescer<I, O>(
  run: (items: I[]) => Promise<O[]>,
  { maxBatch = 500, maxConcurrent = 2 }: CoalescerOptions = {},
): Coalescer<I, O> {
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

  const pump = () => {
    scheduled = false;
    while (queue.length > 0 && inFlight < maxConcurrent) {
      const batch = queue.slice(0, maxBatch);
      queue = queue.slice(batch.length);
      inFlight++;
      inFlightItems += batch.length;
      run(batch.map((q) => q.item))
        .then(
          (outs) => {
            if (outs.length !== batch.length) throw new Error(`batched call returned ${outs.length} results for ${batch.length}`);
            for (const [i, q] of batch.entries()) q.resolve(outs[i] as O);
          },
          (err: unknown) => {
            for (const q of batch) q.reject(err);
          },
        )
        .catch((err: unknown) => {
          for (const q of batch) q.reject(err);
        })
        .finally(() => {
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
