/**
 * Graceful shutdown: once draining starts, a request that arrives on a connection still open is refused
 * (503 UNAVAILABLE, `Connection: close`, nothing done: the client retries against another instance or after
 * the restart, and appends are idempotent by event id); the requests already in flight run to their end, so
 * that the stores are closed only after every acknowledged append is durable and no append is cut half-way.
 */
import type { MiddlewareHandler } from 'hono';
import type { AppEnv } from './middleware.ts';
import { problem } from './problem.ts';

export class RequestGate {
  private inFlight = 0;
  private draining = false;
  private idle: (() => void)[] = [];

  /** Requests being served now. */
  get active(): number {
    return this.inFlight;
  }

  /** Counts requests in flight; refuses new ones once draining. */
  middleware(): MiddlewareHandler<AppEnv> {
    return async (c, next) => {
      if (this.draining) {
        c.header('Connection', 'close');
        c.header('Retry-After', '5');
        return problem(c, 'UNAVAILABLE', 'the ledger is shutting down; retry the same request (it is idempotent)');
      }
      this.inFlight++;
      try {
        await next();
      } finally {
        if (--this.inFlight === 0) for (const wake of this.idle.splice(0)) wake();
      }
    };
  }

  /**
   * Refuses new requests from now on and resolves when the last one in flight has been answered, or after
   * `graceMs` (whichever is first) with the number still running.
   */
  async drain(graceMs: number): Promise<number> {
    this.draining = true;
    if (this.inFlight === 0) return 0;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([new Promise<void>((resolve) => this.idle.push(resolve)), new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
    return this.inFlight;
  }
}
