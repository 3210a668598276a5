/**
 * From ledger events to IPC-CFX messages: one row per unit event type (UNIT_EVENT_TO_CFX), pure.
 *
 * The publisher applies it in log order, like a projection: its state (which work transaction a unit is in,
 * whether a fault is open, which release a batch runs) is a set of small documents the mapping reads through
 * `lookup` and replaces through `writes`, stored with the publisher's cursor. Everything is derived from the
 * log, so mapping the same event again gives the same messages byte for byte: the same UniqueIDs, TimeStamps
 * and TransactionIDs.
 *
 * One work transaction per attempt: WorkStarted at the scan (or at the first step after a rework without a new
 * scan); WorkCompleted Completed when the attempt's work is done — for a release with a recipe (schema
 * version 2), when the recipe's last step succeeds; for the fixed sequence (version 1), at the eFuse burn —
 * and Failed at a rework or a scrap. A station tool failure (StepFailed) raises a fault that the unit's next
 * event clears.
 *
 * The recipe's steps, by what the device reported: an identity read is UnitsPersonalized (MAC, chip id, chip
 * type as Characteristics); a verification (image read-back, tool compare, boot-log ELF hash) and a security
 * state read-back are UnitsTested, one Test per step with one TextMeasurement per image or per expected field
 * (the reported value against the release's); a burn, a write, a provisioning and the lock are UnitsProcessed
 * with GenericProcessData parameters (fuses, key blocks, image digests, offsets and sizes, the tool runs).
 *
 * CFX itself is unauthenticated: anyone on the broker can publish anything. Each message therefore carries the
 * ledger event it comes from (log position, envelope digest, event id) and the unit's provenance URL, where a
 * MES fetches the signed evidence and verifies it (`flashtrail verify`): see CfxEvidence.
 */
import type { EventOf, LedgerEvent, UnitEventType } from '../../schemas/index.ts';
import { isUnitEvent } from '../../schemas/index.ts';
import { CFX_VERSION, type CfxBody, type CfxEnvelope, type CfxMessageName, typeName } from './schema.ts';
import { cfxDateTime } from './json.ts';
import { cfxUuid } from './uuid.ts';

/** Where a message comes from in the ledger: what a MES needs to fetch and verify the proof. */
export interface CfxEvidence {
  /** The event's position in the log ($all), decimal. */
  readonly logPosition: string;
  readonly eventId: string;
  /** SHA-256 of the event's RFC 8785 DSSE envelope, hex: the leaf the ledger's Merkle log commits to. */
  readonly envelopeSha256: string;
  /** `GET` it with an auditor token: the unit's provenance document, verifiable offline. */
  readonly provenanceUrl: string;
}

export interface CfxOutgoing {
  readonly envelope: CfxEnvelope;
  readonly evidence: CfxEvidence;
}

export interface CfxUnitDoc {
  readonly kind: 'unit';
  readonly serial: string;
  readonly batchId: string | null;
  /** The release the unit's scan named (version 2 scans); absent in documents written before recipes. */
  readonly releaseId?: string | null;
  readonly operator: string | null;
  /** The open work transaction: its id and the station whose handle speaks for it. */
  readonly transaction: { readonly id: string; readonly station: string } | null;
  readonly openFault: { readonly occurrenceId: string; readonly station: string } | null;
  readonly locked: boolean;
}

export interface CfxBatchDoc {
  readonly kind: 'batch';
  readonly releaseId: string;
}

export interface CfxReleaseDoc {
  readonly kind: 'release';
  readonly version: string;
  /** The recipe's step ids in order (version 2 releases): the last one completes the work. */
  readonly steps?: readonly string[];
}

export type CfxStateDoc = CfxUnitDoc | CfxBatchDoc | CfxReleaseDoc;

export type CfxLookup = (key: string) => CfxStateDoc | null;

export interface CfxMappingSettings {
  /** The ledger's CFX handle; a station's messages come from `<handle>.<station id>`. */
  readonly handle: string;
  /** The provenance document of a unit, as the MES reaches the ledger. */
  readonly provenanceUrl: (serial: string) => string;
}

export interface MappedEvent {
  readonly writes: readonly (readonly [key: string, doc: CfxStateDoc])[];
  readonly messages: readonly CfxOutgoing[];
}

