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
 *
 * Group commit: submissions that arrive while the previous write is being made wait together and are then
 * decided one after another, each against the state the earlier ones of its group produced (savepoints in
 * ./stream-views.ts), and written in one store transaction (`appendGroups`: one fsync for all of them).
 * Each keeps its own outcome: a refused submission is rolled back alone, and a submission is answered only
 * once the transaction holding its events is durable. Decoding and, where the key is already known, the
 * signature check happen before a submission joins its group, outside the one-at-a-time part; with a
 * signature pool (src/native/signature-pool.ts) that check runs on worker threads, so the writer thread
 * only decodes, decides and writes (except on an idle ledger: a small submission is verified at once on this
 * thread, as one client's sequential appends gain nothing from a worker round trip, and a large batch is
 * shared, the workers verifying its first events while this thread decodes the rest and verifies the last).
 *
 * When the ledger is the only writer of its store (`singleWriter`: SQLite, whose data directory is locked
 * to one process), the folded heads of recently used streams are kept between groups, so a hot station,
 * batch or release stream is neither re-read nor re-hashed per append; whatever a refused or failed write
 * may have left stale is dropped from the cache.
 */
import type { LedgerEvent } from '../../schemas/index.ts';
import type { EventStore, RecordedEvent } from '../store/event-store.ts';
import { DuplicateEventIdError, WrongExpectedVersionError } from '../store/event-store.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import type { EnvelopeSignatureVerifier } from '../native/signature-pool.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import { bytesEqual, fromHex } from '../crypto/encoding.ts';
import { DecisionError } from '../domain/decision-error.ts';
import type { Aggregate, DecisionContext, StreamRef } from '../domain/aggregate.ts';
import { aggregateOf } from '../domain/registry.ts';
import { stationAggregate, type StationState } from '../domain/station.ts';
import { decodeTrustedEnvelope, decodeUntrustedEnvelope, EnvelopeDecodeError, type DecodedEvent } from '../event/codec.ts';
import { LedgerError } from './errors.ts';
import { Savepoint, StreamCache, StreamViews, type KnownEvent } from './stream-views.ts';
import type { AppendResult } from '../store/event-store.ts';

export type Role = 'station' | 'auditor' | 'admin';

/** The largest submission an idle ledger verifies on its own thread rather than on the signature workers. */
const INLINE_VERIFY_MAX_EVENTS = 4;
/** A strict decode of one envelope costs about this many Ed25519 verifies (schema, RFC 8785 check, SHA-256; profiled). */
const DECODE_COST_IN_VERIFIES = 0.25;
/** Envelopes of a shared batch sent to the workers per message, as they are decoded. */
const SHARED_VERIFY_CHUNK = 16;

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
  /**
   * True when nothing but this ledger writes to the store (SQLite: the data directory lock): stream heads
   * are then cached between submissions. Leave false where other instances append to the same store.
   */
  readonly singleWriter?: boolean;
  /** How many streams the cache keeps (least recently used go first). */
  readonly cachedStreams?: number;
  /** Upper bound of events decided and written in one group commit. */
  readonly maxGroupEvents?: number;
  /**
   * Verifies the signatures whose key is known before a submission joins its group, off the writer thread
   * (worker threads with the same strict verify). Without it they are verified on the calling thread.
   */
  readonly signatures?: EnvelopeSignatureVerifier;
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

/**
 * An event that passed every check: a retry of a recorded one, a retry of one an earlier submission of the
 * group is writing (answered once that write is durable), or a new one pending until the append.
 */
type Checked =
  | { readonly recorded: AppendedEvent }
  | { readonly pending: Omit<AppendedEvent, 'position'>; readonly known: KnownEvent };

/** A signature checked before the group: the key it was checked against, and the verdict. */
interface CheckedAhead {
  readonly publicKey: Uint8Array;
  readonly valid: boolean;
}

/** A submission waiting for, or being decided in, a group commit. */
interface Submission {
  readonly decoded: readonly DecodedEvent[];
  readonly principal: Principal;
  /** Each event's signature as checked before the group; undefined where its key was not known then. */
  readonly ahead: readonly (CheckedAhead | undefined)[];
  readonly resolve: (appended: AppendedEvent[]) => void;
  readonly reject: (error: unknown) => void;
  /** Set once the submission was decided again because an earlier submission of its group failed to write. */
  redecided: boolean;
}

