/**
 * Every aggregate of the ledger. Each event type belongs to exactly one of them (test/registry.unit.test.ts
 * holds the registry to that), so the write pipeline finds an event's aggregate by its type alone.
 */
import type { EventType, LedgerEvent } from '../../schemas/index.ts';
import type { RegisteredAggregate } from './aggregate.ts';
import { unitAggregate } from './unit.ts';
import { stationAggregate } from './station.ts';
import { releaseAggregate } from './release.ts';
import { batchAggregate } from './batch.ts';
import { vulnerabilityAggregate } from './vulnerability.ts';
import { ledgerCheckpointsAggregate, ledgerKeyRotationsAggregate, ledgerKeysAggregate, ledgerNotificationsAggregate, ledgerStatementAggregate, ledgerTrustAggregate } from './ledger-streams.ts';

export const AGGREGATES: readonly RegisteredAggregate[] = [unitAggregate, stationAggregate, releaseAggregate, batchAggregate, vulnerabilityAggregate, ledgerTrustAggregate, ledgerCheckpointsAggregate, ledgerStatementAggregate, ledgerKeysAggregate, ledgerKeyRotationsAggregate, ledgerNotificationsAggregate];

const byEventType = new Map<EventType, RegisteredAggregate>(AGGREGATES.flatMap((a) => a.eventTypes.map((type) => [type, a] as const)));

/** The aggregate that owns an event's type. */
export function aggregateOf(event: LedgerEvent): RegisteredAggregate {
  const aggregate = byEventType.get(event.type);
  if (!aggregate) throw new Error(`no aggregate owns event type ${event.type}: add it to AGGREGATES in src/domain/registry.ts`);
  return aggregate;
}
