/**
 * The CFX layer (src/cfx): the mapping from ledger events to CFX messages, and their serialisation held to the
 * CFX SDK's classes and documentation examples (test/cfx/sdk-reference.json, derived from the SDK's source),
 * to the project's JSON Schema (schemas/cfx, checked with Ajv, a validator we did not write), and to RFC 9562.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import type { LedgerEvent } from '../schemas/index.ts';
import { ev, hash } from './helpers/events.ts';
import { mapLedgerEvent, UNIT_EVENT_TO_CFX, type CfxOutgoing, type CfxStateDoc } from '../src/cfx/mapping.ts';
import { amqpPropertiesOf, envelopeJson } from '../src/cfx/transport.ts';
import { cfxDateTime, csharpDouble } from '../src/cfx/json.ts';
import { CFX_NAMESPACE, NAMESPACE_URL, uuidV5 } from '../src/cfx/uuid.ts';
import { renderCfxJsonSchemas, CFX_JSON_SCHEMAS_DIR } from '../src/cfx/json-schema.ts';
import { CFX_MESSAGES } from '../src/cfx/schema.ts';
import { checkAgainstSdkClasses, compareWithSdkExamples, SDK } from './cfx/sdk-compare.ts';
import { firstPass, hex, recipeUnit, s3Release } from './helpers/recipe.ts';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const settings = { handle: 'Plant1.L1.flashtrail', provenanceUrl: (s: string) => `https://ledger.plant1.example/v1/units/${s}/provenance` };

/** A publisher in miniature: applies the mapping in log order over an in-memory state. */
function publish(events: readonly LedgerEvent[]) {
  const state = new Map<string, CfxStateDoc>();
  const out: CfxOutgoing[] = [];
  events.forEach((event, i) => {
    const mapped = mapLedgerEvent(event, { position: BigInt(100 + i), digest: hash(String(i % 10)) }, (k) => state.get(k) ?? null, settings);
    for (const [k, doc] of mapped.writes) state.set(k, doc);
    out.push(...mapped.messages);
  });
  return out;
}

const release = ev('ReleaseApproved', {
  releaseId: 'R-1', productSku: 'SENSOR-S3', version: '2.4.1', bootloaderSha256: hash('b'), applicationSha256: hash('a'),
  provisioningTemplateSha256: hash('t'), signingKeyDigest: hash('d'), efuseProfile: 'sb',
});
const batch = ev('BatchOpened', { batchId: 'B-1', releaseId: 'R-1', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 10 });

function unitEvents(serial: string, station = 'ST-01') {
  const at = { source: station };
  return {
    scanned: () => ev('UnitScanned', { serial, batchId: 'B-1', station, operator: 'op-7', productSku: 'SENSOR-S3', hardwareRevision: 'A', chipId: 'ESP32-S3:0a1b', mac: '24:6f:28:00:00:01' }, at),
    bootloader: () => ev('BootloaderWritten', { serial, imageSha256: hash('b'), version: 'bl-2.4.1', sizeBytes: 28672, signingKeyRef: 'sb-key', signingKeyDigest: hash('d') }, at),
    app: (reported = hash('a')) => ev('AppVerified', { serial, imageSha256: hash('a'), version: '2.4.1', sizeBytes: 1_048_576, reportedSha256: reported, method: 'device_report', result: reported === hash('a') ? 'pass' : 'fail' }, at),
    provisioned: () => ev('ProvisioningApplied', { serial, templateId: 'tpl-1', templateSha256: hash('t'), configSha256: hash('c') }, at),
    efuse: () => ev('EfuseBurned', { serial, profile: 'sb', fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [hash('d')], secureBoot: true, flashEncryption: true }, at),
    failed: () => ev('StepFailed', { serial, step: 'app_verify', errorCode: 'BOOT_LOG_TIMEOUT', message: 'no boot log within 20000 ms', attempt: 1 }, at),
    reworked: () => ev('UnitReworked', { serial, reason: 'application verification failed' }, at),
    scrapped: () => ev('UnitScrapped', { serial, reason: 'rework limit reached', failedStep: 'app_verify' }, at),
  };
}

const names = (messages: readonly CfxOutgoing[]) => messages.map((m) => m.envelope.MessageName.replace(/^CFX\.(Production\.|ResourcePerformance\.)?((Assembly|TestAndInspection|Processing)\.)?/, ''));