export class Ledger {
  private readonly store: EventStore;
  private readonly clock: () => Date;
  private readonly adminKeys: ReadonlyMap<string, Uint8Array>;
  private readonly maxClockSkewMs: number;
  readonly maxBatchSize: number;
  private readonly crypto: CryptoBackend;
  private readonly stationKeys: StationKeyDirectory | undefined;
  private readonly cache: StreamCache | undefined;
  private readonly maxGroupEvents: number;
  private readonly signatures: EnvelopeSignatureVerifier | undefined;
  private readonly waiting: Submission[] = [];
  private committing = false;
  /** Submissions whose signatures are on the worker threads, not yet waiting for a group. */
  private verifyingAhead = 0;

  constructor(options: LedgerOptions) {
    this.store = options.store;
    this.stationKeys = options.stationKeys;
    this.clock = options.clock;
    this.adminKeys = options.adminKeys;
    this.maxClockSkewMs = options.maxClockSkewMs ?? 5 * 60_000;
    this.maxBatchSize = options.maxBatchSize ?? 1000;
    this.crypto = options.crypto ?? nativeCrypto;
    this.cache = options.singleWriter ? new StreamCache(options.cachedStreams) : undefined;
    this.maxGroupEvents = options.maxGroupEvents ?? 4000;
    this.signatures = options.signatures;
  }

  /**
   * Appends one batch, all or nothing, and answers once it is durable. Concurrent submissions are decided
   * in arrival order, each seeing what the earlier ones wrote, and written together (group commit).
   */
  async submit(inputs: readonly unknown[], principal: Principal): Promise<AppendedEvent[]> {
    if (inputs.length === 0) throw new LedgerError('BODY_INVALID', 'no events submitted');
    if (inputs.length > this.maxBatchSize) {
      throw new LedgerError('PAYLOAD_TOO_LARGE', `at most ${this.maxBatchSize} events per request`);
    }
    const idle = !this.committing && this.waiting.length === 0 && this.verifyingAhead === 0;
    const pool = this.signatures;
    let decoded: DecodedEvent[];
    let ahead: (CheckedAhead | undefined)[];
    if (!pool || (idle && inputs.length <= INLINE_VERIFY_MAX_EVENTS)) {
      // A small submission reaching an idle ledger is verified here: the worker round trip (a message each way
      // and a thread woken from sleep) costs more CPU and latency than the verify itself, and there is nothing
      // for this thread to do meanwhile.
      decoded = inputs.map((input, index) => this.decode(input, index));
      ahead = decoded.map((item) => this.verifyHere(item, this.keyKnownAhead(item)));
    } else if (idle && pool.verifyNow) {
      // A large batch reaching an idle ledger: the workers and this thread verify it together.
      const verifyNow = pool.verifyNow.bind(pool);
      this.verifyingAhead++;
      try {
        ({ decoded, ahead } = await this.decodeAndVerifyShared(inputs, verifyNow, pool.threads ?? 1));
      } finally {
        this.verifyingAhead--;
      }
    } else {
      // Under load this thread decides and writes for everybody: the workers take every verify.
      decoded = inputs.map((input, index) => this.decode(input, index));
      const keys = decoded.map((item) => this.keyKnownAhead(item));
      this.verifyingAhead++;
      try {
        ahead = await Promise.all(keys.map(async (publicKey, i) => (publicKey ? { publicKey, valid: await pool.verify((decoded[i] as DecodedEvent).envelope, publicKey) } : undefined)));
      } finally {
        this.verifyingAhead--;
      }
    }
    return new Promise<AppendedEvent[]>((resolve, reject) => {
      this.waiting.push({ decoded, principal, ahead, resolve, reject, redecided: false });
      this.scheduleCommit();
    });
  }

  private verifyHere(item: DecodedEvent, publicKey: Uint8Array | undefined): CheckedAhead | undefined {
    return publicKey ? { publicKey, valid: verifyEnvelopeSignature(item.envelope, publicKey, this.crypto) } : undefined;
  }

