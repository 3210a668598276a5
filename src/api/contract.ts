/**
 * The HTTP contract: the zod schemas of every query, path parameter, request body and response of the API,
 * and the list of operations. The routes validate their queries with these schemas and type their answers
 * against them (`satisfies ResponseOf<…>`); `openapi.ts` renders the OpenAPI 3.1 document from the same
 * objects, and the contract test validates real responses against that document. One home: a route and its
 * description cannot disagree without a compile error or a failing test.
 */
import { z } from 'zod';
import { FirmwareUnitsAnswer, HistoryEvidence } from '../../schemas/history.ts';
export { FirmwareUnitsAnswer };
import { Identifier, Sha256Hex, LedgerEventSchema, DsseEnvelopeSchema, adminEventSchemas, adminEventVersions } from '../../schemas/index.ts';
import { ProvenanceDocumentV2, ProvenanceDocumentV3 } from '../../schemas/provenance.ts';
import { ExportRecordSchema, ExportSelectionSchema } from '../../schemas/export.ts';
import type { LedgerErrorCode } from '../write/errors.ts';
import type { UnitView } from '../../projections/unit-state.ts';
import { VulnerabilityId } from '../../schemas/admin-events.ts';
import { Serial } from '../../schemas/common.ts';
import { VEX_STATUSES } from '../cra/vex.ts';
import { REPORT_STAGES } from '../cra/art14.ts';
import { DOCUMENT_MEDIA_TYPES } from '../cra/sign.ts';

/** The payload type of a signed notification list (GET /v1/cra/vulnerabilities/:id/notification-list?format=dsse). */
export const NOTIFICATION_LIST_PAYLOAD_TYPE = 'application/vnd.flashtrail.notification-list.v1+json';

// ---- shared pieces -------------------------------------------------------------------------------------

const Decimal = z.string().regex(/^(0|[1-9][0-9]*)$/, 'a non-negative decimal integer');
const Base64Hash = z.string().regex(/^[A-Za-z0-9+/]{43}=$/, 'base64 of a 32-byte hash');
const Count = z.int().nonnegative();
const Share = z.number().min(0).max(1);

export const Envelope = DsseEnvelopeSchema.meta({ id: 'DsseEnvelope', description: 'DSSE envelope of one signed event (payload: base64 of its RFC 8785 JSON)' });
export const LedgerEvent = (LedgerEventSchema as unknown as z.ZodType).meta({ id: 'LedgerEvent', description: 'the signed statement inside an envelope' });

export const HistoryEntry = z
  .strictObject({
    position: Count.describe('global position in the event store'),
    revision: Count.describe('revision in its stream, from 0'),
    recordedAt: z.string(),
    digest: Sha256Hex.describe('SHA-256 of the RFC 8785 envelope: the next event of the stream names it as prev'),
    event: LedgerEvent,
    envelope: Envelope,
  })
  .meta({ id: 'HistoryEntry', description: 'one recorded event, enough to re-verify its signature and chain without trusting the ledger' });

// ---- queries (strict: an unknown or repeated parameter is refused with QUERY_INVALID) ------------------

const PageLimit = z
  .string()
  .regex(/^[1-9][0-9]{0,3}$/, 'a whole number from 1 to 1000')
  .transform(Number)
  .pipe(z.int().min(1).max(1000))
  .optional()
  .describe('page size, 1 to 1000 (default 100)');
const TreeSize = z.string().regex(/^(0|[1-9][0-9]{0,15})$/, 'a non-negative whole number').transform(Number).pipe(z.int().nonnegative().max(Number.MAX_SAFE_INTEGER));
const IsoTime = z.string().refine((v) => !Number.isNaN(Date.parse(v)), 'an ISO-8601 time or date').optional();
const Day = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'a UTC day, YYYY-MM-DD').optional();

export const UnitsQuery = z.strictObject({ limit: PageLimit, after: Identifier.optional().describe('the serial after which the page starts (`next` of the previous page)') });
export const InclusionQuery = z.strictObject({ index: TreeSize.describe('leaf index'), size: TreeSize.describe('tree size the proof is against') });
export const UnitMapQuery = z.strictObject({ size: TreeSize.optional().describe('the ledger checkpoint size the evidence is as of (default: the newest committed one)') });
const CommitmentParam = z.strictObject({ size: z.string().describe('a ledger checkpoint size') });
export const MapCommitment = z
  .strictObject({
    index: z.int().nonnegative().describe('leaf index of the commitment in the index log'),
    size: z.int().nonnegative().describe('the ledger checkpoint size it commits the map for'),
    leaf: z.string().describe('the commitment leaf text (docs/format.md §15)'),
    proof: z.array(z.string()).describe('RFC 6962 inclusion proof of the leaf in the index checkpoint, base64, sibling first'),
    checkpoint: z.string().describe('the index log checkpoint (signed note)'),
  })
  .meta({ id: 'MapCommitment' });
export const UnitMapEvidence = z.strictObject({ serial: Identifier, size: z.int().nonnegative(), history: HistoryEvidence }).meta({ id: 'UnitMapEvidence', description: "a unit's completeness evidence as of a checkpoint size (docs/format.md §15)" });
const PageSize = z.string().regex(/^[1-9][0-9]{0,3}$/, 'a whole number').transform(Number).pipe(z.int().min(1).max(1000)).optional().describe('at most this many, 1 to 1000 (default 1000)');
export const LogEntriesQuery = z.strictObject({ after: z.string().regex(/^(0|[1-9][0-9]{0,18})$/).optional().describe('the cursor (`next`) of the previous page; absent: from leaf 0'), limit: PageSize });
export const LogEntries = z.strictObject({ entries: z.array(z.string()).describe('base64 of each entry (envelope bytes, §2.1), in leaf order'), next: z.string().nullable().describe('the cursor of the next page; null: none given') }).meta({ id: 'LogEntries' });
export const UnitMapLeavesQuery = z.strictObject({ from: TreeSize.optional().describe('the first index log leaf (default 0)'), limit: PageSize });
export const UnitMapLeaves = z.strictObject({ from: z.int().nonnegative(), leaves: z.array(z.string()).describe('the commitment leaf texts, in index order') }).meta({ id: 'UnitMapLeaves' });
export const ConsistencyQuery = z.strictObject({ from: TreeSize.describe('the older tree size'), to: TreeSize.describe('the newer tree size') });
export const DriftQuery = z.strictObject({ since: IsoTime.describe('deviations at or after this time'), until: IsoTime.describe('deviations at or before this time') });
export const ScrapQuery = z.strictObject({
  line: Identifier.optional(),
  station: Identifier.optional(),
  from: Day.describe('first day, UTC'),
  to: Day.describe('last day, UTC'),
});
export const FirmwareUnitsQuery = UnitsQuery;
export const NoQuery = z.strictObject({});

