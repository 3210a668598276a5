/**
 * The IPC-CFX (IPC-2591, CFX 2.1) messages flashtrail writes and reads, as zod schemas: the single source of
 * their shape, their member order and their JSON Schema (schemas/cfx/).
 *
 * Each object lists its members in the order the CFX SDK's Newtonsoft.Json serialisation writes them (a class's
 * own properties, then its base class's), every member present (the SDK writes nulls), `$type` first where the
 * SDK writes one (the envelope's MessageBody, and polymorphic members such as measurements and process data).
 * test/cfx/sdk-reference.json, derived from the SDK's source, is what the tests hold these to.
 *
 * Only what flashtrail emits is allowed: a list we always write empty is an empty list here, a member we
 * always write null is null. CFX itself carries no signature: the evidence is the ledger's (see mapping.ts).
 */
import { z } from 'zod';

/** `CFXEnvelope.CFXVERSION` of the SDK this output follows. */
export const CFX_VERSION = '2.1';

/** A .NET Guid as Newtonsoft writes it ("D" format, lowercase). */
export const Guid = z.string().regex(/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/, 'lowercase GUID');
/** A .NET DateTime as Newtonsoft writes it: ISO 8601, up to 7 fraction digits (trailing zeros dropped), with an offset. */
export const DateTimeOffset = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{0,6}[1-9])?[+-]\d{2}:\d{2}$/, 'ISO 8601 date-time with offset, as Newtonsoft.Json writes it');
/** A C# double: written with a decimal point (0.0), see json.ts. */
const Double = z.number();
const Int = z.int();
const Text = z.string().max(4096);
const NullableText = Text.nullable();
/** A list flashtrail always writes empty. */
const EmptyList = z.array(z.never()).max(0);

/** The `$type` Newtonsoft writes for a CFX class (TypeNameAssemblyFormatHandling.Simple): `<full name>, CFX`. */
export const typeName = <N extends string>(fullName: N) => `${fullName}, CFX` as const;
const TypeTag = <N extends string>(fullName: N) => z.literal(typeName(fullName));

// Enumerations (the SDK's StringEnumConverter writes member names). Only the members flashtrail writes.
export const UnitStatus = z.enum(['Pass', 'Fail', 'Scrap']);
export const Surface = z.enum(['Unspecified']);
export const WorkResult = z.enum(['Completed', 'Failed']);
export const TestMethod = z.enum(['Automated']);
export const TestResult = z.enum(['Passed', 'Failed']);
export const ActorType = z.enum(['Human']);
export const SamplingMethod = z.enum(['NoSampling']);
export const ProcessingResult = z.enum(['Succeeded']);
export const DisqualificationReason = z.enum(['DefectiveRepairNotPossible', 'DefectiveRepairNotFeasible']);
export const FaultCause = z.enum(['ProcessError']);
export const FaultSeverity = z.enum(['Error']);
export const SideLocation = z.enum(['Unknown']);
export const AccessType = z.enum(['Unknown']);
export const StageType = z.enum(['Work']);
export const StatusResult = z.enum(['Success', 'Failed']);
export const ValidationStatus = z.enum(['Passed', 'Failed']);
/** CFX.Structures.ValidationType: every member, as a request may name any. */
export const ValidationType = z.enum(['UnitRouteValidation', 'UnitStatusValidation', 'UnitAndSubsStatusValidation', 'UnitTraceValidation', 'All']);

// CFX.Structures
export const UnitPosition = z.strictObject({
  UnitIdentifier: Text,
  PositionNumber: Int,
  PositionName: NullableText,
  X: Double,
  Y: Double,
  Z: Double.nullable(),
  Rotation: Double,
  FlipX: z.boolean(),
  FlipY: z.boolean(),
  Status: UnitStatus,
});

export const WorkOrderIdentifier = z.strictObject({ WorkOrderId: NullableText, Batch: NullableText });

export const Characteristic = z.strictObject({ Name: Text, Value: Text });

export const PersonalizedUnit = z.strictObject({
  UnitIdentifier: Text,
  UnitPositionNumber: Int.nullable(),
  Characteristics: z.array(Characteristic).max(16),
});

export const Operator = z.strictObject({
  OperatorIdentifier: NullableText,
  ActorType,
  LastName: NullableText,
  FirstName: NullableText,
  LoginName: NullableText,
});

export const SamplingInformation = z.strictObject({ SamplingMethod, LotSize: Double.nullable(), SampleSize: Double.nullable() });

export const TextMeasurement = z.strictObject({
  $type: TypeTag('CFX.Structures.TextMeasurement'),
  Value: NullableText,
  ExpectedValue: NullableText,
  UniqueIdentifier: Text,
  MeasurementName: Text,
  TimeRecorded: DateTimeOffset.nullable(),
  Sequence: Int,
  Result: TestResult,
  CRDs: NullableText,
});

