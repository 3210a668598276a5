/**
 * The CFX publisher: a projection of the log onto the plant broker. It reads ledger events in log order after
 * its cursor, maps them to CFX messages (src/cfx/mapping.ts) and publishes them on one AMQP link; when the
 * broker has accepted every message of an event (and of all events before it), the cursor and the mapping's
 * state move past it in one SQLite transaction (`cfx-publisher.sqlite` in the data directory).
 *
 * - At least once, in log order: after a broker outage, a refused message or a ledger restart, publishing
 *   resumes from the cursor, so messages in flight then are sent again, with the same UniqueID (derived from
 *   the event id), for the consumer to drop. One link, sent in log order: the broker keeps that order per queue.
 * - Backpressure: at most `maxInFlight` messages unaccepted, and never more than the link's AMQP credit; the
 *   log is read only as far as that window needs, a bounded batch at a time. Memory does not grow with lag.
 * - Off the append path: appends never wait for it. A broker that is down costs a reconnect attempt now and
 *   then; lag and failures are counted (stats()) for /metrics.
 */
import { gzipSync } from 'node:zlib';
import Database from 'better-sqlite3';
import rhea, { type Connection, type Delivery, type EventContext, type Sender } from 'rhea';
import type { EventStore, Subscription } from '../store/event-store.ts';
import { decodeTrustedEnvelope } from '../event/codec.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { mapLedgerEvent, type CfxMappingSettings, type CfxOutgoing, type CfxStateDoc } from '../cfx/mapping.ts';
import { amqpPropertiesOf, envelopeJson } from '../cfx/transport.ts';
import type { BrokerConnection, BrokerLogger } from './broker.ts';

export interface PublisherStats {
  readonly connected: boolean;
  /** This instance publishes (false: another instance is the elected writer; this one only keeps its cursor). */
  readonly active: boolean;
  /** Position of the last event all of whose messages the broker accepted (-1: none yet). */
  readonly cursor: bigint;
  /** Position of the last event in the log. */
  readonly head: bigint;
  /** Log positions not yet published: head - cursor. */
  readonly lag: bigint;
  /** Messages the broker accepted since start. */
  readonly published: number;
  readonly inFlight: number;
  /** Events read from the log and held until the broker accepts their messages (bounded: 4 × maxInFlight). */
  readonly buffered: number;
  /** Messages the broker refused (rejected, released, modified) since start; each is sent again. */
  readonly deliveryFailures: number;
  /** Connections lost or refused since start. */
  readonly connectionFailures: number;
  readonly lastError: string | null;
}

export interface PublisherOptions {
  readonly store: EventStore;
  readonly broker: BrokerConnection;
  /** The cursor file, e.g. `<data>/cfx-publisher.sqlite`. */
  readonly file: string;
  readonly address: string;
  readonly mapping: CfxMappingSettings;
  readonly maxInFlight: number;
  /** First start on a ledger with history: publish it (`beginning`) or start from the head (`now`). */
  readonly start: 'beginning' | 'now';
  readonly logger?: BrokerLogger;
  /** Events read from the log per batch. */
  readonly readBatch?: number;
  /** How long to wait after a refused message before sending again. */
  readonly retryAfterMs?: number;
  /**
   * Whether this instance publishes now (several API instances on one PostgreSQL store: only the elected log
   * writer does, so the plant gets each message once, not once per instance). Asked before each send and every
   * second; unset: always.
   */
  readonly active?: () => boolean;
}

const SCHEMA = `
CREATE TABLE IF NOT EXISTS cursor (
  id            INTEGER PRIMARY KEY CHECK (id = 1),
  position      INTEGER NOT NULL,
  -- Events up to here build the state but are not published (FLASHTRAIL_CFX_START=now on a ledger with history).
  silent_until  INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS state (
  key  TEXT PRIMARY KEY,
  doc  TEXT NOT NULL
) WITHOUT ROWID;
`;