  /**
   * Decodes a large batch and verifies it on the workers and on this thread at once. The workers' share is
   * decoded first and sent in chunks as it is decoded, so that they start while this thread decodes the rest
   * and then verifies its own share; the split gives both sides about the same time (this thread also
   * decodes everything, about a quarter of a verify per event).
   */
  private async decodeAndVerifyShared(
    inputs: readonly unknown[],
    verifyNow: NonNullable<EnvelopeSignatureVerifier['verifyNow']>,
    threads: number,
  ): Promise<{ decoded: DecodedEvent[]; ahead: (CheckedAhead | undefined)[] }> {
    const perWorker = 1 / Math.max(1, threads);
    const hereShare = Math.max(0, (perWorker - DECODE_COST_IN_VERIFIES) / (1 + perWorker));
    const onWorkers = inputs.length - Math.floor(inputs.length * hereShare);
    const decoded: DecodedEvent[] = [];
    const ahead: (CheckedAhead | undefined)[] = [];
    const sent: Promise<void>[] = [];
    let chunk: { readonly envelope: DsseEnvelope; readonly publicKey: Uint8Array; readonly index: number }[] = [];
    const send = () => {
      const items = chunk;
      chunk = [];
      if (items.length > 0) sent.push(verifyNow(items).then((verdicts) => items.forEach((item, i) => (ahead[item.index] = { publicKey: item.publicKey, valid: verdicts[i] === true }))));
    };
    try {
      for (const [index, input] of inputs.entries()) {
        const item = this.decode(input, index);
        decoded.push(item);
        const publicKey = this.keyKnownAhead(item);
        if (index >= onWorkers) ahead[index] = this.verifyHere(item, publicKey);
        else if (publicKey) {
          chunk.push({ envelope: item.envelope, publicKey, index });
          if (chunk.length >= SHARED_VERIFY_CHUNK || index === onWorkers - 1) send();
        }
      }
      send();
    } finally {
      // A refused decode leaves nothing running: what was sent is answered and dropped.
      await Promise.all(sent);
    }
    return { decoded, ahead };
  }

  /**
   * The key of an event whose signature is checked before the submission joins a group, where it is known
   * without the group's state: an administrator key, or a station key in a cached station stream. The
   * decision still resolves the key against the group's state and uses the verdict only for that same key
   * (a key registered or revoked in between is verified again).
   */
  private keyKnownAhead(item: DecodedEvent): Uint8Array | undefined {
    const keyId = item.envelope.signatures[0]?.keyid ?? '';
    const { source } = item.event;
    if (source.kind === 'admin') return this.adminKeys.get(keyId);
    if (source.kind !== 'station') return undefined;
    const head = this.cache?.peek(stationAggregate.stream(source.id).stream);
    const registered = head?.aggregate === stationAggregate ? (head.state as StationState).keys.get(keyId) : undefined;
    return registered && registered.revokedAt === null ? fromHex(registered.publicKey) : undefined;
  }

