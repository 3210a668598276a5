/**
 * The ledger's write side: every submitted envelope goes through one pipeline of named steps, and a batch
 * is written atomically only when every event of it passed every step.
 *
 *   decode → authorize → idempotency → resolve key → verify signature → hash chain → decide → append
 *
 * Idempotency comes before the key: a retry of an event already recorded is byte for byte what the ledger
 * verified when it recorded it, so it is answered "duplicate" even after its key was revoked (a station
 * whose outbox redelivers after a revocation must not see its recorded history refused).
 *
 * The steps are the same for every aggregate: the event's type names its aggregate in the registry
 * (src/domain/registry.ts), which says how to fold its stream, which other streams a decision reads, and
 * how to decide. Nothing here knows a particular aggregate, except that station keys live in station streams.
 */
import type { LedgerEvent } from '../../schemas/index.ts';
import type { EventStore, RecordedEvent } from '../store/event-store.ts';
import { DuplicateEventIdError, WrongExpectedVersionError } from '../store/event-store.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { fromHex } from '../crypto/encoding.ts';
import { DecisionError } from '../domain/decision-error.ts';
import type { Aggregate, DecisionContext, StreamRef } from '../domain/aggregate.ts';
import { aggregateOf } from '../domain/registry.ts';
import { stationAggregate } from '../domain/station.ts';
import { decodeTrustedEnvelope, decodeUntrustedEnvelope, EnvelopeDecodeError, type DecodedEvent } from '../event/codec.ts';
import { LedgerError } from './errors.ts';
import { StreamViews } from './stream-views.ts';

export type Role = 'station' | 'auditor' | 'admin';

export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** Set for station tokens: the only station this caller may speak for. */
  readonly stationId?: string;
}

/**
 * Which stations may hold a key id: every station that registered it, and perhaps others (each candidate's
 * own stream is read to confirm). The server answers from the read model's station list.
 */
export interface StationKeyDirectory {
  candidates(keyId: string): Promise<readonly string[]>;
}

export interface LedgerOptions {
  readonly store: EventStore;
  /** Needed to refuse one key id for two stations; without it only stations read in the same submission count. */
  readonly stationKeys?: StationKeyDirectory;
  readonly clock: () => Date;
  /** Administrator keys by key id; they sign station, release and batch events. */
  readonly adminKeys: ReadonlyMap<string, Uint8Array>;
  readonly maxClockSkewMs?: number;
  readonly maxBatchSize?: number;
  /** OpenSSL unless a caller asks otherwise; verdicts are the same either way. */
  readonly crypto?: CryptoBackend;
}

export interface AppendedEvent {
  readonly eventId: string;
  readonly type: string;
  readonly stream: string;
  readonly revision: bigint;
  readonly position: bigint;
  /** sha256 of the canonical envelope: the `prev` of the stream's next event. */
  readonly digest: string;
  /** True when this exact event was already recorded (a retry); nothing new was written. */
  readonly duplicate: boolean;
}

export interface StoredEvent extends DecodedEvent {
  readonly recorded: RecordedEvent;
}

/** Where in the submission an event sits: every refusal carries it. */
interface EventAt {
  readonly index: number;
  readonly eventId: string;
  readonly eventType: string;
}

/** An event that passed every check: either a retry of a recorded one, or pending until the append. */
type Checked = { readonly recorded: AppendedEvent } | { readonly pending: Omit<AppendedEvent, 'position'> };

