/**
 * Station decider: registration, and the Ed25519 keys a station signs with. A key id belongs to one station:
 * offline verifiers know station keys by key id, so one key registered for two stations would make a genuine
 * export fail (and would let one station's signatures count for another).
 */
import type { EventOf } from '../../schemas/index.ts';
import { stationStream } from '../event/streams.ts';
import { DecisionError, type RuleCode } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';
import { ADMIN_EVENT_MAX_AGE_MS, eventTimeViolation, type EventTimeContext } from './event-time.ts';
import { fromHex } from '../crypto/encoding.ts';
import { isAcceptablePublicKey, keyIdOf } from '../crypto/ed25519.ts';

export type StationEvent = EventOf<'StationRegistered' | 'StationKeyRegistered' | 'StationKeyRevoked'>;

export interface StationKey {
  readonly keyId: string;
  readonly publicKey: string;
  readonly registeredAt: string;
  readonly revokedAt: string | null;
}

/** `fleet`: the fleet's update service, which reports field updates of shipped units (FirmwareUpdated) only. */
export type StationRole = 'flash' | 'repair' | 'pack' | 'fleet';

export interface StationState {
  readonly stationId: string | null;
  readonly line: string | null;
  /** What it may do to units (schemas/admin-events.ts); a version 1 registration is a flashing station. */
  readonly role: StationRole;
  readonly registeredAt: string | null;
  readonly keys: ReadonlyMap<string, StationKey>;
}

export const initialStationState: StationState = { stationId: null, line: null, role: 'flash', registeredAt: null, keys: new Map() };

export interface StationDecisionContext extends EventTimeContext {
  /** Stations whose streams register this key id (recorded, or pending in the same submission). */
  readonly stationsHoldingKey: (keyId: string) => readonly string[];
}

export function decideStation(event: StationEvent, state: StationState, ctx: StationDecisionContext): StationEvent[] {
  const status = state.stationId === null ? 'unregistered' : 'registered';
  const refuse = (rule: RuleCode, message: string): never => {
    throw new DecisionError(rule, `${message} (station ${event.data.stationId} is ${status})`, status);
  };
  const late = eventTimeViolation(event.occurredAt, ctx, { maxAgeMs: ADMIN_EVENT_MAX_AGE_MS });
  if (late) refuse(late.rule, `${event.type} refused: ${late.message}`);
  switch (event.type) {
    case 'StationRegistered':
      if (state.stationId !== null) refuse('STATION_EXISTS', 'station is already registered');
      break;
    case 'StationKeyRegistered': {
      if (state.stationId === null) refuse('STATION_UNKNOWN', 'register the station before its keys');
      const pub = fromHex(event.data.publicKey);
      if (keyIdOf(pub) !== event.data.keyId) refuse('KEY_ID_MISMATCH', 'keyId must be the sha256 of the public key');
      if (!isAcceptablePublicKey(pub)) refuse('KEY_INVALID', 'not a canonical Ed25519 public key of full order');
      if (state.keys.has(event.data.keyId)) refuse('KEY_EXISTS', `key ${event.data.keyId} is already registered`);
      const others = ctx.stationsHoldingKey(event.data.keyId).filter((s) => s !== event.data.stationId);
      if (others.length > 0) refuse('KEY_IN_USE', `key ${event.data.keyId} is already registered to station ${others.join(', ')}: a key belongs to one station; generate a key of its own for ${event.data.stationId}`);
      break;
    }
    case 'StationKeyRevoked': {
      const key = state.keys.get(event.data.keyId);
      if (!key) refuse('KEY_UNKNOWN', `key ${event.data.keyId} is not registered for this station`);
      if (key?.revokedAt) refuse('KEY_REVOKED', `key ${event.data.keyId} is already revoked`);
      break;
    }
  }
  return [event];
}

export function evolveStation(state: StationState, event: StationEvent): StationState {
  switch (event.type) {
    case 'StationRegistered':
      return { ...state, stationId: event.data.stationId, line: event.data.line, role: 'role' in event.data ? event.data.role : 'flash', registeredAt: event.occurredAt };
    case 'StationKeyRegistered': {
      const keys = new Map(state.keys);
      keys.set(event.data.keyId, {
        keyId: event.data.keyId,
        publicKey: event.data.publicKey,
        registeredAt: event.occurredAt,
        revokedAt: null,
      });
      return { ...state, keys };
    }
    case 'StationKeyRevoked': {
      const keys = new Map(state.keys);
      const key = keys.get(event.data.keyId);
      if (key) keys.set(key.keyId, { ...key, revokedAt: event.occurredAt });
      return { ...state, keys };
    }
  }
}

export const stationAggregate = defineAggregate<StationEvent, StationState>({
  name: 'station',
  streamPrefix: stationStream(''),
  eventTypes: ['StationRegistered', 'StationKeyRegistered', 'StationKeyRevoked'],
  initialState: initialStationState,
  evolve: evolveStation,
  decide: (event, state, ctx) => decideStation(event, state, { now: ctx.now, maxClockSkewMs: ctx.maxClockSkewMs, previousAt: ctx.previousAt, stationsHoldingKey: (keyId) => ctx.stationsHoldingKey(keyId) }),
});