export const Test = z.strictObject({
  UniqueIdentifier: Text,
  TestName: Text,
  TestStartTime: DateTimeOffset.nullable(),
  TestEndTime: DateTimeOffset.nullable(),
  TestConditions: EmptyList,
  TestProcedure: NullableText,
  Comments: NullableText,
  Result: TestResult,
  Error: NullableText,
  SymptomsFound: EmptyList,
  DefectsFound: EmptyList,
  // A security read-back checks up to 64 expectations (schemas/unit-events.ts).
  Measurements: z.array(TextMeasurement).max(64),
});

export const TestedUnit = z.strictObject({
  UnitIdentifier: Text,
  UnitPositionNumber: Int.nullable(),
  OverallResult: TestResult,
  Tests: z.array(Test).max(16),
});

export const GenericParameter = z.strictObject({ Name: Text, Value: NullableText });

export const GenericProcessData = z.strictObject({
  $type: TypeTag('CFX.Structures.Generic.GenericProcessData'),
  Setpoints: EmptyList,
  Readings: EmptyList,
  // A burn's 64 fuses, 8 key blocks and 8 tool runs, with the step context and the evidence.
  Parameters: z.array(GenericParameter).max(256),
  StageData: EmptyList,
});

export const Stage = z.strictObject({ StageSequence: Int, StageName: NullableText, StageType });

export const Fault = z.strictObject({
  TransactionID: Guid.nullable(),
  Cause: FaultCause,
  Severity: FaultSeverity,
  FaultCode: NullableText,
  FaultOccurrenceId: Guid,
  Lane: Int.nullable(),
  Stage: Stage.nullable(),
  SideLocation,
  AccessType,
  Description: NullableText,
  DescriptionTranslations: z.record(z.string(), z.string()),
  OccurredAt: DateTimeOffset,
  DueDateTime: DateTimeOffset.nullable(),
});

export const RequestResult = z.strictObject({ Result: StatusResult, ResultCode: Int, Message: NullableText });

export const ValidationResult = z.strictObject({
  UniqueIdentifier: NullableText,
  PositionNumber: Int,
  Result: ValidationStatus,
  FailureCode: Int,
  Message: NullableText,
});

// Message bodies, by full name (= MessageName).
export const WorkStarted = z.strictObject({
  $type: TypeTag('CFX.Production.WorkStarted'),
  PrimaryIdentifier: NullableText,
  HermesIdentifier: NullableText,
  TransactionID: Guid,
  Lane: Int.nullable(),
  UnitCount: Int,
  Units: z.array(UnitPosition).max(1),
  RecipeName: NullableText,
  Revision: NullableText,
  RelevantSurface: Surface,
  WorkOrderIdentifier: WorkOrderIdentifier.nullable(),
});

export const WorkCompleted = z.strictObject({
  $type: TypeTag('CFX.Production.WorkCompleted'),
  TransactionID: Guid,
  Result: WorkResult,
  PrimaryIdentifier: NullableText,
  HermesIdentifier: NullableText,
  UnitCount: Int,
  Units: z.array(UnitPosition).max(1),
  PerformanceImpacts: z.null(),
});

export const UnitsPersonalized = z.strictObject({
  $type: TypeTag('CFX.Production.Assembly.UnitsPersonalized'),
  TransactionId: Guid,
  PersonalizedUnits: z.array(PersonalizedUnit).max(1),
});

export const UnitsTested = z.strictObject({
  $type: TypeTag('CFX.Production.TestAndInspection.UnitsTested'),
  TransactionId: Guid,
  TestMethod,
  Tester: Operator.nullable(),
  RecipeName: NullableText,
  RecipeRevision: NullableText,
  SamplingInformation,
  TestedUnits: z.array(TestedUnit).max(1),
});

export const UnitsProcessed = z.strictObject({
  $type: TypeTag('CFX.Production.Processing.UnitsProcessed'),
  TransactionId: Guid,
  OverallResult: ProcessingResult,
  CommonProcessData: GenericProcessData,
  UnitProcessData: EmptyList,
});

export const UnitsDisqualified = z.strictObject({
  $type: TypeTag('CFX.Production.UnitsDisqualified'),
  PrimaryIdentifier: NullableText,
  HermesIdentifier: NullableText,
  Reason: DisqualificationReason,
  Comments: NullableText,
  UnitCount: Int,
  Units: z.array(UnitPosition).max(1),
});

export const FaultOccurred = z.strictObject({
  $type: TypeTag('CFX.ResourcePerformance.FaultOccurred'),
  Fault,
});