export const unitKey = (serial: string) => `unit:${serial}`;
export const batchKey = (batchId: string) => `batch:${batchId}`;
export const releaseKey = (releaseId: string) => `release:${releaseId}`;

/** The handle a station's messages are published under. */
export const stationHandle = (handle: string, stationId: string) => `${handle}.${stationId}`;

interface RowContext<K extends UnitEventType> {
  readonly event: EventOf<K>;
  /** The unit as before this event (a transaction already opened for this event, if it needed one). */
  readonly unit: CfxUnitDoc;
  readonly transactionId: string;
  readonly recipe: { readonly name: string | null; readonly revision: string | null; readonly steps: readonly string[] };
  readonly at: string;
  readonly evidence: CfxEvidence;
}

type Body = { [N in CfxMessageName]: { name: N; body: CfxBody<N> } }[CfxMessageName];

interface Row<K extends UnitEventType> {
  /** The messages this event can produce besides the transaction's own bookkeeping (documentation and tests). */
  readonly messages: readonly CfxMessageName[];
  /** Whether this event belongs to a work transaction (starting one when none is open). */
  readonly inTransaction: boolean;
  readonly map: (ctx: RowContext<K>) => { bodies: Body[]; unit: CfxUnitDoc };
}

// Structures the rows share.
const position = (serial: string, status: 'Pass' | 'Fail' | 'Scrap') => ({
  UnitIdentifier: serial,
  PositionNumber: 1,
  PositionName: null,
  X: 0,
  Y: 0,
  Z: null,
  Rotation: 0,
  FlipX: false,
  FlipY: false,
  Status: status,
});

const operator = (id: string | null) =>
  id === null ? null : ({ OperatorIdentifier: id, ActorType: 'Human', LastName: null, FirstName: null, LoginName: null } as const);

/** The ledger facts of the event as GenericProcessData parameters, the evidence last. */
const processed = <K extends UnitEventType>(ctx: RowContext<K>, step: string, parameters: readonly (readonly [string, string])[]): Body => ({
  name: 'CFX.Production.Processing.UnitsProcessed',
  body: {
    $type: typeName('CFX.Production.Processing.UnitsProcessed'),
    TransactionId: ctx.transactionId,
    OverallResult: 'Succeeded',
    CommonProcessData: {
      $type: typeName('CFX.Structures.Generic.GenericProcessData'),
      Setpoints: [],
      Readings: [],
      Parameters: [['Step', step] as const, ...parameters, ...evidenceParameters(ctx.evidence)].map(([Name, Value]) => ({ Name, Value })),
      StageData: [],
    },
    UnitProcessData: [],
  },
});

/** What the tools printed, one parameter a run: the station keeps the output itself as evidence/<sha256>. */
type ToolRunData = { program: string; version?: string | undefined; exitCode: number; stdoutSha256: string; stderrSha256: string; durationMs: number };
const toolParameters = (tools: readonly ToolRunData[]) =>
  tools.map((t, i) => [`Tool${i + 1}`, `${t.version ?? t.program} exit ${t.exitCode} in ${t.durationMs} ms; stdout sha256 ${t.stdoutSha256}; stderr sha256 ${t.stderrSha256}`] as const);

type ImageData = { name: string; offset: number; sha256: string; sizeBytes: number };
const imageParameters = (images: readonly ImageData[]) =>
  images.flatMap((i) => [
    [`Image.${i.name}.Sha256`, i.sha256],
    [`Image.${i.name}.Offset`, `0x${i.offset.toString(16)}`],
    [`Image.${i.name}.SizeBytes`, String(i.sizeBytes)],
  ] as const);

/** The step context of a version 2 event (who, where, how long, which tools) as parameters. */
type StepData = { operator: string; fixture?: string | undefined; durationMs: number; tools: readonly ToolRunData[] };
const stepParameters = (d: StepData) => [
  ['Operator', d.operator] as const,
  ...(d.fixture ? [['Fixture', d.fixture] as const] : []),
  ['DurationMs', String(d.durationMs)] as const,
  ...toolParameters(d.tools),
];