// ---- path parameters -----------------------------------------------------------------------------------

const SerialParam = z.strictObject({ serial: Identifier.describe('unit serial number') });
const Sha256PathParam = z.strictObject({ sha256: Sha256Hex.describe('firmware image digest, 64 lowercase hex digits') });
const IdParam = z.strictObject({ id: Identifier });
const StreamParam = z.strictObject({ stream: z.string().regex(/^(unit|station|release|batch)-[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/).describe('unit-<serial>, station-<id>, release-<id> or batch-<id>') });
const FirmwareParam = z.strictObject({ sha256: Sha256Hex.describe('SHA-256 of a firmware image, lowercase hex') });

// ---- bodies --------------------------------------------------------------------------------------------

export const SubmitBody = z
  .union([Envelope, z.array(Envelope).min(1), z.strictObject({ events: z.array(Envelope).min(1) })])
  .meta({ id: 'SubmitBody', description: 'one envelope, an array of envelopes, or {"events": [...]}: appended together, all or none' });

export const AppendResult = z
  .strictObject({
    events: z.array(
      z.strictObject({
        eventId: z.uuid(),
        type: z.string(),
        stream: z.string(),
        revision: Count,
        position: Count,
        digest: Sha256Hex,
        duplicate: z.boolean().describe('true: the same event was appended before (a retry); nothing was written'),
      }),
    ),
  })
  .meta({ id: 'AppendResult' });

// ---- responses -----------------------------------------------------------------------------------------

export const Health = z.strictObject({ status: z.literal('ok') });
export const Ready = z.strictObject({
  status: z.literal('ready'),
  headPosition: Decimal,
  projections: z.array(z.strictObject({ name: z.string(), position: Decimal, lag: Decimal })),
});

const Step = { station: z.string(), at: z.string() };
const UnitStatusSchema = z.enum(['new', 'scanned', 'reworked', 'bootloader_written', 'app_verified', 'provisioned', 'in_progress', 'locked', 'shipped', 'scrapped']);
export const UnitViewSchema = z
  .strictObject({
    serial: Identifier,
    status: UnitStatusSchema,
    batchId: z.string().nullable(),
    releaseId: z.string().nullable(),
    station: z.string().nullable(),
    fixture: z.string().nullable(),
    productSku: z.string().nullable(),
    hardwareRevision: z.string().nullable(),
    chipId: z.string().nullable(),
    mac: z.string().nullable(),
    operator: z.string().nullable(),
    lastStation: z.string().nullable(),
    attempt: Count,
    failures: Count,
    lastFailure: z.strictObject({ step: z.string(), errorCode: z.string(), message: z.string(), attempt: Count, ...Step }).nullable(),
    bootloader: z.strictObject({ ...Step, sha256: z.string(), version: z.string(), signingKeyDigest: z.string() }).nullable(),
    application: z.strictObject({ ...Step, sha256: z.string(), version: z.string(), reportedSha256: z.string(), method: z.string(), verified: z.boolean() }).nullable(),
    provisioning: z.strictObject({ ...Step, templateId: z.string(), templateSha256: z.string(), configSha256: z.string() }).nullable(),
    efuse: z.strictObject({ ...Step, profile: z.string(), secureBoot: z.boolean(), flashEncryption: z.boolean(), keyDigests: z.array(z.string()) }).nullable(),
    images: z.record(
      z.string(),
      z.strictObject({
        ...Step,
        sha256: Sha256Hex,
        offset: Count,
        verification: z.strictObject({ method: z.string(), result: z.enum(['pass', 'fail']), reported: z.string(), comparedChars: Count, step: z.string(), at: z.string() }).nullable(),
      }),
    ),
    stepsDone: z.array(z.string()),
    stepStarted: z.string().nullable(),
    security: z
      .strictObject({ ...Step, step: z.string(), result: z.enum(['pass', 'fail']), fields: z.array(z.strictObject({ name: z.string(), value: z.union([z.string(), z.number(), z.boolean()]) })) })
      .nullable(),
    toolOutputs: Count,
    scrapped: z.strictObject({ ...Step, reason: z.string() }).nullable(),
    shipped: z.strictObject({ ...Step, customer: z.string(), orderRef: z.string() }).nullable(),
    firstEventAt: z.string(),
    lastEventAt: z.string(),
    eventCount: Count,
    head: z.strictObject({ revision: Decimal, position: Decimal, digest: Sha256Hex }).describe('the next event of the unit must name digest as its prev'),
  })
  .meta({ id: 'UnitView', description: 'the current state of one unit, folded from its events' });
/** The view as served: the decider's own folded state stays inside the ledger (it is not a promise of the API). */
export type PublicUnitView = Omit<UnitView, 'decider'>;
export const publicUnitView = ({ decider: _decider, ...view }: UnitView): PublicUnitView => view;
// The view's members and the schema's are the same set: a member added to one and not the other fails to compile.
type SameKeys<A, B> = [Exclude<keyof A, keyof B>, Exclude<keyof B, keyof A>] extends [never, never] ? true : never;
const unitViewKeysMatch: SameKeys<PublicUnitView, z.infer<typeof UnitViewSchema>> = true;
void unitViewKeysMatch;

export const UnitsPage = z.strictObject({ units: z.array(UnitViewSchema), next: Identifier.nullable().describe('the `after` of the next page, or null on the last') });
export const UnitHistory = z.strictObject({ serial: Identifier, stream: z.string(), events: z.array(HistoryEntry) });
export const StreamHead = z.strictObject({ stream: z.string(), revision: z.int().min(-1).describe('-1: the stream has no events'), digest: Sha256Hex.nullable() });
export const StationView = z.strictObject({
  stationId: Identifier,
  line: z.string().nullable(),
  keys: z.array(z.strictObject({ keyId: Sha256Hex, publicKey: z.string(), registeredAt: z.string(), revokedAt: z.string().nullable() })),
  events: z.array(HistoryEntry),
});
// A release is served as approved: the current version's data, or an older version's, as it was signed.
const ApprovedRelease = z.union(Object.values(adminEventVersions.ReleaseApproved)).describe('the ReleaseApproved data as signed (any schema version)');
export const ReleaseView = z.strictObject({ release: ApprovedRelease, events: z.array(HistoryEntry) });
export const BatchView = z.strictObject({ batchId: Identifier, status: z.enum(['open', 'closed']), batch: adminEventSchemas.BatchOpened.nullable(), events: z.array(HistoryEntry) });
export const InclusionProof = z.strictObject({ index: Count, size: Count, leafHash: Sha256Hex, proof: z.array(Base64Hash).describe('RFC 6962 audit path, sibling first') });
export const ConsistencyProof = z.strictObject({ from: Count, to: Count, proof: z.array(Base64Hash) });
export const Provenance = ProvenanceDocumentV3.meta({ id: 'ProvenanceDocument', description: 'verifies offline against the pinned ledger key (docs/format.md §6); signed by the ledger (§6.7), with its history (§15) where the ledger keeps the unit history map' });
/** What a SCITT statement digests: the unsigned v2 document, the same bytes for the life of the log (docs/format.md §13.4). */
export const StatementProvenance = ProvenanceDocumentV2.meta({ id: 'StatementProvenanceDocument', description: 'the unsigned flashtrail.provenance.v2 document a Transparent Statement digests (docs/format.md §13.4)' });

const DriftDimensionSchema = z.enum(['bootloader', 'signing_key', 'application', 'provisioning_template', 'efuse_profile']);
const DeviationSchema = z.strictObject({ dimension: DriftDimensionSchema, expected: z.string(), value: z.string(), station: z.string(), operator: z.string().nullable(), at: z.string(), eventId: z.string() });
const DriftReportMembers = {
  units: Count,
  drifted: Count,
  driftRate: Share,
  byDimension: z.record(DriftDimensionSchema, Count),
  driftedUnits: z.array(z.strictObject({ serial: Identifier, batchId: z.string().nullable(), deviations: z.array(DeviationSchema) })),
  fingerprints: z.array(z.strictObject({ fingerprint: z.string(), units: Count, minority: z.boolean(), serials: z.array(z.string()) })),
};
const YieldMembers = {
  started: Count,
  completed: Count,
  inProgress: Count,
  firstPassYield: Share,
  reworked: Count,
  scrapped: Count,
  scrapRate: Share,
  retriesPerStep: z.record(z.string(), Count),
  pareto: z.array(z.strictObject({ step: z.string(), errorCode: z.string(), count: Count, share: Share, cumulativeShare: Share })),
};
const yieldGroup = (by: 'batch' | 'line' | 'station' | 'day') => z.array(z.strictObject({ [by]: z.string(), ...YieldMembers }));
export const BatchDrift = z.strictObject({ batchId: Identifier, releaseId: Identifier, expected: z.partialRecord(DriftDimensionSchema, z.string()).nullable(), ...DriftReportMembers });
export const BatchScrap = z.strictObject({ batchId: Identifier, line: z.string(), plannedQuantity: Count, ...YieldMembers, byStation: yieldGroup('station'), byDay: yieldGroup('day') });
export const DriftWindow = z.strictObject({
  since: z.string().nullable(),
  until: z.string().nullable(),
  drifted: Count,
  batches: z.array(z.strictObject({ batchId: z.string(), drifted: Count })),
  units: z.array(z.strictObject({ serial: Identifier, batchId: z.string().nullable(), deviations: z.array(DeviationSchema) })),
});
export const ScrapReport = z.strictObject({
  filter: z.strictObject({ line: z.string().nullable(), station: z.string().nullable(), from: z.string().nullable(), to: z.string().nullable() }),
  ...YieldMembers,
  byBatch: yieldGroup('batch'),
  byLine: yieldGroup('line'),
  byStation: yieldGroup('station'),
  byDay: yieldGroup('day'),
});
export const FirmwareUnitRow = z.strictObject({
  serial: Identifier,
  batchId: z.string().nullable(),
  status: UnitStatusSchema,
  carries: z.string().describe('bootloader, application or bootloader+application'),
  bootloaderSha256: z.string().nullable(),
  applicationSha256: z.string().nullable(),
  shippedAt: z.string().nullable(),
  customer: z.string().nullable(),
  orderRef: z.string().nullable(),
});
export const FirmwareUnits = z.strictObject({ sha256: Sha256Hex, units: z.array(FirmwareUnitRow), next: Identifier.nullable() });
export const ExportRecord = ExportRecordSchema.meta({ id: 'ExportRecord', description: 'one line of a signed NDJSON export (docs/format.md §7)' });

// ---- CRA (src/api/cra-routes.ts) -----------------------------------------------------------------------

const ShortQueryText = z.string().min(1).max(1024);
const CarryViewQuery = z.enum(['now', 'shipped']).optional().describe('now (default): the firmware units carry today; shipped: as they left the factory');
const VexStatusList = z
  .string()
  .regex(new RegExp(`^(${VEX_STATUSES.join('|')})(,(${VEX_STATUSES.join('|')}))*$`), `a comma-separated list of ${VEX_STATUSES.join(', ')}`)
  .optional()
  .describe('VEX statuses whose releases count (default affected,under_investigation)');
const VexStatus = z.enum(VEX_STATUSES);
const ReportStage = z.enum(REPORT_STAGES as [string, ...string[]]);

export const CraUnitsQuery = z.strictObject({
  purl: ShortQueryText.optional().describe('a package URL; with range, a vers range of its versions'),
  cpe: ShortQueryText.optional().describe('a CPE 2.3 name'),
  name: ShortQueryText.optional().describe('a component name'),
  group: ShortQueryText.optional().describe('with name: its group (vendor, namespace)'),
  range: z.string().max(1024).optional().describe('a vers range (vers:generic/>=3.0.0|<3.6.1)'),
  vulnerability: VulnerabilityId.optional().describe('instead of a component: the releases its assessments name'),
  status: VexStatusList,
  view: CarryViewQuery,
  format: z.enum(['json', 'csv', 'ndjson']).optional().describe('json (default, paged), or every unit at once as csv or ndjson'),
  supported: z.enum(['true', 'false']).optional().describe('true: only units whose support period still runs'),
  supportEndsWithinMonths: z.string().regex(/^\d{1,3}$/, 'a whole number of months (0-999)').optional().describe('only units whose support ends within this many months'),
  limit: PageLimit,
  after: Identifier.optional().describe('the serial after which the page starts (`next` of the previous page)'),
});
export const NotificationListQuery = z.strictObject({ view: CarryViewQuery, status: VexStatusList, format: z.enum(['json', 'csv', 'ndjson', 'dsse']).optional().describe('json (default), csv or ndjson (one unit a line, streamed), or dsse: the list signed with the ledger key. Each list produced is recorded in the log (NotificationListProduced)') });
export const EnisaQuery = z.strictObject({
  stage: ReportStage.optional().describe('early_warning (default), notification or final_report'),
  manufacturer: ShortQueryText.optional().describe('the manufacturer named in the report (default: the ledger origin)'),
  format: z.enum(['json', 'text']).optional().describe('json (default) or the same as plain text'),
});
export const VexQuery = z.strictObject({
  format: z.enum(['csaf', 'openvex', 'cyclonedx']).optional().describe('csaf (default, CSAF 2.0), openvex (0.2.0) or cyclonedx'),
  publisher: ShortQueryText.optional(),
  namespace: ShortQueryText.optional(),
  documentId: ShortQueryText.optional(),
  title: ShortQueryText.optional(),
});
export const EnrichedSbomQuery = z.strictObject({
  manufacturer: ShortQueryText.optional().describe('the manufacturer named as creator (default: the ledger origin)'),
  url: ShortQueryText.optional(),
  email: ShortQueryText.optional(),
});
const VulnerabilityParam = z.strictObject({ id: VulnerabilityId });

/** A document signed with the ledger key: a DSSE envelope like an event's, of the document's own payload type. */
const signedDocument = (payloadTypes: readonly [string, ...string[]], description: string) =>
  z.strictObject({
    payloadType: z.enum(payloadTypes),
    payload: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/).describe('base64 of the RFC 8785 JSON of the document'),
    signatures: z.array(z.strictObject({ keyid: Sha256Hex.describe('the ledger key id'), sig: z.string().length(88) })).length(1),
  }).describe(description);
