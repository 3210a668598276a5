/**
 * Long background work (catching up a read model, the Merkle log or the unit map on a backlog) runs on the
 * event loop that serves requests. Its reads from SQLite resolve at once, so `await` alone never lets the loop
 * run I/O: without a turn between slices, every connection waits for the whole backlog, and a kept-alive
 * connection whose next request arrived meanwhile is reset by the server's keep-alive timer (5 s) when the loop
 * comes back: the client sees ECONNRESET (test/background-work.int.test.ts).
 *
 * Slices are sized by time, not by count: on a loaded machine (two cores, a dozen processes) a fixed 5,000
 * events took seconds, long enough for the keep-alive timer again.
 */

/** How long one slice of background work may hold the loop, in wall-clock milliseconds. */
export const SLICE_BUDGET_MS = 50;

/** Lets the event loop run its timers and I/O (pending requests) once, then resumes. */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The size of the next slice of a batched job (one transaction per slice), from how long the last ones took:
 * slices grow towards `max` while they fit the budget (large transactions are what makes a rebuild fast) and
 * shrink as soon as one overran it.
 */
export class SliceSizer {
  private current: number;

  constructor(
    private readonly max: number,
    private readonly min = Math.min(100, max),
    private readonly budgetMs = SLICE_BUDGET_MS,
  ) {
    this.current = Math.min(max, Math.max(min, 1000));
  }

  get size(): number {
    return this.current;
  }

  /** Records that a slice of `items` took `ms`. */
  took(items: number, ms: number): void {
    if (items < this.current) return; // a short slice (the end of the backlog) says little about the rate
    const fitting = ms > 0 ? Math.floor((items * this.budgetMs) / ms) : this.max;
    this.current = Math.max(this.min, Math.min(this.max, fitting, this.current * 2));
  }
}
