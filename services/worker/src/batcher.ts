/**
 * Group commit for Postgres writes on the hot path: callers submit one item each and get their own
 * result; items that queue while earlier batches are in flight go out together as one statement
 * (or one transaction). At low load an item goes out at once; under load batches grow by
 * themselves, so a lane waits about one round trip while the database does one statement per batch
 * instead of one per record.
 *
 * Items with the same `key` never share a batch (a statement must not touch one row twice): a
 * repeat waits for the next batch.
 */
export interface Batcher<I, O> {
  submit(item: I): Promise<O>;
  pending(): number;
}

export function createBatcher<I, O>(
  run: (items: I[]) => Promise<O[]>,
  o: {
    maxBatch?: number;
    concurrency?: number;
    key?: (item: I) => string;
    /** Called after each batch with its size and duration (metrics). */
    observe?: (size: number, ms: number) => void;
  } = {},
): Batcher<I, O> {
  const maxBatch = o.maxBatch ?? 500;
  const concurrency = o.concurrency ?? 2;
  let queue: { item: I; resolve: (v: O) => void; reject: (e: unknown) => void }[] = [];
  let inFlight = 0;
  let scheduled = false;

  const flush = () => {
    scheduled = false;
    while (inFlight < concurrency && queue.length > 0) {
      const batch: typeof queue = [];
      const rest: typeof queue = [];
      const keys = new Set<string>();
      for (const q of queue) {
        const k = o.key?.(q.item);
        if (batch.length >= maxBatch || (k !== undefined && keys.has(k))) rest.push(q);
        else {
          if (k !== undefined) keys.add(k);
          batch.push(q);
        }
      }
      queue = rest;
      inFlight++;
      const t0 = performance.now();
      run(batch.map((b) => b.item))
        .then(
          (out) => {
            batch.forEach((b, i) => {
              b.resolve(out[i] as O);
            });
          },
          (err) => {
            for (const b of batch) b.reject(err);
          },
        )
        .finally(() => {
          o.observe?.(batch.length, performance.now() - t0);
          inFlight--;
          if (queue.length > 0) schedule();
        });
    }
  };
  const schedule = () => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };

  return {
    submit(item) {
      return new Promise<O>((resolve, reject) => {
        queue.push({ item, resolve, reject });
        schedule();
      });
    },
    pending: () => queue.length + inFlight,
  };
}