const SignedVex = signedDocument([DOCUMENT_MEDIA_TYPES.csaf, DOCUMENT_MEDIA_TYPES.openvex, DOCUMENT_MEDIA_TYPES.cyclonedx], 'the VEX document, signed with the ledger key');
const SignedNotificationList = signedDocument([NOTIFICATION_LIST_PAYLOAD_TYPE], 'the notification list, signed with the ledger key');

export const SbomUploadBody = z.strictObject({ sbom: z.string().describe('the SBOM file, base64 (CycloneDX or SPDX, JSON or tag-value)') }).meta({ id: 'SbomUpload' });
export const SbomStored = z.strictObject({
  sha256: Sha256Hex,
  sizeBytes: Count,
  format: z.string(),
  specVersion: z.string(),
  encoding: z.string(),
  components: Count,
  stored: z.enum(['new', 'already held']),
});
const SbomSummary = z.strictObject({ sha256: Sha256Hex, format: z.string(), specVersion: z.string(), encoding: z.string(), sizeBytes: Count, attachedAt: z.string() });
const SupportEnd = z.string().regex(/^\d{4}-\d{2}$/).nullable().describe('YYYY-MM, end of the support period (Art. 13(19)); null while none is set');
const IndexedComponent = z.strictObject({ ref: z.string(), name: z.string(), group: z.string().optional(), version: z.string().optional(), purls: z.array(z.string()), cpes: z.array(z.string()) });
export const CraRelease = z
  .strictObject({
    kind: z.literal('release'),
    releaseId: Identifier,
    productSku: z.string(),
    version: z.string(),
    approvedAt: z.string(),
    sbomSha256: Sha256Hex.nullable().describe('the SBOM the approval names'),
    images: z.array(z.strictObject({ name: z.string(), sha256: Sha256Hex, sha512: z.string().optional(), sizeBytes: Count.optional() })),
    sbom: SbomSummary.nullable(),
    components: z.array(IndexedComponent),
    supportEnd: SupportEnd,
  })
  .meta({ id: 'CraRelease', description: 'an approved release with the components of its attached SBOM' });
