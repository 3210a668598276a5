/**
 * The ledger's write side: every submitted envelope goes through one pipeline of named steps, and a batch
 * is written atomically only when every event of it passed every step.
 *
 *   decode → authorize → resolve key → verify signature → idempotency → hash chain → decide → append
 */
import type { LedgerEvent, UnitEvent } from '../../schemas/index.ts';
import { isUnitEvent } from '../../schemas/index.ts';
import type { EventStore, RecordedEvent } from '../store/event-store.ts';
import { DuplicateEventIdError, WrongExpectedVersionError } from '../store/event-store.ts';
import { verifyEnvelopeSignature } from '../crypto/dsse.ts';
import type { CryptoBackend } from '../crypto/backend.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { fromHex } from '../crypto/encoding.ts';
import { DecisionError } from '../domain/decision-error.ts';
import { batchStream, releaseStream, stationStream, streamOf } from '../event/streams.ts';
import { decideUnit, evolveUnit, initialUnitState, type UnitState } from '../domain/unit.ts';
import { decideStation, evolveStation, initialStationState, type StationEvent, type StationState } from '../domain/station.ts';
import { decideRelease, evolveRelease, initialReleaseState, type ReleaseEvent, type ReleaseState } from '../domain/release.ts';
import { decideBatch, evolveBatch, initialBatchState, type BatchEvent, type BatchState } from '../domain/batch.ts';
import { decodeTrustedEnvelope, decodeUntrustedEnvelope, EnvelopeDecodeError, type DecodedEvent } from '../event/codec.ts';
import { LedgerError } from './errors.ts';

export type Role = 'station' | 'auditor' | 'admin';

export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** Set for station tokens: the only station this caller may speak for. */
  readonly stationId?: string;
}