/** One recipe step as a UnitsTested message: one Test, one TextMeasurement per reported value. */
const tested = (
  ctx: Omit<RowContext<UnitEventType>, 'event'> & { readonly event: { readonly id: string } },
  step: string,
  passed: boolean,
  test: { procedure: string; comments: string; error: string; tester: string | null },
  measurements: readonly { name: string; value: string | null; expected: string | null; passed: boolean }[],
): Body => {
  const result = passed ? 'Passed' : 'Failed';
  return {
    name: 'CFX.Production.TestAndInspection.UnitsTested',
    body: {
      $type: typeName('CFX.Production.TestAndInspection.UnitsTested'),
      TransactionId: ctx.transactionId,
      TestMethod: 'Automated',
      Tester: operator(test.tester),
      RecipeName: ctx.recipe.name,
      RecipeRevision: ctx.recipe.revision,
      SamplingInformation: { SamplingMethod: 'NoSampling', LotSize: null, SampleSize: null },
      TestedUnits: [
        {
          UnitIdentifier: ctx.unit.serial,
          UnitPositionNumber: 1,
          OverallResult: result,
          Tests: [
            {
              UniqueIdentifier: cfxUuid(`${ctx.event.id}/test/${step}`),
              TestName: step,
              TestStartTime: null,
              TestEndTime: ctx.at,
              TestConditions: [],
              TestProcedure: test.procedure,
              Comments: test.comments.slice(0, 4096),
              Result: result,
              Error: passed ? null : test.error,
              SymptomsFound: [],
              DefectsFound: [],
              Measurements: measurements.map((m, i) => ({
                $type: typeName('CFX.Structures.TextMeasurement'),
                Value: m.value,
                ExpectedValue: m.expected,
                UniqueIdentifier: cfxUuid(`${ctx.event.id}/measurement/${i}/${m.name}`),
                MeasurementName: m.name,
                TimeRecorded: ctx.at,
                Sequence: i,
                Result: m.passed ? ('Passed' as const) : ('Failed' as const),
                CRDs: null,
              })),
            },
          ],
        },
      ],
    },
  };
};

const shown = (v: string | number | boolean | null) => (v === null ? null : String(v));

export const evidenceParameters = (e: CfxEvidence): readonly (readonly [string, string])[] => [
  ['flashtrail.LogPosition', e.logPosition],
  ['flashtrail.EventId', e.eventId],
  ['flashtrail.EnvelopeSha256', e.envelopeSha256],
  ['flashtrail.ProvenanceUrl', e.provenanceUrl],
];

const workCompleted = <K extends UnitEventType>(ctx: RowContext<K>, result: 'Completed' | 'Failed'): Body => ({
  name: 'CFX.Production.WorkCompleted',
  body: {
    $type: typeName('CFX.Production.WorkCompleted'),
    TransactionID: ctx.transactionId,
    Result: result,
    PrimaryIdentifier: ctx.unit.serial,
    HermesIdentifier: null,
    UnitCount: 1,
    Units: [position(ctx.unit.serial, result === 'Completed' ? 'Pass' : 'Fail')],
    PerformanceImpacts: null,
  },
});

/** Order of the flashing steps, as CFX stage sequence numbers of a fault. */
const STEP_SEQUENCE: Readonly<Record<string, number>> = { scan: 1, bootloader: 2, application: 3, app_verify: 4, provisioning: 5, efuse: 6, test: 7, ship: 8 };

const silentStep = { messages: [], inTransaction: true, map: (ctx: { unit: CfxUnitDoc }) => ({ bodies: [], unit: ctx.unit }) } as const;

/**
 * The mapping, one row per unit event type. Each row's messages follow, in order, a FaultCleared when the unit
 * had an open fault and a WorkStarted when the event opens a transaction (see mapLedgerEvent).
 */