export const CraReleases = z.strictObject({
  releases: z.array(z.strictObject({ releaseId: Identifier, productSku: z.string(), version: z.string(), approvedAt: z.string(), supportEnd: SupportEnd, sbom: SbomSummary.nullable(), components: Count })),
});
const FieldCheck = z.strictObject({ field: z.string(), section: z.string(), requirement: z.string(), present: z.boolean(), detail: z.string().optional() });
export const Tr03183 = z.strictObject({
  releaseId: Identifier,
  guideline: z.literal('BSI TR-03183-2'),
  guidelineVersion: z.string(),
  sbom: z.strictObject({ format: z.string(), specVersion: z.string(), encoding: z.string(), sha256: Sha256Hex.optional() }),
  formatAccepted: z.boolean(),
  formatDetail: z.string(),
  document: z.array(FieldCheck),
  documentMissing: z.array(z.string()),
  components: z.array(z.strictObject({ ref: z.string(), name: z.string(), version: z.string().optional(), fields: z.array(FieldCheck), missing: z.array(z.string()).describe('the required fields it lacks') })),
  missingSummary: z.record(z.string(), Count),
  conformant: z.boolean(),
});
export const EnrichedSbom = z.strictObject({
  envelope: signedDocument([DOCUMENT_MEDIA_TYPES.cyclonedx], 'the enriched CycloneDX document, signed with the ledger key'),
  report: z.record(z.string(), z.unknown()).describe('what the enrichment added and what it could not'),
});
const ComponentHit = z.strictObject({ name: z.string(), version: z.string().optional(), via: z.string(), incomparable: z.string().optional() });
const ReleaseSummary = z.strictObject({ releaseId: Identifier, version: z.string(), supportEnd: SupportEnd, status: VexStatus.optional(), components: z.array(ComponentHit) });
export const CraUnitRow = z
  .strictObject({
    serial: Identifier,
    customer: z.string().nullable(),
    orderRef: z.string().nullable(),
    shippedAt: z.string().nullable(),
    batchId: z.string().nullable(),
    releaseId: Identifier.describe('the release that made this row match, under the view asked for'),
    version: z.string(),
    shippedReleaseId: z.string().nullable(),
    currentReleaseId: z.string().nullable(),
    fieldUpdates: Count,
    supportEnd: SupportEnd,
    supported: z.boolean(),
    components: z.string(),
    status: VexStatus.optional(),
  })
  .meta({ id: 'CraUnitRow', description: 'a unit that carries (or carried) a selected component' });