export interface LedgerOptions {
  readonly store: EventStore;
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

type AnyState = UnitState | StationState | ReleaseState | BatchState;

interface StreamView {
  readonly stream: string;
  readonly originalRevision: bigint | null;
  revision: bigint | null;
  headDigest: string | null;
  state: AnyState;
  readonly known: Map<string, { digest: string; revision: bigint; position: bigint | null }>;
  readonly pending: DecodedEvent[];
}

export class Ledger {
  private readonly store: EventStore;
  private readonly clock: () => Date;
  private readonly adminKeys: ReadonlyMap<string, Uint8Array>;
  private readonly maxClockSkewMs: number;
  readonly maxBatchSize: number;
  private readonly crypto: CryptoBackend;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(options: LedgerOptions) {
    this.store = options.store;
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
    const views = new Map<string, StreamView>();
    const results: (AppendedEvent | { pendingIn: StreamView; decoded: DecodedEvent })[] = [];

    for (const [index, item] of decoded.entries()) {
      const { event } = item;
      const at = { index, eventId: event.id, eventType: event.type };
      this.authorize(event, principal, at);
      const publicKey = await this.resolveKey(item, views, at);
      if (!verifyEnvelopeSignature(item.envelope, publicKey, this.crypto)) {
        throw new LedgerError('SIGNATURE_INVALID', `event ${index}: Ed25519 signature does not verify (RFC 8032, strict)`, at);
      }
      const view = await this.view(streamOf(event), views);
      const known = view.known.get(event.id);
      if (known) {
        if (known.digest !== item.digest || known.position === null) {
          throw new LedgerError('EVENT_ID_CONFLICT', `event ${index}: id ${event.id} is already recorded with different content`, at);
        }
        results.push({ eventId: event.id, type: event.type, stream: view.stream, revision: known.revision, position: known.position, digest: item.digest, duplicate: true });
        continue;
      }
      if (event.prev !== view.headDigest) {
        throw new LedgerError('CHAIN_MISMATCH', `event ${index}: prev does not match the head of ${view.stream}`, {
          ...at,
          stream: view.stream,
          expectedPrev: view.headDigest,
          actualPrev: event.prev,
        });
      }
      try {
        view.state = await this.decideAndEvolve(event, view, views);
      } catch (error) {
        if (error instanceof DecisionError) {
          throw new LedgerError('RULE_VIOLATION', `event ${index}: ${error.message}`, { ...at, rule: error.rule, currentState: error.currentState });
        }
        throw error;
      }
      view.revision = view.revision === null ? 0n : view.revision + 1n;
      view.headDigest = item.digest;
      view.known.set(event.id, { digest: item.digest, revision: view.revision, position: null });
      view.pending.push(item);
      results.push({ pendingIn: view, decoded: item });
    }

    const touched = [...views.values()].filter((v) => v.pending.length > 0);
    const positions = new Map<string, bigint>();
    if (touched.length > 0) {
      try {
        const written = await this.store.appendToStreams(
          touched.map((v) => ({
            stream: v.stream,
            expected: v.originalRevision ?? 'no_stream',
            events: v.pending.map((d) => ({ id: d.event.id, type: d.event.type, data: d.bytes })),
          })),
        );
        written.forEach((w, i) => {
          (touched[i] as StreamView).pending.forEach((d, j) => positions.set(d.event.id, w.positions[j] as bigint));
        });
      } catch (error) {
        if (error instanceof WrongExpectedVersionError) {
          throw new LedgerError('CONCURRENCY_CONFLICT', `stream ${error.stream} changed while this batch was checked; re-read and retry`, { stream: error.stream });
        }
        if (error instanceof DuplicateEventIdError) {
          throw new LedgerError('EVENT_ID_CONFLICT', `event id ${error.eventId} is already recorded in stream ${error.stream}`, { eventId: error.eventId });
        }
        throw error;
      }
    }
    return results.map((r) => {
      if (!('pendingIn' in r)) return r;
      const { event, digest } = r.decoded;
      const known = r.pendingIn.known.get(event.id);
      return {
        eventId: event.id,
        type: event.type,
        stream: r.pendingIn.stream,
        revision: known?.revision ?? 0n,
        position: positions.get(event.id) ?? -1n,
        digest,
        duplicate: false,
      };
    });
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

  private authorize(event: LedgerEvent, principal: Principal, at: Record<string, unknown>): void {
    const deny = (why: string): never => {
      throw new LedgerError('FORBIDDEN', `event ${String(at['index'])}: ${why}`, at);
    };
    if (event.source.kind === 'ledger') deny(`${event.type} is written by the ledger itself`);
    if (isUnitEvent(event)) {
      if (principal.role !== 'station') deny(`${event.type} must be submitted by a station token`);
      if (principal.stationId !== event.source.id) deny(`token of station ${principal.stationId ?? '?'} cannot submit events of station ${event.source.id}`);
    } else if (principal.role !== 'admin') {
      deny(`${event.type} is an administrative event and needs an admin token`);
    }
  }

  private async resolveKey(item: DecodedEvent, views: Map<string, StreamView>, at: Record<string, unknown>): Promise<Uint8Array> {
    const keyId = (item.envelope.signatures[0] as { keyid: string }).keyid;
    const { event } = item;
    if (!isUnitEvent(event)) {
      const key = this.adminKeys.get(keyId);
      if (!key) throw new LedgerError('KEY_UNKNOWN', `event ${String(at['index'])}: ${keyId} is not a trusted administrator key`, { ...at, keyId });
      return key;
    }
    const station = (await this.view(stationStream(event.source.id), views)).state as StationState;
    if (station.stationId === null) {
      throw new LedgerError('KEY_UNKNOWN', `event ${String(at['index'])}: station ${event.source.id} is not registered`, { ...at, keyId });
    }
    const key = station.keys.get(keyId);
    if (!key) {
      throw new LedgerError('KEY_UNKNOWN', `event ${String(at['index'])}: key ${keyId} is not registered for station ${event.source.id}`, { ...at, keyId });
    }
    if (key.revokedAt !== null) {
      throw new LedgerError('KEY_REVOKED', `event ${String(at['index'])}: key ${keyId} of station ${event.source.id} was revoked at ${key.revokedAt}`, { ...at, keyId });
    }
    return fromHex(key.publicKey);
  }

  private async decideAndEvolve(event: LedgerEvent, view: StreamView, views: Map<string, StreamView>): Promise<AnyState> {
    if (isUnitEvent(event)) {
      let batch: BatchState = initialBatchState;
      if (event.type === 'UnitScanned') batch = (await this.view(batchStream(event.data.batchId), views)).state as BatchState;
      const state = view.state as UnitState;
      decideUnit(event, state, {
        now: this.clock(),
        maxClockSkewMs: this.maxClockSkewMs,
        batchStatus: () => batch.status,
      });
      return evolveUnit(state, event);
    }
    switch (event.type) {
      case 'StationRegistered':
      case 'StationKeyRegistered':
      case 'StationKeyRevoked':
        decideStation(event, view.state as StationState);
        return evolveStation(view.state as StationState, event);
      case 'ReleaseApproved':
        decideRelease(event, view.state as ReleaseState);
        return evolveRelease(view.state as ReleaseState, event);
      case 'BatchOpened':
      case 'BatchClosed': {
        const release = event.type === 'BatchOpened' ? ((await this.view(releaseStream(event.data.releaseId), views)).state as ReleaseState) : initialReleaseState;
        decideBatch(event, view.state as BatchState, { release: () => release });
        return evolveBatch(view.state as BatchState, event);
      }
      case 'AdminKeysTrusted':
      case 'CheckpointIssued':
        throw new LedgerError('FORBIDDEN', `${event.type} is written by the ledger itself`);
    }
  }

  private async view(stream: string, views: Map<string, StreamView>): Promise<StreamView> {
    const cached = views.get(stream);
    if (cached) return cached;
    const recorded = await this.store.readStream(stream);
    let state = initialStateFor(stream);
    const known = new Map<string, { digest: string; revision: bigint; position: bigint | null }>();
    let headDigest: string | null = null;
    for (const r of recorded) {
      const d = decodeTrustedEnvelope(r.data, this.crypto);
      state = foldEvent(state, d.event);
      known.set(d.event.id, { digest: d.digest, revision: r.revision, position: r.position });
      headDigest = d.digest;
    }
    const last = recorded[recorded.length - 1];
    const view: StreamView = {
      stream,
      originalRevision: last ? last.revision : null,
      revision: last ? last.revision : null,
      headDigest,
      state,
      known,
      pending: [],
    };
    views.set(stream, view);
    return view;
  }

  /** Current state of one stream, folded from its events. */
  async state(stream: string): Promise<AnyState> {
    return (await this.view(stream, new Map())).state;
  }

  async stationState(stationId: string): Promise<StationState> {
    return (await this.state(stationStream(stationId))) as StationState;
  }

  async readStream(stream: string): Promise<StoredEvent[]> {
    const recorded = await this.store.readStream(stream);
    return recorded.map((r) => ({ ...decodeTrustedEnvelope(r.data, this.crypto), recorded: r }));
  }
}

function initialStateFor(stream: string): AnyState {
  if (stream.startsWith('station-')) return initialStationState;
  if (stream.startsWith('release-')) return initialReleaseState;
  if (stream.startsWith('batch-')) return initialBatchState;
  return initialUnitState;
}

function foldEvent(state: AnyState, event: LedgerEvent): AnyState {
  if (isUnitEvent(event)) return evolveUnit(state as UnitState, event as UnitEvent);
  switch (event.type) {
    case 'StationRegistered':
    case 'StationKeyRegistered':
    case 'StationKeyRevoked':
      return evolveStation(state as StationState, event as StationEvent);
    case 'ReleaseApproved':
      return evolveRelease(state as ReleaseState, event as ReleaseEvent);
    case 'BatchOpened':
    case 'BatchClosed':
      return evolveBatch(state as BatchState, event as BatchEvent);
    case 'AdminKeysTrusted':
    case 'CheckpointIssued':
      return state;
  }
}