describe('the mapping from unit events to CFX messages', () => {
  it('a passing unit: WorkStarted, UnitsPersonalized, UnitsProcessed ×2, UnitsTested, UnitsProcessed, WorkCompleted Completed', () => {
    const u = unitEvents('SN1');
    const out = publish([release, batch, u.scanned(), u.bootloader(), u.app(), u.provisioned(), u.efuse()]);
    expect(names(out)).toEqual(['WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'UnitsTested', 'UnitsProcessed', 'UnitsProcessed', 'WorkCompleted']);
    const transaction = (out[0]?.envelope.MessageBody as { TransactionID: string }).TransactionID;
    for (const m of out) {
      const body = m.envelope.MessageBody as { TransactionID?: string; TransactionId?: string };
      expect(body.TransactionID ?? body.TransactionId).toBe(transaction);
      expect(m.envelope.Source).toBe('Plant1.L1.flashtrail.ST-01');
    }
    expect(out.at(-1)?.envelope.MessageBody).toMatchObject({ Result: 'Completed', PrimaryIdentifier: 'SN1' });
    const started = out[0]?.envelope.MessageBody;
    expect(started).toMatchObject({ PrimaryIdentifier: 'SN1', RecipeName: 'R-1', Revision: '2.4.1', WorkOrderIdentifier: { WorkOrderId: 'B-1', Batch: 'B-1' } });
    expect(out[1]?.envelope.MessageBody).toMatchObject({ PersonalizedUnits: [{ UnitIdentifier: 'SN1', Characteristics: [{ Name: 'MAC Address', Value: '24:6f:28:00:00:01' }, { Name: 'Chip ID', Value: 'ESP32-S3:0a1b' }] }] });
  });

  it('the application check is a TextMeasurement of the reported hash against the image written', () => {
    const u = unitEvents('SN2');
    const out = publish([release, batch, u.scanned(), u.bootloader(), u.app(hash('e'))]);
    const tested = out.find((m) => m.envelope.MessageName === 'CFX.Production.TestAndInspection.UnitsTested')?.envelope.MessageBody as {
      TestMethod: string; TestedUnits: { OverallResult: string; Tests: { Result: string; Error: string | null; Measurements: Record<string, unknown>[] }[] }[];
    };
    expect(tested.TestMethod).toBe('Automated');
    expect(tested.TestedUnits[0]?.OverallResult).toBe('Failed');
    expect(tested.TestedUnits[0]?.Tests[0]).toMatchObject({ Result: 'Failed', Error: 'APP_HASH_MISMATCH' });
    expect(tested.TestedUnits[0]?.Tests[0]?.Measurements[0]).toMatchObject({ $type: 'CFX.Structures.TextMeasurement, CFX', Value: hash('e'), ExpectedValue: hash('a'), Result: 'Failed' });
  });

  it('fail → rework → pass: two transactions, the first completed Failed, and the tool fault raised and cleared', () => {
    const u = unitEvents('SN3');
    const out = publish([release, batch, u.scanned(), u.bootloader(), u.failed(), u.app(hash('e')), u.reworked(), u.bootloader(), u.app(), u.provisioned(), u.efuse()]);
    expect(names(out)).toEqual([
      'WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'FaultOccurred', 'FaultCleared', 'UnitsTested', 'WorkCompleted',
      // the rework goes on without a new scan: the next step opens the second transaction
      'WorkStarted', 'UnitsProcessed', 'UnitsTested', 'UnitsProcessed', 'UnitsProcessed', 'WorkCompleted',
    ]);
    const tx = (i: number) => {
      const b = out[i]?.envelope.MessageBody as { TransactionID?: string; TransactionId?: string; Fault?: { TransactionID: string } };
      return b.TransactionID ?? b.TransactionId ?? b.Fault?.TransactionID;
    };
    expect(tx(6)).toBe(tx(0));
    expect(out[6]?.envelope.MessageBody).toMatchObject({ Result: 'Failed' });
    expect(tx(7)).not.toBe(tx(0));
    expect(tx(12)).toBe(tx(7));
    const occurred = out[3]?.envelope.MessageBody as { Fault: { FaultOccurrenceId: string; FaultCode: string; Stage: { StageName: string } } };
    expect(occurred.Fault).toMatchObject({ FaultCode: 'BOOT_LOG_TIMEOUT', Stage: { StageName: 'app_verify' }, TransactionID: tx(0) });
    expect(out[4]?.envelope.MessageBody).toMatchObject({ FaultOccurrenceId: occurred.Fault.FaultOccurrenceId });
  });

  it('scrap: UnitsDisqualified with the CFX reason, then WorkCompleted Failed', () => {
    const u = unitEvents('SN4');
    const out = publish([release, batch, u.scanned(), u.bootloader(), u.app(hash('e')), u.scrapped()]);
    expect(names(out).slice(-2)).toEqual(['UnitsDisqualified', 'WorkCompleted']);
    expect(out.at(-2)?.envelope.MessageBody).toMatchObject({ Reason: 'DefectiveRepairNotFeasible', PrimaryIdentifier: 'SN4', Units: [{ UnitIdentifier: 'SN4', Status: 'Scrap' }] });
    // Scrapped after the burn: the firmware cannot be rewritten, so no repair is possible.
    const v = unitEvents('SN5');
    const locked = publish([release, batch, v.scanned(), v.bootloader(), v.app(), v.provisioned(), v.efuse(), v.scrapped()]);
    expect(names(locked).slice(-1)).toEqual(['UnitsDisqualified']);
    expect(locked.at(-1)?.envelope.MessageBody).toMatchObject({ Reason: 'DefectiveRepairNotPossible' });
  });

  it('every message names its ledger event: log position, event id, envelope digest, provenance URL', () => {
    const u = unitEvents('SN6');
    const events = [release, batch, u.scanned(), u.bootloader()];
    const out = publish(events);
    const bootloaderEvent = events[3] as LedgerEvent;
    const processed = out.find((m) => m.envelope.MessageName === 'CFX.Production.Processing.UnitsProcessed') as CfxOutgoing;
    expect(processed.evidence).toEqual({ logPosition: '103', eventId: bootloaderEvent.id, envelopeSha256: hash('3'), provenanceUrl: 'https://ledger.plant1.example/v1/units/SN6/provenance' });
    expect(amqpPropertiesOf(processed.envelope, processed.evidence).application_properties).toMatchObject({
      'flashtrail-log-position': '103', 'flashtrail-event-id': bootloaderEvent.id, 'flashtrail-envelope-sha256': hash('3'), 'flashtrail-provenance-url': processed.evidence.provenanceUrl,
    });
    const parameters = (processed.envelope.MessageBody as { CommonProcessData: { Parameters: { Name: string; Value: string }[] } }).CommonProcessData.Parameters;
    expect(parameters).toEqual(expect.arrayContaining([{ Name: 'ImageSha256', Value: hash('b') }, { Name: 'flashtrail.LogPosition', Value: '103' }, { Name: 'flashtrail.EnvelopeSha256', Value: hash('3') }]));
  });

  it('is deterministic: the same log gives the same bytes (UniqueIDs, TimeStamps, TransactionIDs), and UniqueIDs are distinct', () => {
    const u = unitEvents('SN7');
    const events = [release, batch, u.scanned(), u.bootloader(), u.failed(), u.app(hash('e')), u.reworked(), u.bootloader(), u.app(), u.provisioned(), u.efuse()];
    const first = publish(events).map((m) => envelopeJson(m.envelope));
    expect(publish(events).map((m) => envelopeJson(m.envelope))).toEqual(first);
    const ids = publish(events).map((m) => m.envelope.UniqueID);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it('each row produces only the messages it declares (and the transaction and fault bookkeeping)', () => {
    const u = unitEvents('SN8');
    const events = [release, batch, u.scanned(), u.bootloader(), u.failed(), u.app(hash('e')), u.reworked(), u.bootloader(), u.app(), u.provisioned(), u.efuse(), u.scrapped()];
    const state = new Map<string, CfxStateDoc>();
    events.forEach((event, i) => {
      const mapped = mapLedgerEvent(event, { position: BigInt(i), digest: hash('0') }, (k) => state.get(k) ?? null, settings);
      for (const [k, doc] of mapped.writes) state.set(k, doc);
      if (!('serial' in event.data)) return expect(mapped.messages).toEqual([]);
      const allowed = [...UNIT_EVENT_TO_CFX[event.type as keyof typeof UNIT_EVENT_TO_CFX].messages, 'CFX.Production.WorkStarted', 'CFX.ResourcePerformance.FaultCleared'];
      for (const m of mapped.messages) expect(allowed).toContain(m.envelope.MessageName);
    });
  });
});

describe('the mapping of a recipe (release and unit events of schema version 2)', () => {
  const recipeRelease = ev('ReleaseApproved', s3Release);
  const recipeBatch = ev('BatchOpened', { batchId: 'B2', releaseId: 'R2', line: 'L1', productSku: 'SKU', plannedQuantity: 5 });
  type Tested = { Tester: { OperatorIdentifier: string } | null; RecipeName: string; RecipeRevision: string; TestedUnits: { OverallResult: string; Tests: { TestName: string; TestProcedure: string; Comments: string; Result: string; Error: string | null; Measurements: { MeasurementName: string; Value: string | null; ExpectedValue: string | null; Result: string }[] }[] }[] };
  type Processed = { CommonProcessData: { Parameters: { Name: string; Value: string }[] } };
  const body = <T>(m: CfxOutgoing | undefined) => m?.envelope.MessageBody as T;
  const parameters = (m: CfxOutgoing | undefined) => Object.fromEntries(body<Processed>(m).CommonProcessData.Parameters.map((p) => [p.Name, p.Value]));

  it('a first pass: WorkStarted at the scan, one message per step, WorkCompleted Completed at the recipe\'s last step, in one transaction', () => {
    const u = recipeUnit('SN-R1');
    const out = publish([recipeRelease, recipeBatch, ...firstPass(u)]);
    expect(names(out)).toEqual([
      'WorkStarted',
      'UnitsPersonalized', 'UnitsPersonalized', // read-mac, read-unique-id
      'UnitsProcessed', 'UnitsProcessed', // the two burns (their StepStarted say nothing)
      'UnitsTested', // eFuses read back
      'UnitsProcessed', 'UnitsTested', // images written, read back
      'UnitsProcessed', 'UnitsTested', // NVS written, boot log
      'UnitsProcessed', // the lock
      'UnitsTested', 'WorkCompleted', // the security state confirmed after the lock: the last step
    ]);
    const transaction = body<{ TransactionID: string }>(out[0]).TransactionID;
    for (const m of out) {
      const b = m.envelope.MessageBody as { TransactionID?: string; TransactionId?: string };
      expect(b.TransactionID ?? b.TransactionId).toBe(transaction);
    }
    expect(body<object>(out[0])).toMatchObject({ PrimaryIdentifier: 'SN-R1', RecipeName: 'R2', Revision: '3.0.0', WorkOrderIdentifier: { WorkOrderId: 'B2' } });
    expect(body<object>(out.at(-1))).toMatchObject({ Result: 'Completed', Units: [{ UnitIdentifier: 'SN-R1', Status: 'Pass' }] });
  });

  it('the identity the device reported as Characteristics; images, fuses, keys and tool runs as GenericProcessData', () => {
    const u = recipeUnit('SN-R2');
    const out = publish([recipeRelease, recipeBatch, u.scanned(), u.identity('read-mac', 'f4:12:fa:43:5b:20', null), u.identity('read-unique-id', null, hex('0', 32)), u.started('burn-flash-encryption'), u.burned('burn-flash-encryption'), u.written()]);
    expect(body<object>(out[1])).toMatchObject({ PersonalizedUnits: [{ UnitIdentifier: 'SN-R2', Characteristics: [{ Name: 'MAC Address', Value: 'f4:12:fa:43:5b:20' }, { Name: 'Chip Type', Value: 'ESP32-S3 (QFN56) (revision v0.2)' }] }] });
    expect(body<object>(out[2])).toMatchObject({ PersonalizedUnits: [{ Characteristics: [{ Name: 'Chip ID', Value: hex('0', 32) }, { Name: 'Chip Type', Value: expect.any(String) }] }] });
    const burn = parameters(out[3]);
    expect(burn).toMatchObject({ Step: 'burn-flash-encryption', Operator: 'op-ana', Fixture: 'JIG-1', DurationMs: '1500', Tool1: expect.stringMatching(/^esptool v5\.1\.0 exit 0 in 1200 ms; stdout sha256 [0-9a-f]{64}; stderr sha256 [0-9a-f]{64}$/) });
    const burnStep = s3Release.recipe.steps.find((s) => s.id === 'burn-flash-encryption');
    if (burnStep?.kind !== 'burn') throw new Error('the recipe has no burn-flash-encryption step');
    for (const f of burnStep.fuses) expect(burn[`Fuse.${f.name}`]).toBe(f.value);
    for (const k of burnStep.keys) expect(burn[`Key.${k.block}`]).toBe(k.digest ? `${k.purpose} ${k.digest}` : k.purpose);
    const written = parameters(out[4]);
    for (const image of s3Release.images) {
      expect(written[`Image.${image.name}.Sha256`]).toBe(image.sha256);
      expect(written[`Image.${image.name}.Offset`]).toBe(`0x${image.offset.toString(16)}`);
    }
    expect(written['flashtrail.EventId']).toBe(out[4]?.evidence.eventId);
  });

  it('verifications are UnitsTested: one TextMeasurement per image, reported against expected, with the method and the compared length', () => {
    const u = recipeUnit('SN-R3');
    const pass = firstPass(u, 'write-nvs');
    const app = s3Release.images.find((i) => i.name === 'app');
    const out = publish([recipeRelease, recipeBatch, ...pass, u.verified('read-back-images', { app: hex('9') }), u.verified('boot-log', { app: (app?.elfSha256 as string).slice(0, 9) })]);
    const tests = out.filter((m) => m.envelope.MessageName === 'CFX.Production.TestAndInspection.UnitsTested').map((m) => body<Tested>(m));
    const [readBack, failedReadBack, bootLog] = [tests[1] as Tested, tests[2] as Tested, tests[3] as Tested];
    expect(readBack.TestedUnits[0]?.Tests[0]).toMatchObject({ TestName: 'read-back-images', TestProcedure: 'readback_sha256', Result: 'Passed', Error: null });
    expect(failedReadBack.TestedUnits[0]).toMatchObject({ OverallResult: 'Failed', Tests: [{ Result: 'Failed', Error: 'IMAGE_MISMATCH' }] });
    expect(failedReadBack.TestedUnits[0]?.Tests[0]?.Measurements).toContainEqual(expect.objectContaining({ MeasurementName: 'app SHA-256', Value: hex('9'), ExpectedValue: app?.sha256, Result: 'Failed' }));
    expect(failedReadBack.Tester?.OperatorIdentifier).toBe('op-ana');
    expect(failedReadBack.RecipeName).toBe('R2');
    const boot = bootLog.TestedUnits[0]?.Tests[0];
    expect(boot).toMatchObject({ TestName: 'boot-log', TestProcedure: 'boot_log_elf_sha256', Result: 'Passed' });
    expect(boot?.Comments).toMatch(/^app: 9 of 64 hex characters compared; boot log sha256 [0-9a-f]{64} \(40 lines, app 3\.0\.0\)$/);
    expect(boot?.Measurements).toEqual([expect.objectContaining({ MeasurementName: 'app ELF SHA-256', Value: app?.elfSha256?.slice(0, 9), ExpectedValue: app?.elfSha256, Result: 'Passed' })]);
  });

  it('a security read-back is UnitsTested with one TextMeasurement per expected field; a failed one completes nothing', () => {
    const u = recipeUnit('SN-R4');
    const before = firstPass(u, 'confirm-security-info');
    const step = s3Release.recipe.steps.find((s) => s.id === 'confirm-security-info');
    if (step?.kind !== 'security_state') throw new Error('the recipe has no confirm-security-info step');
    const field = step.expect[0]?.field as string;
    const out = publish([recipeRelease, recipeBatch, ...before, u.securityRead('confirm-security-info', { [field]: 'tampered' })]);
    expect(names(out).slice(-2)).toEqual(['UnitsProcessed', 'UnitsTested']);
    const t = body<Tested>(out.at(-1)).TestedUnits[0]?.Tests[0];
    expect(t).toMatchObject({ TestName: 'confirm-security-info', TestProcedure: 'security_state', Result: 'Failed', Error: 'SECURITY_STATE_MISMATCH' });
    expect(t?.Measurements).toHaveLength(step.expect.length);
    expect(t?.Measurements[0]).toMatchObject({ MeasurementName: field, Value: 'tampered', ExpectedValue: String(step.expect[0]?.equals), Result: 'Failed' });
  });

  it('a tool failure is a fault at the step\'s place in the recipe; a rework ends the attempt Failed; a scrap after the lock is not repairable', () => {
    const u = recipeUnit('SN-R5');
    const upToWrite = firstPass(u, 'write-images');
    const out = publish([recipeRelease, recipeBatch, ...upToWrite, u.failed('write-images'), u.reworked(), u.scanned(), ...firstPass(u).slice(1)]);
    const fault = out.find((m) => m.envelope.MessageName === 'CFX.ResourcePerformance.FaultOccurred');
    const index = s3Release.recipe.steps.findIndex((s) => s.id === 'write-images');
    expect(body<object>(fault)).toMatchObject({ Fault: { FaultCode: 'TOOL_FAILED', Stage: { StageSequence: index + 1, StageName: 'write-images' }, Description: expect.stringContaining('(attempt 1, try 1)') } });
    const completed = out.filter((m) => m.envelope.MessageName === 'CFX.Production.WorkCompleted').map((m) => body<{ Result: string }>(m).Result);
    expect(completed).toEqual(['Failed', 'Completed']);
    const v = recipeUnit('SN-R6');
    const scrapped = publish([recipeRelease, recipeBatch, ...firstPass(v), v.scrapped()]);
    expect(names(scrapped).slice(-1)).toEqual(['UnitsDisqualified']);
    expect(body<object>(scrapped.at(-1))).toMatchObject({ Reason: 'DefectiveRepairNotPossible' });
  });

  it('every message of a recipe unit is SDK-shaped and valid against the project schema', () => {
    const u = recipeUnit('SN-R7');
    const out = publish([recipeRelease, recipeBatch, ...firstPass(u, 'write-images'), u.failed('write-images'), ...firstPass(u).slice(8)]);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(renderCfxJsonSchemas().get('cfx-envelope.schema.json') as string) as object);
    for (const m of out) {
      const json = envelopeJson(m.envelope);
      expect(checkAgainstSdkClasses(json), m.envelope.MessageName).toEqual([]);
      expect(compareWithSdkExamples(json).problems, m.envelope.MessageName).toEqual([]);
      expect(validate(JSON.parse(json)), ajv.errorsText(validate.errors)).toBe(true);
    }
    const ids = out.map((m) => m.envelope.UniqueID);
    expect(new Set(ids).size).toBe(ids.length);
  });
});

describe('CFX serialisation, held to the SDK', () => {
  const u = unitEvents('SN9');
  const all = [
    ...publish([release, batch, u.scanned(), u.bootloader(), u.failed(), u.app(hash('e')), u.reworked(), u.bootloader(), u.app(), u.provisioned(), u.efuse()]),
    ...publish([release, batch, unitEvents('SN10').scanned(), unitEvents('SN10').scrapped()]),
  ];
  const jsonOf = new Map<string, string>(all.map((m) => [m.envelope.MessageName, envelopeJson(m.envelope)]));

  it('the reference was derived from the SDK source (CFX 2.1)', () => {
    expect(SDK.source.repository).toBe('https://github.com/IPCConnectedFactoryExchange/CFX');
    expect(SDK.source.commit).toMatch(/^[0-9a-f]{40}$/);
    expect(SDK.classes['CFX.Production.WorkStarted']?.properties.map((p) => p.name)).toContain('TransactionID');
    expect(SDK.classes['CFX.Production.TestAndInspection.UnitsTested']?.properties.map((p) => p.name)).toContain('TransactionId');
  });

  it('emits every published message type in these scenarios', () => {
    expect([...jsonOf.keys()].sort()).toEqual(Object.keys(CFX_MESSAGES).filter((n) => !/Response$/.test(n)).sort());
  });

  for (const name of Object.keys(CFX_MESSAGES).filter((n) => !/Response$/.test(n))) {
    it(`${name}: members, order, $type and value forms of the SDK classes`, () => {
      expect(checkAgainstSdkClasses(jsonOf.get(name) as string)).toEqual([]);
    });
    it(`${name}: field by field against the SDK documentation's examples`, () => {
      const { examples, problems } = compareWithSdkExamples(jsonOf.get(name) as string);
      expect(problems).toEqual([]);
      expect(examples).toBeGreaterThan(0);
    });
  }

  it('the SDK check finds what is wrong: a swapped member, a double written as 0, a missing null, a $type where none belongs, a lowercase enum', () => {
    const good = jsonOf.get('CFX.Production.WorkStarted') as string;
    const swapped = good.replace(/"PrimaryIdentifier":("\w+"),"HermesIdentifier":null/, '"HermesIdentifier":null,"PrimaryIdentifier":$1');
    expect(swapped).not.toBe(good);
    expect(checkAgainstSdkClasses(swapped)).toEqual([expect.stringContaining('differ from CFX.Production.WorkStarted')]);
    expect(checkAgainstSdkClasses(good.replace('"X":0.0', '"X":0'))).toEqual([expect.stringContaining('$.MessageBody.Units[0].X: a double')]);
    expect(checkAgainstSdkClasses(good.replace('"HermesIdentifier":null,', ''))).toEqual([expect.stringContaining('differ from')]);
    expect(checkAgainstSdkClasses(good.replace('"Units":[{', '"Units":[{"$type":"CFX.Structures.UnitPosition, CFX",'))).toEqual([expect.stringContaining('writes no $type')]);
    expect(checkAgainstSdkClasses(good.replace('"RelevantSurface":"Unspecified"', '"RelevantSurface":"unspecified"'))).toEqual([expect.stringContaining('Surface is written as one of')]);
    const tested = jsonOf.get('CFX.Production.TestAndInspection.UnitsTested') as string;
    expect(compareWithSdkExamples(tested.replace(/"TestMethod":"Automated",/, '')).problems).toEqual(expect.arrayContaining([expect.stringContaining('TestMethod: shown in the SDK example, missing in ours')]));
  });

  it('writes the SDK envelope: MessageName, Version 2.1, TimeStamp with offset, UniqueID, Source, Target, RequestID, MessageBody with $type first', () => {
    const text = jsonOf.get('CFX.Production.WorkStarted') as string;
    expect(text).toMatch(/^\{"MessageName":"CFX\.Production\.WorkStarted","Version":"2\.1","TimeStamp":"2026-03-02T08:\d\d:\d\d\+00:00","UniqueID":"[0-9a-f-]{36}","Source":"Plant1\.L1\.flashtrail\.ST-01","Target":null,"RequestID":null,"MessageBody":\{"\$type":"CFX\.Production\.WorkStarted, CFX",/);
  });

  it('validates against the project JSON Schema (schemas/cfx), checked by Ajv; the file on disk is current', () => {
    const rendered = renderCfxJsonSchemas();
    for (const [file, text] of rendered) expect(readFileSync(`${ROOT}/${CFX_JSON_SCHEMAS_DIR}/${file}`, 'utf8'), `${file} is stale: npm run schemas`).toBe(text);
    const ajv = new Ajv2020({ strict: false, allErrors: true });
    const validate = ajv.compile(JSON.parse(rendered.get('cfx-envelope.schema.json') as string) as object);
    for (const [name, text] of jsonOf) expect(validate(JSON.parse(text)), `${name}: ${ajv.errorsText(validate.errors)}`).toBe(true);
    const broken = JSON.parse(jsonOf.get('CFX.Production.WorkCompleted') as string) as { MessageBody: Record<string, unknown> };
    broken.MessageBody['Result'] = 'Done';
    expect(validate(broken)).toBe(false);
  });

  it('refuses to serialise what the schema does not allow, naming the member', () => {
    const m = all[0] as CfxOutgoing;
    expect(() => envelopeJson({ ...m.envelope, UniqueID: 'not-a-guid' })).toThrow(/UniqueID/);
  });
});

describe('CFX value forms', () => {
  it('DateTime as Newtonsoft writes it: trailing fraction zeros dropped, an offset', () => {
    expect(cfxDateTime('2026-03-02T08:15:41.000Z')).toBe('2026-03-02T08:15:41+00:00');
    expect(cfxDateTime('2026-03-02T08:15:41.120Z')).toBe('2026-03-02T08:15:41.12+00:00');
    expect(cfxDateTime('2026-03-02T08:15:41.007Z')).toBe('2026-03-02T08:15:41.007+00:00');
    expect(() => cfxDateTime('2026-03-02 08:15')).toThrow();
  });

  it('doubles with a decimal point, as .NET "R" plus Newtonsoft\'s ".0"', () => {
    expect([0, 28.2, -6.5, 1e21, 100].map(csharpDouble)).toEqual(['0.0', '28.2', '-6.5', '1E+21', '100.0']);
  });

  it('UUID version 5 (RFC 9562 appendix A.4), and the CFX namespace derived from it', () => {
    expect(uuidV5('6ba7b810-9dad-11d1-80b4-00c04fd430c8', 'www.example.com')).toBe('2ed6657d-e927-568b-95e1-2665a8aea6a2');
    expect(CFX_NAMESPACE).toBe(uuidV5(NAMESPACE_URL, 'https://flashtrail.dev/cfx'));
    expect(CFX_NAMESPACE).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
  });
});
