/**
 * Delivers the outbox to the ledger in order, with exponential backoff while the ledger is unreachable.
 * Redelivery is safe: the ledger treats an event it already holds as a no-op. An event the ledger refuses
 * for good (bad chain, rule violation) is parked as rejected and reported; it is never silently dropped.
 */
import type { LedgerClient } from '../src/client/ledger-client.ts';
import { LedgerClientError } from '../src/client/ledger-client.ts';
import type { Outbox } from './outbox.ts';

export interface SenderOptions {
  readonly outbox: Outbox;
  readonly client: LedgerClient;
  readonly clock: () => Date;
  readonly batchSize?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onRejected?: (eventId: string, type: string, stream: string, reason: string) => void;
  readonly onOnlineChange?: (online: boolean) => void;
  /** Called with each wait before the next delivery attempt while the ledger is unreachable. */
  readonly onRetryScheduled?: (delayMs: number) => void;
}

export class Sender {
  private running = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private backoffMs: number;
  online = true;

  constructor(private readonly o: SenderOptions) {
    this.backoffMs = o.minBackoffMs ?? 250;
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.loop = this.run();
  }

  /** New events were enqueued: deliver now rather than at the next backoff tick. */
  poke(): void {
    this.wake?.();
  }

  /** Sends what is pending now; resolves true when the outbox is empty afterwards. */
  async flush(): Promise<boolean> {
    for (;;) {
      const batch = this.o.outbox.pending(this.o.batchSize ?? 100);
      if (batch.length === 0) return true;
      try {
        await this.o.client.append(batch.map((e) => e.envelope));
        this.o.outbox.markDelivered(batch.map((e) => e.seq), this.o.clock());
        this.setOnline(true);
      } catch (error) {
        if (error instanceof LedgerClientError && error.status >= 400 && error.status < 500 && error.status !== 401 && error.status !== 408 && error.status !== 429) {
          // The batch is all or nothing: the problem names the failing event; park it and retry the rest.
          const index = typeof error.problem['index'] === 'number' ? error.problem['index'] : 0;
          const bad = batch[index] ?? batch[0];
          if (bad) {
            const reason = `${error.status} ${error.problem.code}${error.problem['rule'] ? ` ${String(error.problem['rule'])}` : ''}: ${error.problem.detail}`;
            this.o.outbox.markRejected(bad.seq, reason);
            this.o.onRejected?.(bad.eventId, bad.type, bad.stream, reason);
          }
          continue;
        }
        this.o.outbox.markFailedAttempt(batch.map((e) => e.seq), error instanceof Error ? error.message : String(error));
        this.setOnline(false);
        return false;
      }
    }
  }

  private setOnline(online: boolean): void {
    if (online !== this.online) {
      this.online = online;
      this.o.onOnlineChange?.(online);
    }
  }

  private async run(): Promise<void> {
    while (this.running) {
      const empty = await this.flush();
      if (empty) this.backoffMs = this.o.minBackoffMs ?? 250;
      const wait = empty ? 1000 : this.backoffMs;
      if (!empty) this.o.onRetryScheduled?.(wait);
      if (!empty) this.backoffMs = Math.min(this.backoffMs * 2, this.o.maxBackoffMs ?? 10_000);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.wake = null;
          resolve();
        }, wait);
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    this.wake?.();
    await this.loop;
  }
}
