/**
 * The signed statement inside every DSSE envelope: one ledger event.
 * Its RFC 8785 canonical JSON is the DSSE payload, of type EVENT_PAYLOAD_TYPE.
 */
import { z } from 'zod';
import { Identifier, KeyId, Sha256Hex, Timestamp } from './common.ts';
import { unitEventSchemas, type UnitEventType } from './unit-events.ts';
import { adminEventSchemas, type AdminEventType } from './admin-events.ts';
import { ledgerEventSchemas, type LedgerOwnEventType } from './ledger-events.ts';

export const EVENT_PAYLOAD_TYPE = 'application/vnd.flashtrail.event.v1+json';

/** Bumped per event type when its data changes shape; old versions stay readable forever. */
export const SCHEMA_VERSIONS: Record<UnitEventType | AdminEventType | LedgerOwnEventType, number> = {
  UnitScanned: 1,
  BootloaderWritten: 1,
  AppVerified: 1,
  ProvisioningApplied: 1,
  EfuseBurned: 1,
  StepFailed: 1,
  UnitReworked: 1,
  UnitScrapped: 1,
  UnitShipped: 1,
  StationRegistered: 1,
  StationKeyRegistered: 1,
  StationKeyRevoked: 1,
  ReleaseApproved: 1,
  BatchOpened: 1,
  BatchClosed: 1,
  AdminKeysTrusted: 1,
  CheckpointIssued: 1,
};

const EventId = z.uuid().describe('client-chosen event id; a retried append with the same id is a no-op');

function member<T extends string, D extends z.ZodType>(type: T, data: D, sourceKind: 'station' | 'admin' | 'ledger') {
  return z.strictObject({
    id: EventId,
    type: z.literal(type),
    schemaVersion: z.literal(SCHEMA_VERSIONS[type as keyof typeof SCHEMA_VERSIONS]),
    occurredAt: Timestamp,
    source: z.strictObject({ kind: z.literal(sourceKind), id: Identifier }),
    prev: Sha256Hex.nullable().describe('sha256 of the canonical envelope of the previous event in the same stream'),
    data,
  });
}

const unitMembers = Object.entries(unitEventSchemas).map(([t, s]) => member(t, s, 'station'));
const adminMembers = Object.entries(adminEventSchemas).map(([t, s]) => member(t, s, 'admin'));
const ledgerMembers = Object.entries(ledgerEventSchemas).map(([t, s]) => member(t, s, 'ledger'));

type Member<T extends string, D extends z.ZodType, K extends 'station' | 'admin' | 'ledger'> = {
  id: string;
  type: T;
  schemaVersion: number;
  occurredAt: string;
  source: { kind: K; id: string };
  prev: string | null;
  data: z.infer<D>;
};

export type UnitEvent = { [K in UnitEventType]: Member<K, (typeof unitEventSchemas)[K], 'station'> }[UnitEventType];
export type AdminEvent = { [K in AdminEventType]: Member<K, (typeof adminEventSchemas)[K], 'admin'> }[AdminEventType];
export type LedgerOwnEvent = { [K in LedgerOwnEventType]: Member<K, (typeof ledgerEventSchemas)[K], 'ledger'> }[LedgerOwnEventType];
export type LedgerEvent = UnitEvent | AdminEvent | LedgerOwnEvent;
export type EventType = LedgerEvent['type'];
export type EventOf<T extends EventType> = Extract<LedgerEvent, { type: T }>;

const allMembers = [...unitMembers, ...adminMembers, ...ledgerMembers] as unknown as [z.ZodObject, ...z.ZodObject[]];
export const LedgerEventSchema = z.discriminatedUnion('type', allMembers) as unknown as z.ZodType<LedgerEvent>;

export const UNIT_EVENT_TYPES = Object.keys(unitEventSchemas) as UnitEventType[];
export const ADMIN_EVENT_TYPES = Object.keys(adminEventSchemas) as AdminEventType[];
export const LEDGER_EVENT_TYPES = Object.keys(ledgerEventSchemas) as LedgerOwnEventType[];

export function isUnitEvent(e: LedgerEvent): e is UnitEvent {
  return e.source.kind === 'station';
}


export const DsseEnvelopeSchema = z.strictObject({
  payloadType: z.literal(EVENT_PAYLOAD_TYPE),
  payload: z.string().min(1).max(256 * 1024),
  signatures: z
    .array(z.strictObject({ keyid: KeyId, sig: z.string().length(88) }))
    .length(1, 'exactly one signature: the station or administrator that performed the step'),
});