export const CraUnitsPage = z.strictObject({
  selector: z.record(z.string(), z.unknown()).describe('the component or vulnerability asked for'),
  view: z.enum(['now', 'shipped']),
  releases: z.array(ReleaseSummary),
  unassessedReleases: z.array(ReleaseSummary).optional().describe('releases that carry the component but have no assessment of the vulnerability'),
  units: z.array(CraUnitRow),
  next: Identifier.nullable(),
});
const StageView = z.strictObject({
  stage: ReportStage,
  article: z.string(),
  rule: z.string(),
  deadline: z.string().optional(),
  submittedAt: z.string().optional(),
  coveredBy: ReportStage.optional(),
  state: z.string(),
  remainingMs: z.number().optional(),
});
const ClockView = z.strictObject({ track: z.enum(['vulnerability', 'severe_incident']), awareAt: z.string(), now: z.string(), stages: z.array(StageView), overdue: z.array(ReportStage) });
export const CraVulnerabilities = z.strictObject({
  vulnerabilities: z.array(z.strictObject({ vulnerabilityId: VulnerabilityId, statements: Count, awareAt: z.string().nullable(), overdue: z.array(ReportStage) })),
});
const Statement = z.object({ vulnerabilityId: VulnerabilityId, status: VexStatus, releaseIds: z.array(Identifier), at: z.string() }).catchall(z.unknown()).describe('a VulnerabilityAssessed, as signed, and when');
const NotificationListRecord = z
  .object({ producedAt: z.string(), listSha256: z.string(), format: z.string(), units: Count, customers: Count, requestedBy: z.strictObject({ role: z.string(), name: z.string() }) })
  .catchall(z.unknown())
  .describe('a NotificationListProduced event, as the ledger signed it, and when');
export const CraVulnerability = z.strictObject({
  kind: z.literal('vulnerability'),
  vulnerabilityId: VulnerabilityId,
  statements: z.array(Statement),
  awareness: z.object({ recordedAt: z.string() }).catchall(z.unknown()).nullable().describe('the VulnerabilityAwareness, as signed'),
  reports: z.array(z.object({ recordedAt: z.string() }).catchall(z.unknown())).describe('the CraReportSubmitted events, as signed'),
  notificationLists: z.array(NotificationListRecord).describe('every notification list the ledger produced for it, oldest first'),
  current: z.record(z.string(), Statement).describe('per release id, the statement in force'),
  deadlines: ClockView.nullable().describe('the Art. 14 clock, from the awareness; null without one'),
});
export const CraDeadlines = z.strictObject({
  now: z.string(),
  vulnerabilities: z.array(ClockView.extend({ vulnerabilityId: VulnerabilityId, activelyExploited: z.boolean(), notificationLists: z.array(NotificationListRecord).describe('the notification lists produced, oldest first') })),
  overdue: z.array(z.strictObject({ vulnerabilityId: VulnerabilityId, stages: z.array(ReportStage) })),
});
export const NotificationList = z
  .strictObject({
    kind: z.literal('flashtrail.notification-list'),
    version: z.literal(1),
    vulnerabilityId: VulnerabilityId,
    view: z.enum(['now', 'shipped']),
    statuses: z.array(VexStatus),
    producedAt: z.string(),
    releases: z.array(ReleaseSummary),
    total: Count,
    customers: z.array(
      z.strictObject({
        customer: z.string().describe('empty: units shipped to no named customer'),
        units: Count,
        serials: z.array(Identifier),
        shippedFrom: z.string().nullable(),
        shippedTo: z.string().nullable(),
        currentFirmware: z.record(z.string(), Count),
        supportEnd: z.record(z.string(), Count),
        stillSupported: Count,
      }),
    ),
  })
  .meta({ id: 'NotificationList', description: 'the affected units per customer: who to inform (Art. 14(8))' });
export const EnisaReport = z.strictObject({
  stage: ReportStage,
  fields: z.array(z.strictObject({ label: z.string(), article: z.string(), value: z.string().optional(), requirement: z.enum(['required', 'where-applicable']) })),
  missing: z.array(z.string()).describe('labels of required fields without a value'),
  text: z.string(),
});

// ---- interlock (src/api/interlock-routes.ts) -----------------------------------------------------------

/** Units one validation may name; a carrier or a tray, not the plant. */
export const MAX_UNITS_PER_VALIDATION = 1000;
export const ValidateUnitsBody = z.strictObject({ units: z.array(Serial).min(1).max(MAX_UNITS_PER_VALIDATION) }).meta({ id: 'ValidateUnits', description: 'the serials to check, 1 to 1000 (a carrier, a tray)' });
const ReadinessCode = z.enum(['UNIT_UNKNOWN', 'UNIT_SCRAPPED', 'NOT_VERIFIED', 'HISTORY_INCOMPLETE', 'DRIFTED', 'NOT_LOCKED', 'RELEASE_UNKNOWN']);
export const UnitVerdict = z
  .strictObject({
    serial: Identifier,
    ready: z.boolean(),
    failureCode: Count.describe('the CFX FailureCode of the first reason; 0: ready'),
    reasons: z.array(z.strictObject({ code: ReadinessCode, message: z.string() })),
  })
  .meta({ id: 'UnitVerdict', description: 'may this unit proceed: the same verdict as the CFX ValidateUnitsResponse' });
export const ValidateUnitsResult = z.strictObject({ ready: z.boolean().describe('every unit is ready'), units: z.array(UnitVerdict) });

export const Problem = z
  .object({
    type: z.string().regex(/^urn:flashtrail:problem:/),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    instance: z.string(),
    code: z.string(),
    requestId: z.string().optional(),
  })
  .catchall(z.unknown())
  .meta({ id: 'Problem', description: 'RFC 9457 problem details with a stable code; evidence members (index, rule, stream, …) may follow' });

// ---- operations ----------------------------------------------------------------------------------------

type DeepReadonly<T> = T extends (infer E)[] ? readonly DeepReadonly<E>[] : T extends object ? { readonly [K in keyof T]: DeepReadonly<T[K]> } : T;
/** What a route may answer for a response schema: its input, read-only all the way down (views are). */
export type ResponseOf<S extends z.ZodType> = DeepReadonly<z.input<S>>;

export interface ApiOperation {
  readonly method: 'get' | 'post';
  /** The route as Hono spells it (`/v1/units/:serial`). */
  readonly path: string;
  readonly summary: string;
  readonly description?: string;
  readonly tag: 'health' | 'events' | 'units' | 'registry' | 'log' | 'production' | 'evidence' | 'cra' | 'interlock' | 'meta';
  /** false: no bearer token (health, metrics, this document). */
  readonly authenticated: boolean;
  readonly query?: z.ZodObject;
  readonly params?: z.ZodObject;
  readonly body?: { readonly contentType: string; readonly schema: z.ZodType };
  /** Success responses: status → description and media types. */
  readonly responses: Readonly<Record<number, { readonly description: string; readonly content: Readonly<Record<string, z.ZodType>>; readonly headers?: Readonly<Record<string, string>> }>>;
  /** The refusals this operation can answer, beyond those of every authenticated route. */
  readonly errors: readonly LedgerErrorCode[];
}

