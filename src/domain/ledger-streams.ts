/**
 * The ledger's own streams: the administrator keys it trusts (AdminKeysTrusted) and the checkpoints it
 * signed (CheckpointIssued). Only the ledger writes them (src/write/checkpointer.ts); a submitted event of
 * these types is refused before it gets here, and decide() refuses it again should it ever get here.
 */
import type { EventOf } from '../../schemas/index.ts';
import { LEDGER_CHECKPOINT_STREAM, LEDGER_KEY_ROTATIONS_STREAM, LEDGER_KEYS_STREAM, LEDGER_NOTIFICATION_STREAM_PREFIX, LEDGER_STATEMENT_STREAM_PREFIX, LEDGER_TRUST_STREAM } from '../event/streams.ts';
import { DecisionError } from './decision-error.ts';
import { defineAggregate } from './aggregate.ts';

export type TrustEvent = EventOf<'AdminKeysTrusted'>;
export interface TrustState {
  /** The keys in force: each record replaces the set before it. */
  readonly keys: TrustEvent['data']['keys'] | null;
}

export type CheckpointEvent = EventOf<'CheckpointIssued'>;
export interface CheckpointsState {
  readonly latest: CheckpointEvent['data'] | null;
}

const writtenByLedger = (event: { type: string }): never => {
  throw new DecisionError('WRITTEN_BY_LEDGER', `${event.type} is written by the ledger itself`, 'ledger');
};

export const ledgerTrustAggregate = defineAggregate<TrustEvent, TrustState>({
  name: 'ledger-trust',
  streamPrefix: LEDGER_TRUST_STREAM,
  eventTypes: ['AdminKeysTrusted'],
  initialState: { keys: null },
  evolve: (_state, event) => ({ keys: event.data.keys }),
  decide: writtenByLedger,
});

export const ledgerCheckpointsAggregate = defineAggregate<CheckpointEvent, CheckpointsState>({
  name: 'ledger-checkpoints',
  streamPrefix: LEDGER_CHECKPOINT_STREAM,
  eventTypes: ['CheckpointIssued'],
  initialState: { latest: null },
  evolve: (_state, event) => ({ latest: event.data }),
  decide: writtenByLedger,
});

export type StatementEvent = EventOf<'ScittStatementRegistered'>;
export interface StatementState {
  readonly registered: StatementEvent['data'] | null;
}

/** The SCITT statement registered for one shipped unit (src/scitt/statement.ts): written once, by the ledger. */
export const ledgerStatementAggregate = defineAggregate<StatementEvent, StatementState>({
  name: 'ledger-statement',
  streamPrefix: LEDGER_STATEMENT_STREAM_PREFIX,
  eventTypes: ['ScittStatementRegistered'],
  initialState: { registered: null },
  evolve: (_state, event) => ({ registered: event.data }),
  decide: writtenByLedger,
});

export type LedgerKeyEvent = EventOf<'LedgerKeyAnnounced'>;
export interface LedgerKeysState {
  readonly mlDsa: LedgerKeyEvent['data'] | null;
}

/** The ledger's post-quantum key, announced under its Ed25519 key (its rotations are LedgerKeyRotated v2): written by the ledger only. */
export const ledgerKeysAggregate = defineAggregate<LedgerKeyEvent, LedgerKeysState>({
  name: 'ledger-keys',
  streamPrefix: LEDGER_KEYS_STREAM,
  eventTypes: ['LedgerKeyAnnounced'],
  initialState: { mlDsa: null },
  evolve: (_state, event) => ({ mlDsa: event.data }),
  decide: writtenByLedger,
});

export type KeyRotationEvent = EventOf<'LedgerKeyRotated'>;
export interface KeyRotationsState {
  /** The last rotation, of either algorithm; null before the first. */
  readonly current: KeyRotationEvent['data'] | null;
}

/** The chains of Ed25519 (v1) and ML-DSA-44 (v2) ledger keys, each link signed by the key it replaces: written by the ledger only. */
export const ledgerKeyRotationsAggregate = defineAggregate<KeyRotationEvent, KeyRotationsState>({
  name: 'ledger-key-rotations',
  streamPrefix: LEDGER_KEY_ROTATIONS_STREAM,
  eventTypes: ['LedgerKeyRotated'],
  initialState: { current: null },
  evolve: (_state, event) => ({ current: event.data }),
  decide: writtenByLedger,
});

export type NotificationEvent = EventOf<'NotificationListProduced'>;
export interface NotificationsState {
  readonly produced: number;
}

/** The notification lists produced for one vulnerability (src/api/cra-routes.ts): written by the ledger only. */
export const ledgerNotificationsAggregate = defineAggregate<NotificationEvent, NotificationsState>({
  name: 'ledger-notifications',
  streamPrefix: LEDGER_NOTIFICATION_STREAM_PREFIX,
  eventTypes: ['NotificationListProduced'],
  initialState: { produced: 0 },
  evolve: (state) => ({ produced: state.produced + 1 }),
  decide: writtenByLedger,
});