export const FaultCleared = z.strictObject({
  $type: TypeTag('CFX.ResourcePerformance.FaultCleared'),
  FaultOccurrenceId: Guid,
  Operator: Operator.nullable(),
});

export const ValidateUnitsResponse = z.strictObject({
  $type: TypeTag('CFX.InformationSystem.UnitValidation.ValidateUnitsResponse'),
  Result: RequestResult,
  PrimaryResult: ValidationResult,
  ValidationResults: z.array(ValidationResult).max(1000),
});

export const NotSupportedResponse = z.strictObject({
  $type: TypeTag('CFX.NotSupportedResponse'),
  RequestResult,
});

/** Every message flashtrail writes: MessageName → body schema. */
export const CFX_MESSAGES = {
  'CFX.Production.WorkStarted': WorkStarted,
  'CFX.Production.WorkCompleted': WorkCompleted,
  'CFX.Production.Assembly.UnitsPersonalized': UnitsPersonalized,
  'CFX.Production.TestAndInspection.UnitsTested': UnitsTested,
  'CFX.Production.Processing.UnitsProcessed': UnitsProcessed,
  'CFX.Production.UnitsDisqualified': UnitsDisqualified,
  'CFX.ResourcePerformance.FaultOccurred': FaultOccurred,
  'CFX.ResourcePerformance.FaultCleared': FaultCleared,
  'CFX.InformationSystem.UnitValidation.ValidateUnitsResponse': ValidateUnitsResponse,
  'CFX.NotSupportedResponse': NotSupportedResponse,
} as const;

export type CfxMessageName = keyof typeof CFX_MESSAGES;
export type CfxBody<N extends CfxMessageName = CfxMessageName> = z.infer<(typeof CFX_MESSAGES)[N]>;

/** The CFX topic of a message: its namespace, as the SDK's `cfx-topic` application property. */
export function cfxTopic(name: string): string {
  return name.slice(0, name.lastIndexOf('.'));
}

/** A CFX handle: dot-separated names, as the SDK's examples (`SMTPlus.Model_21232.SN23123`). */
export const CfxHandle = z
  .string()
  .max(200)
  .regex(/^[A-Za-z0-9_:-]+(\.[A-Za-z0-9_:-]+)*$/, 'dot-separated names of letters, digits, _ : -');

function envelopeOf<N extends CfxMessageName>(name: N) {
  return z.strictObject({
    MessageName: z.literal(name),
    Version: z.literal(CFX_VERSION),
    TimeStamp: DateTimeOffset,
    UniqueID: Guid,
    Source: CfxHandle,
    Target: CfxHandle.nullable(),
    RequestID: NullableText,
    MessageBody: CFX_MESSAGES[name],
  });
}

const ENVELOPES = (Object.keys(CFX_MESSAGES) as CfxMessageName[]).map((n) => envelopeOf(n));

/** A CFXEnvelope flashtrail writes, with its body. */
export const CfxEnvelopeSchema = z.discriminatedUnion('MessageName', ENVELOPES as unknown as [(typeof ENVELOPES)[number], ...(typeof ENVELOPES)[number][]]);

export type CfxEnvelope<N extends CfxMessageName = CfxMessageName> = {
  readonly MessageName: N;
  readonly Version: typeof CFX_VERSION;
  readonly TimeStamp: string;
  readonly UniqueID: string;
  readonly Source: string;
  readonly Target: string | null;
  readonly RequestID: string | null;
  readonly MessageBody: CfxBody<N>;
};

/**
 * An incoming CFXEnvelope (a request from the MES): read leniently, as the SDK reads one (members it does not
 * know are ignored), but bounded.
 */
export const IncomingEnvelope = z.object({
  MessageName: z.string().min(1).max(200),
  Version: z.string().max(20).nullish(),
  TimeStamp: z.string().max(64).nullish(),
  UniqueID: z.string().max(64).nullish(),
  Source: z.string().max(200).nullish(),
  Target: z.string().max(200).nullish(),
  RequestID: z.string().max(200).nullish(),
  MessageBody: z.unknown(),
});

/** CFX.InformationSystem.UnitValidation.ValidateUnitsRequest as received. */
export const ValidateUnitsRequest = z.object({
  Validations: z.array(ValidationType).max(16).nullish(),
  PrimaryIdentifier: z.string().max(200).nullish(),
  HermesIdentifier: z.string().max(200).nullish(),
  Units: z
    .array(z.object({ UnitIdentifier: z.string().max(200).nullish(), PositionNumber: z.int().nullish() }))
    .max(1000)
    .nullish(),
  Lane: z.int().nullish(),
});
export type ValidateUnitsRequestBody = z.infer<typeof ValidateUnitsRequest>;