const json = (schema: z.ZodType) => ({ 'application/json': schema });
const text = (description: string) => ({ 'text/plain': z.string().describe(description) });
const ok = (description: string, content: Record<string, z.ZodType>) => ({ 200: { description, content } });
/** Refusals of the append pipeline, in the order the pipeline checks. */
const APPEND_ERRORS: LedgerErrorCode[] = [
  'BODY_INVALID',
  'UNSUPPORTED_MEDIA_TYPE',
  'PAYLOAD_TOO_LARGE',
  'ENVELOPE_INVALID',
  'PAYLOAD_NOT_CANONICAL',
  'SCHEMA_INVALID',
  'KEY_UNKNOWN',
  'KEY_REVOKED',
  'SIGNATURE_INVALID',
  'EVENT_ID_CONFLICT',
  'CHAIN_MISMATCH',
  'RULE_VIOLATION',
  'CONCURRENCY_CONFLICT',
];
const appended = {
  201: { description: 'appended (durable when this answer is sent)', content: json(AppendResult) },
  200: { description: 'every event was appended before: nothing was written', content: json(AppendResult) },
};

export const API_OPERATIONS: readonly ApiOperation[] = [
  { method: 'get', path: '/healthz', tag: 'health', summary: 'Liveness', authenticated: false, responses: ok('the process answers', json(Health)), errors: [] },
  {
    method: 'get',
    path: '/readyz',
    tag: 'health',
    summary: 'Readiness: event store head and projection lag',
    authenticated: false,
    responses: ok('ready', json(Ready)),
    errors: ['UNAVAILABLE'],
  },
  { method: 'get', path: '/openapi.json', tag: 'meta', summary: 'This document', authenticated: false, responses: ok('OpenAPI 3.1', { 'application/json': z.record(z.string(), z.unknown()) }), errors: [] },
  { method: 'get', path: '/docs', tag: 'meta', summary: 'The API reference, rendered from this document', authenticated: false, responses: ok('a self-contained HTML page', { 'text/html': z.string() }), errors: [] },
  {
    method: 'post',
    path: '/v1/events',
    tag: 'events',
    summary: 'Append signed events',
    description: 'Station or administrator envelopes, appended all or none. Idempotent by event id: a retry answers 200 with duplicate true.',
    authenticated: true,
    body: { contentType: 'application/json', schema: SubmitBody },
    responses: appended,
    errors: APPEND_ERRORS,
  },
  {
    method: 'post',
    path: '/v1/admin/events',
    tag: 'events',
    summary: 'Append administrator events',
    authenticated: true,
    body: { contentType: 'application/json', schema: SubmitBody },
    responses: appended,
    errors: APPEND_ERRORS,
  },
  { method: 'get', path: '/v1/units', tag: 'units', summary: 'Units, a page at a time, by serial', authenticated: true, query: UnitsQuery, responses: ok('a page of units', json(UnitsPage)), errors: ['QUERY_INVALID'] },
  { method: 'get', path: '/v1/units/:serial', tag: 'units', summary: 'The current state of one unit', authenticated: true, params: SerialParam, responses: ok('the unit', json(UnitViewSchema)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/units/:serial/events', tag: 'units', summary: "A unit's signed history", authenticated: true, params: SerialParam, responses: ok('every event of the unit, in stream order', json(UnitHistory)), errors: ['NOT_FOUND'] },
  {
    method: 'get',
    path: '/v1/units/:serial/provenance',
    tag: 'evidence',
    summary: 'Provenance document of one unit',
    description: 'Every signed event of the unit and every record it depends on, each with a tlog-proof against one signed checkpoint.',
    authenticated: true,
    params: SerialParam,
    responses: { 200: { description: 'the document', content: json(Provenance), headers: { 'X-Checkpoint-Size': 'size of the checkpoint the proofs are against' } } },
    errors: ['NOT_FOUND'],
  },
  { method: 'get', path: '/v1/streams/:stream/head', tag: 'events', summary: 'The head of a stream: what the next event must name as prev', authenticated: true, params: StreamParam, responses: ok('the head', json(StreamHead)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/stations/:id', tag: 'registry', summary: 'A station, its keys and its history', authenticated: true, params: IdParam, responses: ok('the station', json(StationView)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/releases/:id', tag: 'registry', summary: 'An approved release', authenticated: true, params: IdParam, responses: ok('the release', json(ReleaseView)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/batches/:id', tag: 'registry', summary: 'A batch', authenticated: true, params: IdParam, responses: ok('the batch', json(BatchView)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/ledger/key', tag: 'log', summary: "The ledger's verifier key", authenticated: true, responses: ok('<origin>+<key id>+<key>, one line', text('the verifier key string to pin')), errors: [] },
  { method: 'get', path: '/v1/ledger/pq-key', tag: 'log', summary: "The ledger's ML-DSA-44 verifier key (hybrid checkpoints)", authenticated: true, responses: ok('<origin>+<key id>+<key>, one line (C2SP vkey type 0x06)', text('the ML-DSA-44 verifier key string to pin')), errors: ['NOT_FOUND'] },
  // SCITT (RFC 9943) over the same Merkle log: src/api/scitt-routes.ts, docs/format.md §13.
  { method: 'get', path: '/.well-known/scitt-keys', tag: 'evidence', summary: "The ledger's key chain as a COSE_KeySet (SCRAPI), each key with the tree sizes it signs", authenticated: false, responses: ok('a CBOR COSE_KeySet', { 'application/cbor': z.string().describe('CBOR bytes') }), errors: [] },
  {
    method: 'get',
    path: '/entries/:id',
    tag: 'evidence',
    summary: 'The COSE Receipt (RFC 9942, RFC9162_SHA256) of one logged entry, at a signed checkpoint size',
    authenticated: true,
    params: z.strictObject({ id: z.string().describe('the leaf index of the entry') }),
    responses: { 200: { description: 'a COSE_Sign1 receipt with a detached payload', content: { 'application/scitt-receipt+cose': z.string().describe('COSE bytes') }, headers: { 'X-Tree-Size': 'the tree size the receipt is against' } } },
    errors: ['NOT_FOUND'],
  },
  { method: 'get', path: '/statements/:serial', tag: 'evidence', summary: "A shipped unit's SCITT Transparent Statement", authenticated: true, params: SerialParam, responses: ok('a COSE_Sign1 signed statement with its receipt embedded', { 'application/scitt-statement+cose': z.string().describe('COSE bytes') }), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/statements/:serial/provenance', tag: 'evidence', summary: 'The provenance document a Transparent Statement digests', authenticated: true, params: SerialParam, responses: ok('the provenance document, byte for byte as digested', json(StatementProvenance)), errors: ['NOT_FOUND'] },
  // The unit history map and its index log: src/api/map-routes.ts, docs/format.md §15.
  { method: 'get', path: '/v1/unit-map/key', tag: 'log', summary: "The index log's verifier key (pin it beside the ledger's)", authenticated: true, responses: ok('<origin>/unit-map+<key id>+<key>, one line', text('the index log verifier key')), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/unit-map/checkpoint', tag: 'log', summary: 'The newest index log checkpoint, with witness cosignatures', authenticated: true, responses: ok('a C2SP signed note, origin <ledger origin>/unit-map', text('signed note')), errors: ['NOT_FOUND', 'UNAVAILABLE'] },
  { method: 'get', path: '/v1/unit-map/commitments/:size', tag: 'log', summary: 'The map commitment for a ledger checkpoint size, with its inclusion proof', authenticated: true, params: CommitmentParam, responses: ok('the commitment', json(MapCommitment)), errors: ['NOT_FOUND', 'UNAVAILABLE'] },
  { method: 'get', path: '/v1/unit-map/leaves', tag: 'log', summary: "The index log's leaves, in index order (to rebuild it)", authenticated: true, query: UnitMapLeavesQuery, responses: ok('a page of leaves', json(UnitMapLeaves)), errors: ['QUERY_INVALID', 'NOT_FOUND', 'UNAVAILABLE'] },
  { method: 'get', path: '/v1/log/entries', tag: 'log', summary: "The log's entries in leaf order, a page at a time (to rebuild the unit history map)", authenticated: true, query: LogEntriesQuery, responses: ok('a page of entries', json(LogEntries)), errors: ['QUERY_INVALID'] },
  { method: 'get', path: '/v1/unit-map/firmware/:sha256', tag: 'evidence', summary: 'The units carrying a firmware digest now and formerly, with the map proof and index-log commitment that the list is complete (docs/format.md §15.6)', authenticated: true, params: Sha256PathParam, query: UnitMapQuery, responses: ok('the answer', json(FirmwareUnitsAnswer)), errors: ['QUERY_INVALID', 'NOT_FOUND', 'UNAVAILABLE'] },
  { method: 'get', path: '/v1/unit-map/units/:serial', tag: 'evidence', summary: "A unit's map proof and index-log evidence: its complete history as of a checkpoint", authenticated: true, params: SerialParam, query: UnitMapQuery, responses: ok('the evidence', json(UnitMapEvidence)), errors: ['QUERY_INVALID', 'NOT_FOUND', 'UNAVAILABLE'] },
  { method: 'get', path: '/v1/checkpoint', tag: 'log', summary: 'The newest signed checkpoint', authenticated: true, responses: ok('a C2SP tlog-checkpoint signed note', text('signed note')), errors: [] },
  {
    method: 'post',
    path: '/v1/checkpoint',
    tag: 'log',
    summary: 'Sign a checkpoint of the log as it is now',
    authenticated: true,
    responses: { 201: { description: 'the new checkpoint', content: text('signed note') } },
    errors: ['CHECKPOINT_REFUSED', 'UNAVAILABLE'],
  },
  { method: 'get', path: '/v1/proofs/inclusion', tag: 'log', summary: 'RFC 6962 inclusion proof', authenticated: true, query: InclusionQuery, responses: ok('the proof', json(InclusionProof)), errors: ['QUERY_INVALID', 'NOT_FOUND'] },
  { method: 'get', path: '/v1/proofs/consistency', tag: 'log', summary: 'RFC 6962 consistency proof', authenticated: true, query: ConsistencyQuery, responses: ok('the proof', json(ConsistencyProof)), errors: ['QUERY_INVALID', 'NOT_FOUND'] },
  { method: 'get', path: '/v1/batches/:id/drift', tag: 'production', summary: 'Configuration drift of a batch against its release', authenticated: true, params: IdParam, responses: ok('the report', json(BatchDrift)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/batches/:id/scrap', tag: 'production', summary: 'Scrap and yield of a batch', authenticated: true, params: IdParam, responses: ok('the report', json(BatchScrap)), errors: ['NOT_FOUND'] },
  { method: 'get', path: '/v1/drift', tag: 'production', summary: 'Units that drifted in a time window', authenticated: true, query: DriftQuery, responses: ok('the report', json(DriftWindow)), errors: ['QUERY_INVALID'] },
  { method: 'get', path: '/v1/scrap', tag: 'production', summary: 'Scrap and yield by line, station or day', authenticated: true, query: ScrapQuery, responses: ok('the report', json(ScrapReport)), errors: ['QUERY_INVALID'] },
  {
    method: 'get',
    path: '/v1/firmware/:sha256/units',
    tag: 'production',
    summary: 'Units that carry a firmware image (CRA affected units)',
    description: 'JSON pages by default; with Accept: text/csv or application/x-ndjson, every unit in one streamed answer (no paging parameters).',
    authenticated: true,
    params: FirmwareParam,
    query: FirmwareUnitsQuery,
    responses: ok('the units', { 'application/json': FirmwareUnits, 'application/x-ndjson': z.string().describe('one FirmwareUnitRow per line'), 'text/csv': z.string().describe('RFC 4180, a header line first') }),
    errors: ['QUERY_INVALID', 'BODY_INVALID'],
  },
  {
    method: 'post',
    path: '/v1/exports',
    tag: 'evidence',
    summary: 'A signed traceability export',
    description: 'NDJSON, one ExportRecord per line, the signed in-toto statement last; verifies offline (flashtrail verify).',
    authenticated: true,
    body: { contentType: 'application/json', schema: ExportSelectionSchema.meta({ id: 'ExportSelection' }) },
    responses: { 200: { description: 'the export, streamed', content: { 'application/x-ndjson': z.string().describe('lines, each an ExportRecord') }, headers: { 'X-Export-Units': 'units in the export (at most)', 'X-Export-Format': 'flashtrail.export.v5 for a selection by firmware whose answer the index log commits (docs/format.md §7.6.3), else flashtrail.export.v4 where the ledger keeps the unit history map, else flashtrail.export.v3 (§7.6.2)', 'X-Export-Note': 'present when a selection by firmware got no v5: why (no map, a units-only v1 commitment, more than 1,000,000 units)' } } },
    errors: ['BODY_INVALID', 'SCHEMA_INVALID', 'PAYLOAD_TOO_LARGE', 'NOT_FOUND'],
  },
  // ---- CRA: every read catches the component index up with the log first ----
  {
    method: 'post',
    path: '/v1/cra/sboms',
    tag: 'cra',
    summary: 'Upload an SBOM file (before the SbomAttached event that names it)',
    authenticated: true,
    body: { contentType: 'application/json', schema: SbomUploadBody },
    responses: { 201: { description: 'stored', content: json(SbomStored) }, 200: { description: 'the same bytes were held before', content: json(SbomStored) } },
    errors: ['BODY_INVALID', 'SBOM_INVALID', 'PAYLOAD_TOO_LARGE'],
  },
  { method: 'get', path: '/v1/cra/releases', tag: 'cra', summary: 'Approved releases, their SBOM and support end', authenticated: true, responses: ok('the releases', json(CraReleases)), errors: [] },
  { method: 'get', path: '/v1/cra/releases/:id', tag: 'cra', summary: 'One release and its components', authenticated: true, params: IdParam, responses: ok('the release', json(CraRelease)), errors: ['NOT_FOUND'] },
  {
    method: 'get',
    path: '/v1/cra/releases/:id/sbom',
    tag: 'cra',
    summary: "The release's SBOM file, byte for byte as uploaded",
    authenticated: true,
    params: IdParam,
    responses: {
      200: {
        description: 'the SBOM, in its own media type',
        content: { 'application/vnd.cyclonedx+json': z.string(), 'application/spdx+json': z.string(), 'application/ld+json': z.string(), 'text/spdx': z.string() },
        headers: { 'X-Sbom-Sha256': 'SHA-256 of the bytes, as the SbomAttached event names it' },
      },
    },
    errors: ['NOT_FOUND'],
  },
  { method: 'get', path: '/v1/cra/releases/:id/tr03183', tag: 'cra', summary: 'BSI TR-03183-2 conformance of the release SBOM', authenticated: true, params: IdParam, responses: ok('the report', json(Tr03183)), errors: ['NOT_FOUND'] },
  {
    method: 'get',
    path: '/v1/cra/releases/:id/sbom/enriched',
    tag: 'cra',
    summary: 'The release SBOM as CycloneDX with the manufacturer, product and firmware images, signed',
    authenticated: true,
    params: IdParam,
    query: EnrichedSbomQuery,
    responses: ok('the signed document and what was added', json(EnrichedSbom)),
    errors: ['QUERY_INVALID', 'NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/cra/units',
    tag: 'cra',
    summary: 'Units that carry a component, or the releases a vulnerability assessment names',
    description: 'Select by purl, cpe or name (with a vers range), or by vulnerability (with status). JSON pages by default; format=csv or ndjson: every unit in one answer.',
    authenticated: true,
    query: CraUnitsQuery,
    responses: ok('the units', { 'application/json': CraUnitsPage, 'application/x-ndjson': z.string().describe('one CraUnitRow per line'), 'text/csv': z.string().describe('RFC 4180, a header line first') }),
    errors: ['QUERY_INVALID', 'BODY_INVALID', 'NOT_FOUND'],
  },
  { method: 'get', path: '/v1/cra/vulnerabilities', tag: 'cra', summary: 'Vulnerabilities with an assessment, awareness or report recorded', authenticated: true, responses: ok('the list', json(CraVulnerabilities)), errors: [] },
  {
    method: 'get',
    path: '/v1/cra/vulnerabilities/:id',
    tag: 'cra',
    summary: 'One vulnerability: its assessments, the current one per release, its Art. 14 clock',
    authenticated: true,
    params: VulnerabilityParam,
    responses: ok('the vulnerability', json(CraVulnerability)),
    errors: ['BODY_INVALID', 'NOT_FOUND'],
  },
  { method: 'get', path: '/v1/cra/deadlines', tag: 'cra', summary: 'Art. 14 reporting deadlines of every vulnerability with an awareness', authenticated: true, responses: ok('the clocks', json(CraDeadlines)), errors: [] },
  {
    method: 'get',
    path: '/v1/cra/vulnerabilities/:id/notification-list',
    tag: 'cra',
    summary: 'The affected units per customer (Art. 14(8))',
    authenticated: true,
    params: VulnerabilityParam,
    query: NotificationListQuery,
    responses: ok('the list', {
      'application/json': z.union([NotificationList, SignedNotificationList]).describe('the list, or with format=dsse the list signed with the ledger key'),
      'text/csv': z.string().describe('RFC 4180, a header line first'),
    }),
    errors: ['QUERY_INVALID', 'BODY_INVALID', 'NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/cra/vulnerabilities/:id/enisa',
    tag: 'cra',
    summary: 'The content of an Art. 14 report to the single reporting platform',
    authenticated: true,
    params: VulnerabilityParam,
    query: EnisaQuery,
    responses: ok('the report content', { 'application/json': EnisaReport, 'text/plain': z.string().describe('one "Label: value" block per field') }),
    errors: ['QUERY_INVALID', 'BODY_INVALID', 'NOT_FOUND'],
  },
  {
    method: 'get',
    path: '/v1/cra/vex',
    tag: 'cra',
    summary: 'Every current assessment as one VEX document, signed with the ledger key',
    authenticated: true,
    query: VexQuery,
    responses: ok('a DSSE envelope of the CSAF 2.0, OpenVEX 0.2.0 or CycloneDX document', json(SignedVex)),
    errors: ['QUERY_INVALID', 'BODY_INVALID', 'NOT_FOUND'],
  },
  // ---- the interlock over HTTP ----
  {
    method: 'get',
    path: '/v1/units/:serial/readiness',
    tag: 'interlock',
    summary: 'May this unit proceed?',
    description: 'A unit the ledger has never seen is an answer (ready false, UNIT_UNKNOWN), not a 404.',
    authenticated: true,
    params: SerialParam,
    responses: ok('the verdict', json(UnitVerdict)),
    errors: ['SCHEMA_INVALID'],
  },
  {
    method: 'post',
    path: '/v1/interlock/validate',
    tag: 'interlock',
    summary: 'May these units proceed? (every unit of a carrier)',
    authenticated: true,
    body: { contentType: 'application/json', schema: ValidateUnitsBody },
    responses: ok('a verdict per unit', json(ValidateUnitsResult)),
    errors: ['UNSUPPORTED_MEDIA_TYPE', 'BODY_INVALID', 'SCHEMA_INVALID', 'PAYLOAD_TOO_LARGE'],
  },
  {
    method: 'get',
    path: '/metrics',
    tag: 'meta',
    summary: 'Prometheus metrics',
    description: 'Text exposition format: appends by type and outcome, refusals by code, request latency by route, projection lag, Merkle log size, checkpoint age, event store size. No token: expose it to the monitoring network only.',
    authenticated: false,
    responses: ok('the metrics', { 'text/plain': z.string() }),
    errors: [],
  },
];

/** Each NDJSON line of an export is one of these (the document lists it among its components). */
export const NDJSON_ITEM_SCHEMAS = { ExportRecord, FirmwareUnitRow, CraUnitRow } as const;