export const UNIT_EVENT_TO_CFX: { readonly [K in UnitEventType]: Row<K> } = {
  UnitScanned: {
    messages: ['CFX.Production.WorkStarted', 'CFX.Production.Assembly.UnitsPersonalized'],
    inTransaction: true,
    map: (ctx) => {
      // Version 1 scans carried the identity; a recipe's identity comes from its own IdentityRead step.
      const d = ctx.event.data as { mac?: string; chipId?: string };
      const characteristics = [
        ...(d.mac ? [{ Name: 'MAC Address', Value: d.mac }] : []),
        ...(d.chipId ? [{ Name: 'Chip ID', Value: d.chipId }] : []),
      ];
      const bodies: Body[] = characteristics.length
        ? [
            {
              name: 'CFX.Production.Assembly.UnitsPersonalized',
              body: {
                $type: typeName('CFX.Production.Assembly.UnitsPersonalized'),
                TransactionId: ctx.transactionId,
                PersonalizedUnits: [{ UnitIdentifier: ctx.event.data.serial, UnitPositionNumber: 1, Characteristics: characteristics }],
              },
            },
          ]
        : [];
      return { bodies, unit: ctx.unit };
    },
  },
  BootloaderWritten: {
    messages: ['CFX.Production.Processing.UnitsProcessed'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      return {
        bodies: [
          processed(ctx, 'bootloader', [
            ['ImageSha256', d.imageSha256],
            ['Version', d.version],
            ['SizeBytes', String(d.sizeBytes)],
            ['SigningKeyRef', d.signingKeyRef],
            ['SigningKeyDigest', d.signingKeyDigest],
          ]),
        ],
        unit: ctx.unit,
      };
    },
  },
  AppVerified: {
    messages: ['CFX.Production.TestAndInspection.UnitsTested'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      const result = d.result === 'pass' ? 'Passed' : 'Failed';
      const at = ctx.at;
      return {
        bodies: [
          {
            name: 'CFX.Production.TestAndInspection.UnitsTested',
            body: {
              $type: typeName('CFX.Production.TestAndInspection.UnitsTested'),
              TransactionId: ctx.transactionId,
              TestMethod: 'Automated',
              Tester: operator(ctx.unit.operator),
              RecipeName: ctx.recipe.name,
              RecipeRevision: ctx.recipe.revision,
              SamplingInformation: { SamplingMethod: 'NoSampling', LotSize: null, SampleSize: null },
              TestedUnits: [
                {
                  UnitIdentifier: d.serial,
                  UnitPositionNumber: 1,
                  OverallResult: result,
                  Tests: [
                    {
                      UniqueIdentifier: cfxUuid(`${ctx.event.id}/test/app_verify`),
                      TestName: 'APP_VERIFY',
                      TestStartTime: null,
                      TestEndTime: at,
                      TestConditions: [],
                      TestProcedure: d.method,
                      Comments: `application ${d.version}, ${d.sizeBytes} bytes: the hash the device reports against the image written`,
                      Result: result,
                      Error: d.result === 'pass' ? null : 'APP_HASH_MISMATCH',
                      SymptomsFound: [],
                      DefectsFound: [],
                      Measurements: [
                        {
                          $type: typeName('CFX.Structures.TextMeasurement'),
                          Value: d.reportedSha256,
                          ExpectedValue: d.imageSha256,
                          UniqueIdentifier: cfxUuid(`${ctx.event.id}/measurement/application_sha256`),
                          MeasurementName: 'APPLICATION_SHA256',
                          TimeRecorded: at,
                          Sequence: 0,
                          Result: result,
                          CRDs: null,
                        },
                      ],
                    },
                  ],
                },
              ],
            },
          },
        ],
        unit: ctx.unit,
      };
    },
  },
  ProvisioningApplied: {
    messages: ['CFX.Production.Processing.UnitsProcessed'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      return {
        bodies: [
          processed(ctx, 'step' in d ? d.step : 'provisioning', [
            ['TemplateId', d.templateId],
            ['TemplateSha256', d.templateSha256],
            ['ConfigSha256', d.configSha256],
            ...('step' in d ? [...(d.image ? imageParameters([d.image]) : []), ...stepParameters(d)] : []),
          ]),
        ],
        unit: ctx.unit,
      };
    },
  },
  EfuseBurned: {
    messages: ['CFX.Production.Processing.UnitsProcessed', 'CFX.Production.WorkCompleted'],
    inTransaction: true,
    map: (ctx) => {
      if (ctx.event.schemaVersion === 2) {
        // A recipe's burn: one of its steps; the recipe locks with UnitLocked and completes at its last step.
        const d = ctx.event.data;
        return {
          bodies: [
            processed(ctx, d.step, [
              ...d.fuses.map((f) => [`Fuse.${f.name}`, f.value] as const),
              ...d.keys.map((k) => [`Key.${k.block}`, k.digest ? `${k.purpose} ${k.digest}` : k.purpose] as const),
              ...stepParameters(d),
            ]),
          ],
          unit: ctx.unit,
        };
      }
      // The fixed sequence's burn (version 1): it locks the chain and ends the work.
      const d = ctx.event.data;
      return {
        bodies: [
          processed(ctx, 'efuse', [
            ['Profile', d.profile],
            ['SecureBoot', String(d.secureBoot)],
            ['FlashEncryption', String(d.flashEncryption)],
            ...d.keyDigests.map((k, i) => [`KeyDigest${i + 1}`, k] as const),
            ...d.fuses.map((f) => [`Fuse.${f.name}`, f.value] as const),
          ]),
          workCompleted(ctx, 'Completed'),
        ],
        unit: { ...ctx.unit, transaction: null, locked: true },
      };
    },
  },
  StepFailed: {
    messages: ['CFX.ResourcePerformance.FaultOccurred'],
    // A tool can fail outside a work transaction too (after the burn, at test or shipping): the fault then has none.
    inTransaction: false,
    map: (ctx) => {
      const d = ctx.event.data;
      const occurrenceId = cfxUuid(`${ctx.event.id}/fault`);
      return {
        bodies: [
          {
            name: 'CFX.ResourcePerformance.FaultOccurred',
            body: {
              $type: typeName('CFX.ResourcePerformance.FaultOccurred'),
              Fault: {
                TransactionID: ctx.unit.transaction?.id ?? null,
                Cause: 'ProcessError',
                Severity: 'Error',
                FaultCode: d.errorCode,
                FaultOccurrenceId: occurrenceId,
                Lane: null,
                // A recipe step's place in its recipe; a fixed-sequence step's in that sequence.
                Stage: { StageSequence: ctx.recipe.steps.indexOf(d.step) + 1 || (STEP_SEQUENCE[d.step] ?? 0), StageName: d.step, StageType: 'Work' },
                SideLocation: 'Unknown',
                AccessType: 'Unknown',
                Description: `${d.step} failed (attempt ${d.attempt}${'try' in d ? `, try ${d.try}` : ''}): ${d.message}`.slice(0, 4096),
                DescriptionTranslations: {},
                OccurredAt: ctx.at,
                DueDateTime: null,
              },
            },
          },
        ],
        unit: { ...ctx.unit, openFault: { occurrenceId, station: ctx.event.source.id } },
      };
    },
  },
  // The recipe's events (schema version 2).
  IdentityRead: {
    messages: ['CFX.Production.Assembly.UnitsPersonalized'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      const characteristics = [
        ...(d.mac ? [{ Name: 'MAC Address', Value: d.mac }] : []),
        ...(d.chipId ? [{ Name: 'Chip ID', Value: d.chipId }] : []),
        ...(d.chipType ? [{ Name: 'Chip Type', Value: d.chipType }] : []),
      ];
      return {
        bodies: [
          {
            name: 'CFX.Production.Assembly.UnitsPersonalized',
            body: {
              $type: typeName('CFX.Production.Assembly.UnitsPersonalized'),
              TransactionId: ctx.transactionId,
              PersonalizedUnits: [{ UnitIdentifier: d.serial, UnitPositionNumber: 1, Characteristics: characteristics }],
            },
          },
        ],
        unit: ctx.unit,
      };
    },
  },
  // The ledger's permission to run an irreversible step: nothing happened to the unit yet.
  StepStarted: silentStep,
  ImagesWritten: {
    messages: ['CFX.Production.Processing.UnitsProcessed'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      return { bodies: [processed(ctx, d.step, [...imageParameters(d.images), ...stepParameters(d)])], unit: ctx.unit };
    },
  },
  ImagesVerified: {
    messages: ['CFX.Production.TestAndInspection.UnitsTested'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      const boot = d.method === 'boot_log_elf_sha256';
      const compared = d.images.map((i) => `${i.name}: ${i.comparedChars} of ${i.expected.length} hex characters compared`).join('; ');
      const log = d.bootLog ? `; boot log sha256 ${d.bootLog.sha256} (${d.bootLog.lines} lines${d.bootLog.appVersion ? `, app ${d.bootLog.appVersion}` : ''})` : '';
      return {
        bodies: [
          tested(
            ctx,
            d.step,
            d.result === 'pass',
            { procedure: d.method, comments: `${compared}${log}`, error: boot ? 'ELF_HASH_MISMATCH' : 'IMAGE_MISMATCH', tester: d.operator },
            d.images.map((i) => ({ name: `${i.name} ${boot ? 'ELF SHA-256' : 'SHA-256'}`, value: i.reported, expected: i.expected, passed: i.result === 'pass' })),
          ),
        ],
        unit: ctx.unit,
      };
    },
  },
  SecurityStateRead: {
    messages: ['CFX.Production.TestAndInspection.UnitsTested'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      const tools = d.tools.map((t) => t.version ?? t.program).join(', ');
      return {
        bodies: [
          tested(
            ctx,
            d.step,
            d.result === 'pass',
            { procedure: 'security_state', comments: `${d.fields.length} fields read${tools ? ` with ${tools}` : ''}; ${d.checks.filter((c) => c.met).length} of ${d.checks.length} expectations met`, error: 'SECURITY_STATE_MISMATCH', tester: d.operator },
            d.checks.map((c) => ({ name: c.field, value: shown(c.actual), expected: shown(c.equals), passed: c.met })),
          ),
        ],
        unit: ctx.unit,
      };
    },
  },
  UnitLocked: {
    messages: ['CFX.Production.Processing.UnitsProcessed'],
    inTransaction: true,
    map: (ctx) => {
      const d = ctx.event.data;
      return {
        bodies: [processed(ctx, d.step, [...d.fuses.map((f) => [`Fuse.${f.name}`, f.value] as const), ...imageParameters(d.images), ...stepParameters(d)])],
        unit: { ...ctx.unit, locked: true },
      };
    },
  },
  UnitReworked: {
    messages: ['CFX.Production.WorkCompleted'],
    inTransaction: false,
    map: (ctx) =>
      ctx.unit.transaction
        ? { bodies: [workCompleted(ctx, 'Failed')], unit: { ...ctx.unit, transaction: null } }
        : { bodies: [], unit: ctx.unit },
  },
  UnitScrapped: {
    messages: ['CFX.Production.UnitsDisqualified', 'CFX.Production.WorkCompleted'],
    inTransaction: false,
    map: (ctx) => {
      const d = ctx.event.data;
      const disqualified: Body = {
        name: 'CFX.Production.UnitsDisqualified',
        body: {
          $type: typeName('CFX.Production.UnitsDisqualified'),
          PrimaryIdentifier: d.serial,
          HermesIdentifier: null,
          // Once eFuses are burned the firmware cannot be rewritten: no repair is possible. Before, scrapping
          // is the line's decision (its rework limit), a repair not worth making.
          Reason: ctx.unit.locked ? 'DefectiveRepairNotPossible' : 'DefectiveRepairNotFeasible',
          Comments: (d.failedStep ? `${d.reason} (failed step: ${d.failedStep})` : d.reason).slice(0, 4096),
          UnitCount: 1,
          Units: [position(d.serial, 'Scrap')],
        },
      };
      return ctx.unit.transaction
        ? { bodies: [disqualified, workCompleted(ctx, 'Failed')], unit: { ...ctx.unit, transaction: null } }
        : { bodies: [disqualified], unit: ctx.unit };
    },
  },
  UnitShipped: {
    messages: [],
    inTransaction: false,
    map: (ctx) => ({ bodies: [], unit: ctx.unit }),
  },
  // A field update happens in the fleet, after the line: no production message.
  FirmwareUpdated: {
    messages: [],
    inTransaction: false,
    map: (ctx) => ({ bodies: [], unit: ctx.unit }),
  },
};