interface Outgoing {
  readonly body: Buffer;
  readonly properties: ReturnType<typeof amqpPropertiesOf>;
}

interface PendingEvent {
  readonly position: bigint;
  readonly writes: readonly (readonly [string, CfxStateDoc])[];
  readonly messages: readonly Outgoing[];
  sent: number;
  accepted: number;
}

export class CfxPublisher {
  private readonly db: Database.Database;
  private readonly readBatch: number;
  private cursor: bigint;
  private silentUntil: bigint;
  /** Events mapped, not yet all accepted, in log order; their state changes are in `overlay`. */
  private pending: PendingEvent[] = [];
  private overlay = new Map<string, CfxStateDoc>();
  private readPosition: bigint;
  private inFlight = 0;
  private sender: Sender | null = null;
  /** Bumped on every reset: dispositions of deliveries from before it are ignored. */
  private generation = 0;
  private deliveries = new Map<Delivery, { generation: number; event: PendingEvent }>();
  private published = 0;
  private deliveryFailures = 0;
  private lastError: string | null = null;
  private head = -1n;
  private stopped = true;
  private wakeUp: (() => void) | null = null;
  private loop: Promise<void> | null = null;
  private subscription: Subscription | null = null;
  private retryTimer: ReturnType<typeof setTimeout> | null = null;
  private pollTimer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly options: PublisherOptions) {
    this.db = new Database(options.file);
    this.db.pragma('journal_mode = WAL');
    // A cursor lost to a power cut only means messages sent again, which consumers drop by UniqueID.
    this.db.pragma('synchronous = NORMAL');
    this.db.exec(SCHEMA);
    const row = this.db.prepare('SELECT position, silent_until FROM cursor WHERE id = 1').get() as { position: number; silent_until: number } | undefined;
    this.cursor = row ? BigInt(row.position) : -1n;
    this.silentUntil = row ? BigInt(row.silent_until) : -1n;
    this.readPosition = this.cursor;
    this.readBatch = options.readBatch ?? 200;
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.head = await this.options.store.headPosition();
    const hasCursor = this.db.prepare('SELECT 1 FROM cursor WHERE id = 1').get() !== undefined;
    if (!hasCursor) {
      this.silentUntil = this.options.start === 'now' ? this.head : -1n;
      this.db.prepare('INSERT INTO cursor (id, position, silent_until) VALUES (1, -1, ?)').run(this.silentUntil);
    }
    this.options.broker.onOpen((connection) => this.attach(connection));
    this.options.broker.onDown((reason) => this.reset(reason, false));
    // New events wake the loop at once; the timer covers a store whose subscription stalls.
    this.subscription = this.options.store.subscribeToAll({ after: this.head });
    void (async () => {
      try {
        for await (const event of this.subscription as Subscription) {
          if (event.position > this.head) this.head = event.position;
          this.wake();
        }
      } catch {
        // The store closed: stop() follows.
      }
    })();
    this.pollTimer = setInterval(() => this.wake(), 1000);
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    if (this.pollTimer) clearInterval(this.pollTimer);
    await this.subscription?.close();
    this.wake();
    await this.loop;
    this.closeSender();
    this.db.close();
  }

  async stats(): Promise<PublisherStats> {
    if (!this.stopped) {
      const head = await this.options.store.headPosition();
      if (head > this.head) this.head = head;
    }
    const broker = this.options.broker.status();
    return {
      connected: broker.connected && this.sender !== null && this.sender.is_open(),
      active: this.options.active?.() ?? true,
      cursor: this.cursor,
      head: this.head,
      lag: this.head > this.cursor ? this.head - this.cursor : 0n,
      published: this.published,
      inFlight: this.inFlight,
      buffered: this.pending.length,
      deliveryFailures: this.deliveryFailures,
      connectionFailures: broker.connectionFailures,
      lastError: this.lastError ?? broker.lastError,
    };
  }

  private attach(connection: Connection): void {
    if (this.stopped) return;
    this.closeSender();
    const sender = connection.open_sender({
      target: { address: this.options.address },
      // Settled by the broker's disposition: accepted means it has the message (durable: on disk).
      autosettle: true,
    });
    this.sender = sender;
    const mine = (context: EventContext) => context.sender === sender && this.sender === sender;
    sender.on('sendable', (context: EventContext) => mine(context) && this.wake());
    sender.on('accepted', (context: EventContext) => this.settled(context.delivery as Delivery, null));
    for (const outcome of ['rejected', 'released', 'modified'] as const) {
      sender.on(outcome, (context: EventContext) => this.settled(context.delivery as Delivery, outcome, context));
    }
    sender.on('sender_error', (context: EventContext) => {
      if (!mine(context)) return;
      const e = context.sender?.error as { condition?: string; description?: string } | undefined;
      this.refused(`the broker closed the link to ${this.options.address}: ${[e?.condition, e?.description].filter(Boolean).join(': ') || 'no reason given'}`);
    });
    sender.on('sender_close', (context: EventContext) => mine(context) && this.refused(`the broker closed the link to ${this.options.address}`));
  }

  private closeSender(): void {
    const sender = this.sender;
    this.sender = null;
    try {
      if (sender?.is_open()) sender.close();
    } catch {
      // the connection is gone already
    }
  }

  private settled(delivery: Delivery, outcome: 'rejected' | 'released' | 'modified' | null, context?: EventContext): void {
    const entry = this.deliveries.get(delivery);
    if (!entry || this.stopped) return;
    this.deliveries.delete(delivery);
    if (entry.generation !== this.generation) return;
    this.inFlight--;
    if (outcome !== null) {
      const error = (context?.delivery?.remote_state as { error?: { condition?: string; description?: string } } | undefined)?.error;
      this.deliveryFailures++;
      this.refused(`the broker ${outcome} a message${error ? ` (${[error.condition, error.description].filter(Boolean).join(': ')})` : ''}`);
      return;
    }
    entry.event.accepted++;
    this.published++;
    this.commitSettled();
    this.wake();
  }

  /** The broker refused a message or the link: start again from the cursor, after a pause, on a new link. */
  private refused(reason: string): void {
    this.reset(reason, true);
    this.closeSender();
    if (this.retryTimer || this.stopped) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      if (this.stopped) return;
      const connection = this.options.broker.current();
      if (connection) this.attach(connection);
    }, this.options.retryAfterMs ?? 2000);
  }

  /** Forgets everything not yet accepted; the loop re-reads from the cursor. */
  private reset(reason: string, logIt: boolean): void {
    this.generation++;
    this.deliveries.clear();
    this.inFlight = 0;
    this.pending = [];
    this.overlay = new Map();
    this.readPosition = this.cursor;
    this.lastError = reason;
    if (logIt) this.options.logger?.warn({ reason, cursor: this.cursor.toString() }, 'CFX publishing interrupted; resuming from the cursor');
    if (this.sender && !this.sender.is_open()) this.sender = null;
    this.wake();
  }

  /** Moves the cursor past every leading event whose messages were all accepted, with their state, atomically. */
  private commitSettled(): void {
    let n = 0;
    while (n < this.pending.length && (this.pending[n] as PendingEvent).accepted === (this.pending[n] as PendingEvent).messages.length) n++;
    if (n === 0) return;
    const done = this.pending.splice(0, n);
    const put = this.db.prepare('INSERT INTO state (key, doc) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET doc = excluded.doc');
    const last = (done[done.length - 1] as PendingEvent).position;
    this.db.transaction(() => {
      for (const e of done) for (const [key, doc] of e.writes) put.run(key, JSON.stringify(doc));
      this.db.prepare('UPDATE cursor SET position = ? WHERE id = 1').run(last);
    })();
    this.cursor = last;
    // The overlay holds the newest state of a key; once no pending event writes that key, the database has it.
    const stillWritten = new Set(this.pending.flatMap((e) => e.writes.map(([k]) => k)));
    for (const key of [...this.overlay.keys()]) if (!stillWritten.has(key)) this.overlay.delete(key);
  }

  private lookup = (key: string): CfxStateDoc | null => {
    const own = this.overlay.get(key);
    if (own) return own;
    const row = this.db.prepare('SELECT doc FROM state WHERE key = ?').get(key) as { doc: string } | undefined;
    return row ? (JSON.parse(row.doc) as CfxStateDoc) : null;
  };

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }

  private sleep(): Promise<void> {
    return new Promise((resolve) => {
      this.wakeUp = resolve;
    });
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      try {
        const progressed = await this.step();
        if (!progressed) await this.sleep();
        // Let HTTP requests and appends in: a catch-up after an outage must not hold the event loop.
        else await new Promise((r) => setImmediate(r));
      } catch (error) {
        this.reset(`publishing failed: ${(error as Error).message}`, true);
        await new Promise((r) => setTimeout(r, this.options.retryAfterMs ?? 2000));
      }
    }
  }

  /** Sends what the window allows, reading and mapping more of the log when needed. False when nothing moved. */
  private async step(): Promise<boolean> {
    const sender = this.sender;
    if (!sender || !sender.is_open()) return false;
    if (this.options.active && !this.options.active()) return false;
    let moved = false;
    const generation = this.generation;
    while (this.inFlight < this.options.maxInFlight && this.creditLeft(sender) > 0 && generation === this.generation) {
      const next = this.pending.find((e) => e.sent < e.messages.length);
      if (!next) {
        // Nothing unsent: read more, unless the window of mapped events is full already.
        if (this.pending.length >= this.options.maxInFlight * 4) break;
        const read = await this.readMore();
        if (generation !== this.generation) return true;
        if (read === 0) break;
        moved = true;
        this.commitSettled(); // events without messages (administrator events, shipments) pass at once
        continue;
      }
      const message = next.messages[next.sent] as Outgoing;
      next.sent++;
      const delivery = sender.send({ ...message.properties, body: rhea.message.data_section(message.body) });
      this.deliveries.set(delivery, { generation, event: next });
      this.inFlight++;
      moved = true;
    }
    return moved;
  }

  /**
   * The link's credit not yet spoken for. rhea takes credit when it writes a transfer (on its next turn), not
   * when send() is called, so messages handed over but not yet written count against it here.
   */
  private creditLeft(sender: Sender): number {
    if (!sender.sendable()) return 0;
    let unwritten = 0;
    for (const delivery of this.deliveries.keys()) if (!(delivery as Delivery & { sent?: boolean }).sent) unwritten++;
    return (sender as Sender & { credit: number }).credit - unwritten;
  }

  private async readMore(): Promise<number> {
    const events = await this.options.store.readAll({ after: this.readPosition, maxCount: this.readBatch });
    for (const recorded of events) {
      const decoded = decodeTrustedEnvelope(recorded.data, nativeCrypto);
      const mapped = mapLedgerEvent(decoded.event, { position: recorded.position, digest: decoded.digest }, this.lookup, this.options.mapping);
      for (const [key, doc] of mapped.writes) this.overlay.set(key, doc);
      const silent = recorded.position <= this.silentUntil;
      this.pending.push({
        position: recorded.position,
        writes: mapped.writes,
        messages: silent ? [] : mapped.messages.map(encode),
        sent: 0,
        accepted: 0,
      });
      this.readPosition = recorded.position;
      if (recorded.position > this.head) this.head = recorded.position;
    }
    return events.length;
  }
}

function encode(m: CfxOutgoing): Outgoing {
  return { body: gzipSync(Buffer.from(envelopeJson(m.envelope), 'utf8')), properties: amqpPropertiesOf(m.envelope, m.evidence) };
}
