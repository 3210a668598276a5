/**
 * The signed statement inside every DSSE envelope: one ledger event.
 * Its RFC 8785 canonical JSON is the DSSE payload, of type EVENT_PAYLOAD_TYPE.
 *
 * An event type's data changes shape only through a new schema version: `schemaVersion` names which of the
 * type's versions (unit-events.ts, admin-events.ts, ledger-events.ts) its data follows. Every version stays
 * readable, verifiable and foldable forever; signers write the newest version whose schema the data fits.
 */
import { z } from 'zod';
import { Identifier, KeyId, Sha256Hex, Timestamp } from './common.ts';
import { unitEventVersions, type UnitEventType } from './unit-events.ts';
import { adminEventVersions, type AdminEventType } from './admin-events.ts';
import { ledgerEventVersions, type LedgerOwnEventType } from './ledger-events.ts';

export const EVENT_PAYLOAD_TYPE = 'application/vnd.flashtrail.event.v1+json';

type AllVersions = typeof unitEventVersions & typeof adminEventVersions & typeof ledgerEventVersions;
const ALL_VERSIONS: AllVersions = { ...unitEventVersions, ...adminEventVersions, ...ledgerEventVersions };
type AnyEventType = UnitEventType | AdminEventType | LedgerOwnEventType;

const versionsOf = (type: AnyEventType): [number, z.ZodType][] =>
  Object.entries(ALL_VERSIONS[type] as Record<string, z.ZodType>)
    .map(([v, schema]) => [Number(v), schema] as [number, z.ZodType])
    .sort((a, b) => a[0] - b[0]);

/** The newest schema version of each event type: what is written today. */
export const SCHEMA_VERSIONS = Object.fromEntries(
  (Object.keys(ALL_VERSIONS) as AnyEventType[]).map((type) => [type, Math.max(...versionsOf(type).map(([v]) => v))]),
) as Record<AnyEventType, number>;

/** The data schema of the newest version of each type (what administrators and stations fill in today). */
const latest = <V extends Record<string, Record<number, z.ZodType>>>(versions: V) =>
  Object.fromEntries(Object.entries(versions).map(([type, byVersion]) => [type, byVersion[SCHEMA_VERSIONS[type as AnyEventType]]])) as {
    [K in keyof V]: V[K][keyof V[K]];
  };
export const unitEventSchemas = latest(unitEventVersions);
export const adminEventSchemas = latest(adminEventVersions);
export const ledgerEventSchemas = latest(ledgerEventVersions);

/**
 * The newest version of `type` whose schema accepts `data`, with the parsed data; or the issues of the
 * newest version when none does (what a caller should be told to fix).
 */
export function parseEventData(type: AnyEventType, data: unknown): { ok: true; schemaVersion: number; data: unknown } | { ok: false; issues: readonly z.core.$ZodIssue[] } {
  const versions = versionsOf(type).reverse();
  for (const [schemaVersion, schema] of versions) {
    const parsed = schema.safeParse(data);
    if (parsed.success) return { ok: true, schemaVersion, data: parsed.data };
  }
  const newest = (versions[0] as [number, z.ZodType])[1].safeParse(data);
  return { ok: false, issues: newest.success ? [] : newest.error.issues };
}

/** Whether the members of `data` are those of an object schema (every required one, no other). */
function hasMembersOf(schema: z.ZodType, data: unknown): boolean {
  if (!(schema instanceof z.ZodObject) || typeof data !== 'object' || data === null) return false;
  const shape = schema.shape as Record<string, z.ZodType>;
  const keys = Object.keys(data);
  return keys.every((k) => k in shape) && Object.entries(shape).every(([k, member]) => k in data || member.isOptional());
}

/**
 * The schema version a signer writes for this data: the newest whose schema accepts it; else the newest
 * whose members it has (the data of one version, with a bad value the ledger will name); else the newest.
 */
export function schemaVersionFor(type: AnyEventType, data: unknown): number {
  const parsed = parseEventData(type, data);
  if (parsed.ok) return parsed.schemaVersion;
  const shaped = versionsOf(type).reverse().find(([, schema]) => hasMembersOf(schema, data));
  return shaped ? shaped[0] : SCHEMA_VERSIONS[type];
}

const EventId = z.uuid().describe('client-chosen event id; a retried append with the same id is a no-op');

function member(type: AnyEventType, version: number, data: z.ZodType, sourceKind: 'station' | 'admin' | 'ledger') {
  return z.strictObject({
    id: EventId,
    type: z.literal(type),
    schemaVersion: z.literal(version),
    occurredAt: Timestamp,
    source: z.strictObject({ kind: z.literal(sourceKind), id: Identifier }),
    prev: Sha256Hex.nullable().describe('sha256 of the canonical envelope of the previous event in the same stream'),
    data,
  });
}

/** One member per type: a single version's event, or a union of its versions discriminated by schemaVersion. */
function members(versions: Record<string, Record<number, z.ZodType>>, sourceKind: 'station' | 'admin' | 'ledger'): z.ZodType[] {
  return Object.keys(versions).map((type) => {
    const all = versionsOf(type as AnyEventType).map(([v, schema]) => member(type as AnyEventType, v, schema, sourceKind));
    return all.length === 1 ? (all[0] as z.ZodObject) : z.discriminatedUnion('schemaVersion', all as unknown as [z.ZodObject, ...z.ZodObject[]]);
  });
}

type Member<T extends string, V extends number, D, K extends 'station' | 'admin' | 'ledger'> = {
  id: string;
  type: T;
  schemaVersion: V;
  occurredAt: string;
  source: { kind: K; id: string };
  prev: string | null;
  data: D;
};
type MembersOf<T extends string, Versions, K extends 'station' | 'admin' | 'ledger'> = {
  [V in keyof Versions & number]: Member<T, V, Versions[V] extends z.ZodType ? z.infer<Versions[V]> : never, K>;
}[keyof Versions & number];

export type UnitEvent = { [T in UnitEventType]: MembersOf<T, (typeof unitEventVersions)[T], 'station'> }[UnitEventType];
export type AdminEvent = { [T in AdminEventType]: MembersOf<T, (typeof adminEventVersions)[T], 'admin'> }[AdminEventType];
export type LedgerOwnEvent = { [T in LedgerOwnEventType]: MembersOf<T, (typeof ledgerEventVersions)[T], 'ledger'> }[LedgerOwnEventType];
export type LedgerEvent = UnitEvent | AdminEvent | LedgerOwnEvent;
export type EventType = LedgerEvent['type'];
export type EventOf<T extends EventType> = Extract<LedgerEvent, { type: T }>;
/** One version of one event type: EventOfVersion<'UnitScanned', 2>. */
export type EventOfVersion<T extends EventType, V extends number> = Extract<LedgerEvent, { type: T; schemaVersion: V }>;

const allMembers = [...members(unitEventVersions, 'station'), ...members(adminEventVersions, 'admin'), ...members(ledgerEventVersions, 'ledger')] as unknown as [z.ZodObject, ...z.ZodObject[]];
export const LedgerEventSchema = z.discriminatedUnion('type', allMembers) as unknown as z.ZodType<LedgerEvent>;

export const UNIT_EVENT_TYPES = Object.keys(unitEventVersions) as UnitEventType[];
export const ADMIN_EVENT_TYPES = Object.keys(adminEventVersions) as AdminEventType[];
export const LEDGER_EVENT_TYPES = Object.keys(ledgerEventVersions) as LedgerOwnEventType[];

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
