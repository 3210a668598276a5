/**
 * Delivers the outbox to the ledger in order, with exponential backoff while the ledger is unreachable.
 * Redelivery is safe: the ledger treats an event it already holds as a no-op.
 *
 * - An event the ledger refuses (a rule, a broken chain: the problem names its index) is parked as rejected
 *   and reported once; `flashtrail station requeue` puts it back after the cause is fixed.
 * - A refusal of the whole request (401/403: a wrong or revoked token, an auditor's token) is a
 *   configuration error, not a verdict on the events: they stay pending, and the token file is read again
 *   before the next try.
 * - One delivery at a time: the background loop and the eFuse gate's `deliver` share one queue, so no
 *   event is sent twice at once and no refusal is reported twice.
 */
import type { LedgerClient } from '../src/client/ledger-client.ts';
import { LedgerClientError } from '../src/client/ledger-client.ts';
import type { Outbox } from './outbox.ts';

export type Connection = 'online' | 'unreachable' | 'unauthorized';

export interface SenderOptions {
  readonly outbox: Outbox;
  /** The client to use now (the token file is read again after a 401/403). */
  readonly client: () => LedgerClient;
  readonly clock: () => Date;
  readonly batchSize?: number;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
  readonly onRejected?: (eventId: string, type: string, stream: string, reason: string) => void;
  readonly onConnection?: (connection: Connection, detail: string) => void;
  /** After every 401/403: read the token again (an operator may have fixed the file). */
  readonly reauthorize?: () => void;
  /** Called with each wait before the next delivery attempt while the ledger is unreachable. */
  readonly onRetryScheduled?: (delayMs: number) => void;
}

export type Delivery = { state: 'delivered' } | { state: 'rejected'; reason: string } | { state: 'pending'; reason: string };

export class Sender {
  private running = false;
  private wake: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private backoffMs: number;
  private queue: Promise<unknown> = Promise.resolve();
  connection: Connection = 'online';
  private detail = '';

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

  /** Sends what is pending now (after any delivery in progress); true when the outbox is empty afterwards. */
  flush(): Promise<boolean> {
    const run = this.queue.then(() => this.flushNow());
    this.queue = run.catch(() => undefined);
    return run;
  }

  /** Delivers what is pending, then says where one event stands: the eFuse gate's positive evidence. */
  async deliver(eventId: string): Promise<Delivery> {
    await this.flush();
    const s = this.o.outbox.stateOf(eventId);
    if (s?.state === 'delivered') return { state: 'delivered' };
    if (s?.state === 'rejected') return { state: 'rejected', reason: s.lastError ?? 'refused' };
    return { state: 'pending', reason: this.connection === 'online' ? 'not delivered yet' : `${this.connection}: ${this.detail}` };
  }

  private async flushNow(): Promise<boolean> {
    let size = this.o.batchSize ?? 100;
    for (;;) {
      const batch = this.o.outbox.pending(size);
      if (batch.length === 0) return true;
      try {
        await this.o.client().append(batch.map((e) => e.envelope));
        this.o.outbox.markDelivered(batch.map((e) => e.seq), this.o.clock());
        this.setConnection('online', '');
      } catch (error) {
        const reason = error instanceof LedgerClientError ? `${error.status} ${error.problem.code}${error.problem['rule'] ? ` ${String(error.problem['rule'])}` : ''}: ${error.problem.detail}` : error instanceof Error ? error.message : String(error);
        if (error instanceof LedgerClientError && (error.status === 401 || error.status === 403)) {
          this.o.outbox.markFailedAttempt(batch.map((e) => e.seq), reason);
          this.setConnection('unauthorized', reason);
          this.o.reauthorize?.();
          return false;
        }
        if (error instanceof LedgerClientError && error.status === 413 && size > 1) {
          size = Math.max(1, Math.floor(size / 2));
          continue;
        }
        if (error instanceof LedgerClientError && error.status >= 400 && error.status < 500 && error.status !== 408 && error.status !== 429) {
          // The batch is all or nothing: the problem names the failing event; park it and retry the rest.
          const index = typeof error.problem['index'] === 'number' ? error.problem['index'] : batch.length === 1 ? 0 : null;
          if (index === null) {
            size = 1;
            continue;
          }
          const bad = batch[index] ?? batch[0];
          if (bad) {
            this.o.outbox.markRejected(bad.seq, reason);
            this.o.onRejected?.(bad.eventId, bad.type, bad.stream, reason);
          }
          this.setConnection('online', '');
          continue;
        }
        this.o.outbox.markFailedAttempt(batch.map((e) => e.seq), reason);
        this.setConnection('unreachable', reason);
        return false;
      }
    }
  }

  private setConnection(connection: Connection, detail: string): void {
    const changed = connection !== this.connection;
    this.connection = connection;
    this.detail = detail;
    if (changed) this.o.onConnection?.(connection, detail);
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
    await this.queue;
  }
}