function emptyUnit(serial: string): CfxUnitDoc {
  return { kind: 'unit', serial, batchId: null, releaseId: null, operator: null, transaction: null, openFault: null, locked: false };
}

/**
 * The CFX messages of one ledger event and the state they leave. Administrator events produce no message but
 * keep the catalogue a scan needs (which release a batch runs, that release's version).
 */
export function mapLedgerEvent(event: LedgerEvent, meta: { readonly position: bigint; readonly digest: string }, lookup: CfxLookup, settings: CfxMappingSettings): MappedEvent {
  if (!isUnitEvent(event)) {
    if (event.type === 'BatchOpened') return { writes: [[batchKey(event.data.batchId), { kind: 'batch', releaseId: event.data.releaseId }]], messages: [] };
    if (event.type === 'ReleaseApproved') {
      const steps = 'recipe' in event.data ? event.data.recipe.steps.map((s) => s.id) : undefined;
      return { writes: [[releaseKey(event.data.releaseId), { kind: 'release', version: event.data.version, ...(steps ? { steps } : {}) }]], messages: [] };
    }
    return { writes: [], messages: [] };
  }
  const serial = event.data.serial;
  const before = (lookup(unitKey(serial)) as CfxUnitDoc | null) ?? emptyUnit(serial);
  let unit: CfxUnitDoc =
    event.type === 'UnitScanned'
      ? { ...before, batchId: event.data.batchId, releaseId: 'releaseId' in event.data ? event.data.releaseId : null, operator: event.data.operator }
      : before;
  const at = cfxDateTime(event.occurredAt);
  const evidence: CfxEvidence = {
    logPosition: meta.position.toString(),
    eventId: event.id,
    envelopeSha256: meta.digest,
    provenanceUrl: settings.provenanceUrl(serial),
  };
  const batch = unit.batchId ? (lookup(batchKey(unit.batchId)) as CfxBatchDoc | null) : null;
  const releaseId = unit.releaseId ?? batch?.releaseId ?? null;
  const release = releaseId ? (lookup(releaseKey(releaseId)) as CfxReleaseDoc | null) : null;
  const recipe = { name: releaseId, revision: release?.version ?? null, steps: release?.steps ?? [] };
  const bodies: { body: Body; station: string }[] = [];

  if (unit.openFault) {
    const fault = unit.openFault;
    bodies.push({
      station: fault.station,
      body: { name: 'CFX.ResourcePerformance.FaultCleared', body: { $type: typeName('CFX.ResourcePerformance.FaultCleared'), FaultOccurrenceId: fault.occurrenceId, Operator: operator(unit.operator) } },
    });
    unit = { ...unit, openFault: null };
  }
  const row = UNIT_EVENT_TO_CFX[event.type] as Row<UnitEventType>;
  // A scan always starts a transaction of its own (a scan is accepted only for a new or reworked unit).
  if (row.inTransaction && (event.type === 'UnitScanned' || !unit.transaction)) {
    const transaction = { id: cfxUuid(`${event.id}/transaction`), station: event.source.id };
    unit = { ...unit, transaction };
    bodies.push({
      station: transaction.station,
      body: {
        name: 'CFX.Production.WorkStarted',
        body: {
          $type: typeName('CFX.Production.WorkStarted'),
          PrimaryIdentifier: serial,
          HermesIdentifier: null,
          TransactionID: transaction.id,
          Lane: null,
          UnitCount: 1,
          Units: [position(serial, 'Pass')],
          RecipeName: recipe.name,
          Revision: recipe.revision,
          RelevantSurface: 'Unspecified',
          WorkOrderIdentifier: unit.batchId ? { WorkOrderId: unit.batchId, Batch: unit.batchId } : null,
        },
      },
    });
  }
  const transactionId = unit.transaction?.id ?? cfxUuid(`${event.id}/transaction`);
  const context = { event, unit, transactionId, recipe, at, evidence } as RowContext<UnitEventType>;
  const produced = row.map(context);
  for (const body of produced.bodies) bodies.push({ body, station: event.source.id });
  let after = produced.unit;
  // A recipe's work is done when its last step succeeds (the lock, or a read-back after it).
  const done = succeededStep(event);
  if (done !== null && after.transaction && recipe.steps.at(-1) === done) {
    bodies.push({ body: workCompleted({ ...context, unit: after }, 'Completed'), station: event.source.id });
    after = { ...after, transaction: null };
  }

  const messages = bodies.map(({ body, station }) => ({
    envelope: {
      MessageName: body.name,
      Version: CFX_VERSION,
      TimeStamp: at,
      UniqueID: cfxUuid(`${event.id}/${body.name}`),
      Source: stationHandle(settings.handle, station),
      Target: null,
      RequestID: null,
      MessageBody: body.body,
    } as CfxEnvelope,
    evidence,
  }));
  return { writes: [[unitKey(serial), after]], messages };
}

/**
 * The recipe step an event shows done: a step's record, or a verification or read-back that passed (version 1
 * burns and provisionings name no recipe step).
 */
function succeededStep(event: LedgerEvent): string | null {
  switch (event.type) {
    case 'IdentityRead':
    case 'EfuseBurned':
    case 'ImagesWritten':
    case 'ProvisioningApplied':
    case 'UnitLocked':
      return 'step' in event.data ? event.data.step : null;
    case 'ImagesVerified':
    case 'SecurityStateRead':
      return event.data.result === 'pass' ? event.data.step : null;
    default:
      return null;
  }
}