  /**
   * Starts a commit on a later turn of the event loop, so that every request that arrived meanwhile joins
   * it; while a commit runs, new submissions wait for the next one.
   */
  private scheduleCommit(): void {
    if (this.committing) return;
    this.committing = true;
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.waiting.length > 0) {
        const group: Submission[] = [];
        let events = 0;
        while (this.waiting.length > 0 && (group.length === 0 || events + (this.waiting[0] as Submission).decoded.length <= this.maxGroupEvents)) {
          const next = this.waiting.shift() as Submission;
          events += next.decoded.length;
          group.push(next);
        }
        try {
          await this.commitGroup(group);
        } catch (error) {
          // A bug, not a refusal: nobody of the group may be left waiting, and nothing cached is trusted.
          this.cache?.clear();
          for (const submission of group) submission.reject(error);
        }
      }
    } finally {
      this.committing = false;
      if (this.waiting.length > 0) this.scheduleCommit();
    }
  }

  /** Decides every submission of the group in order, writes the accepted ones in one transaction, answers each. */
  private async commitGroup(group: readonly Submission[]): Promise<void> {
    const views = new StreamViews(this.store, this.crypto, this.cache);
    // The streams the events extend, read together before the decisions read them one by one.
    await views.prefetch(group.flatMap((submission) => submission.decoded.flatMap((item) => ownStream(item.event) ?? [])));
    const accepted: { readonly submission: Submission; readonly savepoint: Savepoint; readonly checked: Checked[] }[] = [];
    for (const submission of group) {
      const savepoint = new Savepoint();
      try {
        const checked: Checked[] = [];
        for (const [index, item] of submission.decoded.entries()) {
          const at = { index, eventId: item.event.id, eventType: item.event.type };
          checked.push(await this.check(item, at, submission.principal, views, savepoint, submission.ahead[index]));
        }
        accepted.push({ submission, savepoint, checked });
      } catch (error) {
        savepoint.rollback();
        submission.reject(error);
      }
    }

    const writing = accepted.filter((a) => a.savepoint.writesAnything);
    let outcomes: PromiseSettledResult<AppendResult[]>[];
    try {
      outcomes = writing.length === 0 ? [] : await this.store.appendGroups(writing.map((a) => a.savepoint.requests()));
    } catch (error) {
      outcomes = writing.map(() => ({ status: 'rejected', reason: error }));
    }
    const refusals = new Map<Submission, unknown>();
    writing.forEach((a, i) => {
      const outcome = outcomes[i];
      if (outcome?.status === 'fulfilled') a.savepoint.recordPositions(outcome.value);
      else refusals.set(a.submission, outcome ? outcome.reason : new Error('the store answered fewer outcomes than groups'));
    });
    // A refused write may leave any view of the group ahead of the store: none of them is kept.
    views.publish(refusals.size > 0 ? 'all' : new Set());

    const redecide: Submission[] = [];
    for (const { submission, savepoint, checked } of accepted) {
      savepoint.release();
      const refusal = refusals.get(submission);
      const answered = refusal === undefined ? this.answer(checked) : null;
      // Decided on top of an earlier submission whose write was refused: decided again, once, on what the store holds.
      const dependsOnRefused = refusals.size > (refusal === undefined ? 0 : 1) && (answered === null ? refusal instanceof WrongExpectedVersionError : answered === 'unresolved');
      if (dependsOnRefused && !submission.redecided) {
        submission.redecided = true;
        redecide.push(submission);
      } else if (refusal !== undefined) submission.reject(this.storeRefusal(refusal));
      else if (answered === 'unresolved') submission.reject(new LedgerError('CONCURRENCY_CONFLICT', 'a retried event was not written by the request it repeats; retry', {}));
      else submission.resolve(answered as AppendedEvent[]);
    }
    this.waiting.unshift(...redecide);
  }

  /** Each event's answer once the group's write is durable; 'unresolved' for a retry of an event that was not written. */
  private answer(checked: readonly Checked[]): AppendedEvent[] | 'unresolved' {
    const appended: AppendedEvent[] = [];
    for (const c of checked) {
      if ('recorded' in c) appended.push(c.recorded);
      else if (c.known.position === null) return 'unresolved';
      else appended.push({ ...c.pending, position: c.known.position });
    }
    return appended;
  }

  /** The store's refusal of a write, as the ledger's coded error. */
  private storeRefusal(error: unknown): unknown {
    if (error instanceof WrongExpectedVersionError) {
      return new LedgerError('CONCURRENCY_CONFLICT', `stream ${error.stream} changed while this batch was checked; re-read and retry`, { stream: error.stream });
    }
    if (error instanceof DuplicateEventIdError) {
      return new LedgerError('EVENT_ID_CONFLICT', `event id ${error.eventId} is already recorded in stream ${error.stream}`, { eventId: error.eventId, stream: error.attemptedStream, recordedIn: error.stream });
    }
    return error;
  }

  /** Every step but the append, for one event of the submission. */
  private async check(item: DecodedEvent, at: EventAt, principal: Principal, views: StreamViews, savepoint: Savepoint, ahead: CheckedAhead | undefined): Promise<Checked> {
    this.authorize(item.event, principal, at);
    return aggregateOf(item.event).open((aggregate) => this.extendStream(aggregate, item, at, views, savepoint, ahead));
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
  private async extendStream<E extends LedgerEvent, S>(aggregate: Aggregate<E, S>, item: DecodedEvent, at: EventAt, views: StreamViews, savepoint: Savepoint, ahead: CheckedAhead | undefined): Promise<Checked> {
    const { event, digest } = item;
    if (!aggregate.accepts(event)) throw new Error(`the registry gave ${event.type} to the ${aggregate.name} aggregate, which does not own it`);
    const view = await views.load(aggregate.streamFor(event));

    const known = view.known.get(event.id);
    if (known) {
      // Another event under a recorded id, or one id twice in one request.
      if (known.digest !== digest || known.addedBy === savepoint) {
        throw new LedgerError('EVENT_ID_CONFLICT', `event ${at.index}: id ${event.id} is already recorded with different content`, { ...at, stream: view.stream });
      }
      // The same bytes (digest) as the recorded event, whose signature was verified when it was recorded.
      const retry = { eventId: event.id, type: event.type, stream: view.stream, revision: known.revision, digest, duplicate: true };
      // A retry racing the request it repeats, in the same group: answered with that request's position.
      return known.position === null ? { pending: retry, known } : { recorded: { ...retry, position: known.position } };
    }

    const publicKey = await this.resolveKey(item, views, at);
    // The verdict reached before the group stands for the key resolved now; another key is verified here.
    const valid = ahead !== undefined && bytesEqual(ahead.publicKey, publicKey) ? ahead.valid : verifyEnvelopeSignature(item.envelope, publicKey, this.crypto);
    if (!valid) {
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

    const added = savepoint.extend(view, item, aggregate.evolve(view.state, event));
    return { pending: { eventId: event.id, type: event.type, stream: view.stream, revision: added.revision, digest, duplicate: false }, known: added };
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
    let decoded: DecodedEvent;
    try {
      decoded = decodeUntrustedEnvelope(input, this.crypto);
    } catch (error) {
      if (!(error instanceof EnvelopeDecodeError)) throw error;
      throw new LedgerError(error.code, `event ${index}: ${error.message}`, { index, ...(error.issues.length > 0 ? { issues: error.issues } : {}) });
    }
    // What an administrator declares (a release's images, keys, templates, SBOM) is what every unit is checked
    // against, forever: an all-zero digest there is a template's placeholder, never the digest of anything. A
    // station's data is what the device reported (a blank key block does read as zeros) and is left alone.
    if (decoded.event.source.kind === 'admin') {
      const path = allZeroDigest(decoded.event.data, 'data');
      if (path !== null) {
        const message = 'an all-zero digest is a placeholder, not the digest of anything; submit the real one';
        throw new LedgerError('SCHEMA_INVALID', `event ${index}: ${path}: ${message}`, { index, issues: [{ path, message }] });
      }
    }
    return decoded;
  }

  private decodeRecorded(recorded: RecordedEvent): StoredEvent {
    // Assigned onto the decoded event, not spread: a spread would read, so hash, its lazy digest.
    return Object.assign(decodeTrustedEnvelope(recorded.data, this.crypto), { recorded });
  }
}

/** The stream an event extends; null where its aggregate refuses it (the decision then says why). */
function ownStream(event: LedgerEvent): StreamRef<unknown> | null {
  try {
    return aggregateOf(event).open((aggregate) => (aggregate.accepts(event) ? (aggregate.streamFor(event) as StreamRef<unknown>) : null));
  } catch {
    return null;
  }
}

/** The path (`data.images.1.sha256`, as schema issues name it) of the first all-zero SHA-256/SHA-512 hex string, or null. */
function allZeroDigest(value: unknown, path: string): string | null {
  if (typeof value === 'string') return /^(?:0{64}|0{128})$/.test(value) ? path : null;
  if (value === null || typeof value !== 'object') return null;
  for (const [key, member] of Object.entries(value)) {
    const found = allZeroDigest(member, `${path}.${key}`);
    if (found !== null) return found;
  }
  return null;
}