export class Ledger {
  private readonly store: EventStore;
  private readonly clock: () => Date;
  private readonly adminKeys: ReadonlyMap<string, Uint8Array>;
  private readonly maxClockSkewMs: number;
  readonly maxBatchSize: number;
  private readonly crypto: CryptoBackend;
  private readonly stationKeys: StationKeyDirectory | undefined;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: LedgerOptions) {
    this.store = options.store;
    this.stationKeys = options.stationKeys;
    this.clock = options.clock;
    this.adminKeys = options.adminKeys;
    this.maxClockSkewMs = options.maxClockSkewMs ?? 5 * 60_000;
    this.maxBatchSize = options.maxBatchSize ?? 1000;
    this.crypto = options.crypto ?? nativeCrypto;
  }

  /** Appends one batch, all or nothing. Submissions are serialised so that checks and append see one state. */
  submit(inputs: readonly unknown[], principal: Principal): Promise<AppendedEvent[]> {
    const run = this.queue.then(() => this.submitNow(inputs, principal));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async submitNow(inputs: readonly unknown[], principal: Principal): Promise<AppendedEvent[]> {
    if (inputs.length === 0) throw new LedgerError('BODY_INVALID', 'no events submitted');
    if (inputs.length > this.maxBatchSize) {
      throw new LedgerError('PAYLOAD_TOO_LARGE', `at most ${this.maxBatchSize} events per request`);
    }
    const decoded = inputs.map((input, index) => this.decode(input, index));
    const views = new StreamViews(this.store, this.crypto);
    const checked: Checked[] = [];
    for (const [index, item] of decoded.entries()) checked.push(await this.check(item, { index, eventId: item.event.id, eventType: item.event.type }, principal, views));
    const positions = await this.append(views);
    return checked.map((c) => {
      if ('recorded' in c) return c.recorded;
      const position = positions.get(c.pending.eventId);
      if (position === undefined) throw new Error(`the store answered no position for event ${c.pending.eventId}`);
      return { ...c.pending, position };
    });
  }

  /** Every step but the append, for one event of the submission. */
  private async check(item: DecodedEvent, at: EventAt, principal: Principal, views: StreamViews): Promise<Checked> {
    this.authorize(item.event, principal, at);
    return aggregateOf(item.event).open((aggregate) => this.extendStream(aggregate, item, at, views));
  }

  private authorize(event: LedgerEvent, principal: Principal, at: EventAt): void {
    const deny = (why: string): never => {
      throw new LedgerError('FORBIDDEN', `event ${at.index}: ${why}`, { ...at });
    };
    switch (event.source.kind) {
      case 'ledger':
        return deny(`${event.type} is written by the ledger itself`);
      case 'station':
        if (principal.role !== 'station') deny(`${event.type} must be submitted by a station token`);
        if (principal.stationId !== event.source.id) deny(`token of station ${principal.stationId ?? '?'} cannot submit events of station ${event.source.id}`);
        return;
      case 'admin':
        if (principal.role !== 'admin') deny(`${event.type} is an administrative event and needs an admin token`);
        return;
    }
  }

  /** Administrators sign with configured keys; a station with a key registered, and not revoked, in its stream. */
  private async resolveKey(item: DecodedEvent, views: StreamViews, at: EventAt): Promise<Uint8Array> {
    // The envelope schema admits exactly one signature.
    const keyId = item.envelope.signatures[0]?.keyid ?? '';
    const { source } = item.event;
    if (source.kind !== 'station') {
      const key = this.adminKeys.get(keyId);
      if (!key) throw new LedgerError('KEY_UNKNOWN', `event ${at.index}: ${keyId} is not a trusted administrator key`, { ...at, keyId });
      return key;
    }
    const station = (await views.load(stationAggregate.stream(source.id))).state;
    if (station.stationId === null) {
      throw new LedgerError('KEY_UNKNOWN', `event ${at.index}: station ${source.id} is not registered`, { ...at, keyId });
    }
    const key = station.keys.get(keyId);
    if (!key) {
      throw new LedgerError('KEY_UNKNOWN', `event ${at.index}: key ${keyId} is not registered for station ${source.id}`, { ...at, keyId });
    }
    if (key.revokedAt !== null) {
      throw new LedgerError('KEY_REVOKED', `event ${at.index}: key ${keyId} of station ${source.id} was revoked at ${key.revokedAt}`, { ...at, keyId });
    }
    return fromHex(key.publicKey);
  }

  /** idempotency → resolve key → verify signature → hash chain → decide: the event joins its stream's pending events (or is a retry). */
  private async extendStream<E extends LedgerEvent, S>(aggregate: Aggregate<E, S>, item: DecodedEvent, at: EventAt, views: StreamViews): Promise<Checked> {
    const { event, digest } = item;
    if (!aggregate.accepts(event)) throw new Error(`the registry gave ${event.type} to the ${aggregate.name} aggregate, which does not own it`);
    const view = await views.load(aggregate.streamFor(event));

    const known = view.known.get(event.id);
    if (known) {
      if (known.digest !== digest || known.position === null) {
        throw new LedgerError('EVENT_ID_CONFLICT', `event ${at.index}: id ${event.id} is already recorded with different content`, { ...at, stream: view.stream });
      }
      // The same bytes (digest) as the recorded event, whose signature was verified when it was recorded.
      return { recorded: { eventId: event.id, type: event.type, stream: view.stream, revision: known.revision, position: known.position, digest, duplicate: true } };
    }

    const publicKey = await this.resolveKey(item, views, at);
    if (!verifyEnvelopeSignature(item.envelope, publicKey, this.crypto)) {
      throw new LedgerError('SIGNATURE_INVALID', `event ${at.index}: Ed25519 signature does not verify (RFC 8032, strict)`, { ...at });
    }

    if (event.prev !== view.headDigest) {
      throw new LedgerError('CHAIN_MISMATCH', `event ${at.index}: prev does not match the head of ${view.stream}`, {
        ...at,
        stream: view.stream,
        expectedPrev: view.headDigest,
        actualPrev: event.prev,
      });
    }

    const context = await this.loadContext(aggregate, event, view.state, views);
    const signed: LedgerEvent = event;
    const keyHolders = signed.type === 'StationKeyRegistered' ? await this.stationsHoldingKey(signed.data.keyId, views) : [];
    let decided: readonly E[];
    try {
      decided = aggregate.decide(event, view.state, this.decisionContext(aggregate, context, views, view.headOccurredAt, keyHolders));
    } catch (error) {
      if (error instanceof DecisionError) {
        throw new LedgerError('RULE_VIOLATION', `event ${at.index}: ${error.message}`, { ...at, rule: error.rule, currentState: error.currentState });
      }
      throw error;
    }
    if (decided.length !== 1 || decided[0] !== event) throw new Error(`the ${aggregate.name} decider returned other events than the signed one it was given`);

    view.state = aggregate.evolve(view.state, event);
    view.revision = view.revision === null ? 0n : view.revision + 1n;
    view.headDigest = digest;
    view.headOccurredAt = event.occurredAt;
    view.known.set(event.id, { digest, revision: view.revision, position: null });
    view.pending.push(item);
    return { pending: { eventId: event.id, type: event.type, stream: view.stream, revision: view.revision, digest, duplicate: false } };
  }

  /**
   * The stations whose streams register a key id: the directory's candidates, each confirmed by its own
   * stream (the store, not the read model, decides), and every station stream this submission has read,
   * pending registrations included (one request registering one key for two stations).
   */
  private async stationsHoldingKey(keyId: string, views: StreamViews): Promise<string[]> {
    for (const stationId of (await this.stationKeys?.candidates(keyId)) ?? []) await views.load(stationAggregate.stream(stationId));
    const holders = new Set<string>();
    for (const { stream } of views.all()) {
      if (!stream.startsWith(stationAggregate.streamPrefix)) continue;
      const state = views.peek(stationAggregate.stream(stream.slice(stationAggregate.streamPrefix.length)))?.state;
      if (state && state.stationId !== null && state.keys.has(keyId)) holders.add(state.stationId);
    }
    return [...holders].sort();
  }

  /** The streams the aggregate declares for a decision, loaded; a declared stream may name another. */
  private async loadContext<E extends LedgerEvent, S>(aggregate: Aggregate<E, S>, event: E, state: S, views: StreamViews): Promise<StreamRef<unknown>[]> {
    const declared = new Map<string, StreamRef<unknown>>();
    for (let round = 0; round < 4; round++) {
      const fresh = aggregate.context(event, state, (ref) => (declared.has(ref.stream) ? views.peek(ref)?.state : undefined)).filter((r) => !declared.has(r.stream));
      if (fresh.length === 0) break;
      for (const ref of fresh) {
        declared.set(ref.stream, ref);
        await views.load(ref);
      }
    }
    return [...declared.values()];
  }

  /** A decider sees the streams its aggregate declared for the event, and only those. */
  private decisionContext(aggregate: { readonly name: string }, declared: readonly StreamRef<unknown>[], views: StreamViews, previousAt: string | null, keyHolders: readonly string[]): DecisionContext {
    const streams = new Set(declared.map((r) => r.stream));
    return {
      now: this.clock(),
      maxClockSkewMs: this.maxClockSkewMs,
      previousAt,
      stationsHoldingKey: () => keyHolders,
      stateOf(ref) {
        const view = streams.has(ref.stream) ? views.peek(ref) : undefined;
        if (!view) throw new Error(`the ${aggregate.name} decider read ${ref.stream}, which its context() did not declare for this event`);
        return view.state;
      },
    };
  }

  /** Writes every pending event in one atomic append; returns their $all positions by event id. */
  private async append(views: StreamViews): Promise<Map<string, bigint>> {
    const touched = views.touched();
    const positions = new Map<string, bigint>();
    if (touched.length === 0) return positions;
    try {
      const written = await this.store.appendToStreams(
        touched.map((v) => ({
          stream: v.stream,
          expected: v.storedRevision ?? 'no_stream',
          events: v.pending.map((d) => ({ id: d.event.id, type: d.event.type, data: d.bytes })),
        })),
      );
      touched.forEach((view, i) =>
        view.pending.forEach((d, j) => {
          const position = written[i]?.positions[j];
          if (position !== undefined) positions.set(d.event.id, position);
        }),
      );
    } catch (error) {
      if (error instanceof WrongExpectedVersionError) {
        throw new LedgerError('CONCURRENCY_CONFLICT', `stream ${error.stream} changed while this batch was checked; re-read and retry`, { stream: error.stream });
      }
      if (error instanceof DuplicateEventIdError) {
        throw new LedgerError('EVENT_ID_CONFLICT', `event id ${error.eventId} is already recorded in stream ${error.stream}`, { eventId: error.eventId, stream: error.attemptedStream, recordedIn: error.stream });
      }
      throw error;
    }
    return positions;
  }

  /** The current state of one stream, folded by its aggregate. */
  async stateOf<S>(ref: StreamRef<S>): Promise<S> {
    return (await new StreamViews(this.store, this.crypto).load(ref)).state;
  }

  async readStream(stream: string): Promise<StoredEvent[]> {
    const recorded = await this.store.readStream(stream);
    return recorded.map((r) => this.decodeRecorded(r));
  }

  /** The last event of a stream, read alone; null when the stream does not exist. */
  async streamHead(stream: string): Promise<StoredEvent | null> {
    const [head] = await this.store.readStream(stream, { direction: 'backwards', maxCount: 1 });
    return head ? this.decodeRecorded(head) : null;
  }

  /** The codec's refusal, as the ledger's coded error naming the event's index in the request. */
  private decode(input: unknown, index: number): DecodedEvent {
    try {
      return decodeUntrustedEnvelope(input, this.crypto);
    } catch (error) {
      if (!(error instanceof EnvelopeDecodeError)) throw error;
      throw new LedgerError(error.code, `event ${index}: ${error.message}`, { index, ...(error.issues.length > 0 ? { issues: error.issues } : {}) });
    }
  }

  private decodeRecorded(recorded: RecordedEvent): StoredEvent {
    return { ...decodeTrustedEnvelope(recorded.data, this.crypto), recorded };
  }
}
