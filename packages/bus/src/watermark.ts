/**
 * The commit watermark of one partition: records are tracked from the moment they are handed out
 * until they are finished, in any order; the offset that may be committed is the first unfinished
 * one (or the one after the last record handed out). So the committed offset never passes a record
 * that is not finished, however records finish out of order across lanes.
 */
export class PartitionWatermark {
  /** Offsets handed out and not yet dropped from the front, in order; true = finished. */
  private readonly offsets: number[] = [];
  private readonly finished = new Set<number>();
  private next: number | undefined;
  private waiters: Array<() => void> = [];

  /** Records handed out and not finished. */
  get inFlight(): number {
    return this.offsets.length - this.finished.size;
  }

  /** The offset to commit (Kafka's "next offset to read"), or undefined before the first record. */
  get committable(): number | undefined {
    return this.offsets.length > 0 ? this.offsets[0] : this.next;
  }

  /** The offset after the last one tracked. */
  get nextOffset(): number | undefined {
    return this.next;
  }

  /** When the oldest unfinished record was handed out (ms), for the stall watchdog. */
  oldestSince: number | undefined;
  private readonly since = new Map<number, number>();

  track(offset: number, nowMs = Date.now()): void {
    const last = this.offsets.length > 0 ? this.offsets[this.offsets.length - 1] : undefined;
    if (last !== undefined && offset <= last) throw new Error(`offset ${offset} tracked out of order (after ${last})`);
    this.offsets.push(offset);
    this.since.set(offset, nowMs);
    if (this.oldestSince === undefined) this.oldestSince = nowMs;
    this.next = offset + 1;
  }

  finish(offset: number): void {
    if (!this.since.has(offset)) return;
    this.finished.add(offset);
    this.since.delete(offset);
    while (this.offsets.length > 0 && this.finished.has(this.offsets[0] as number)) {
      this.finished.delete(this.offsets.shift() as number);
    }
    this.oldestSince = this.offsets.length > 0 ? this.since.get(this.offsets[0] as number) : undefined;
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  /** Resolves at the next finish (callers re-check their condition). */
  changed(): Promise<void> {
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Wakes every waiter (e.g. a rebalance: callers stop waiting and re-check). */
  wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
