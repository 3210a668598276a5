/**
 * The plant connection end to end: `flashtrail serve` as a real process, configured for the plant only through
 * its environment (FLASHTRAIL_CFX_*), against a real RabbitMQ (3.10, AMQP 1.0 plugin); stations that sign
 * recipe events (the ESP32-S3 Secure Boot v2 + flash encryption recipe) and append them over HTTP; a MES
 * stand-in on its own AMQP connection with a queue bound to the plant's CFX exchange.
 *
 * - One unit passes, one fails (a tool failure, then a read-back that does not match) → rework → passes, one is
 *   scrapped: the MES receives exactly the documented sequence per unit (README, "Connecting to the plant"),
 *   every body valid against schemas/cfx and shaped like the SDK's classes and documentation examples.
 * - The broker is stopped for part of the run, and the ledger itself is restarted: every message arrives
 *   afterwards, in order per unit, with stable UniqueIDs; appends are never refused, nor slowed beyond noise.
 * - ValidateUnitsRequest (CFX) and the HTTP interlock answer alike for a passing, a failed, a scrapped and a
 *   drifted unit, with the reason.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerUnavailable, PLANT, startTestBroker, type TestBroker } from './helpers/rabbitmq.ts';
import { connectMes, type Mes, type ReceivedCfx } from './helpers/mes.ts';
import { runCli } from './helpers/cli.ts';
import { spawnLedger, type ServerProcess } from './helpers/server-process.ts';
import { checkAgainstSdkClasses, compareWithSdkExamples } from './cfx/sdk-compare.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { RecipeUnit, simulatedAppImage, simulatedElf, simulatedRecipeRelease, type TryOutcome } from '../src/sim/recipe-unit.ts';
import type { DsseEnvelope } from '../src/crypto/dsse.ts';
import type { UnitEvent, UnitEventType } from '../schemas/index.ts';

const unavailable = brokerUnavailable();
if (unavailable) console.log(`skipping the CFX end-to-end tests through flashtrail serve: ${unavailable}`);

const HANDLE = 'Plant1.L1.flashtrail';
const DEPLOY = fileURLToPath(new URL('../deploy/rabbitmq/', import.meta.url));
const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../schemas/cfx/cfx-envelope.schema.json', import.meta.url)), 'utf8')) as object;
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validateSchema = ajv.compile(schema);

// The documented sequences (README, "Connecting to the plant (IPC-CFX)") of the ESP32-S3 recipe.
const FIRST_PASS = [
  'WorkStarted', // scan
  'UnitsPersonalized', 'UnitsPersonalized', // read-mac, read-unique-id
  'UnitsProcessed', 'UnitsProcessed', // burn-flash-encryption, burn-secure-boot
  'UnitsTested', // read-back-efuses
  'UnitsProcessed', 'UnitsTested', // write-images, read-back-images
  'UnitsProcessed', 'UnitsTested', // write-nvs, boot-log
  'UnitsProcessed', // enable-secure-download (the lock)
  'UnitsTested', 'WorkCompleted', // confirm-security-info, the last step: Completed
];
const SEQUENCES = {
  pass: FIRST_PASS,
  rework: [
    ...FIRST_PASS.slice(0, 6),
    'FaultOccurred', 'FaultCleared', 'UnitsProcessed', // write-images: the tool fails once, then succeeds
    'UnitsTested', // read-back-images: the device reports another hash
    'WorkCompleted', // the rework ends the first attempt: Failed
    // Rescanned: the recipe again in a second transaction, but for the burns, which the first attempt did
    // and cannot be undone (the recipe walk skips them; src/domain/recipe.ts).
    ...FIRST_PASS.slice(0, 3),
    ...FIRST_PASS.slice(5),
  ],
  scrap: [...FIRST_PASS.slice(0, 6), 'UnitsProcessed', 'UnitsTested', 'UnitsDisqualified', 'WorkCompleted'],
} as const;

const shortName = (m: ReceivedCfx) => m.envelope.MessageName.split('.').at(-1) as string;
const serialOf = (m: ReceivedCfx) => String(m.properties.application_properties['flashtrail-provenance-url']).match(/\/units\/([^/]+)\/provenance$/)?.[1] as string;

/** First arrivals only (the MES drops a UniqueID it has seen), per unit, in arrival order. */
function perUnit(received: readonly ReceivedCfx[]): Map<string, ReceivedCfx[]> {
  const seen = new Set<string>();
  const units = new Map<string, ReceivedCfx[]>();
  for (const m of received) {
    if (seen.has(m.envelope.UniqueID)) continue;
    seen.add(m.envelope.UniqueID);
    units.set(serialOf(m), [...(units.get(serialOf(m)) ?? []), m]);
  }
  return units;
}

type Plan = 'pass' | 'rework' | 'scrap' | 'fail' | 'drift';

describe.skipIf(unavailable !== null)('IPC-CFX through flashtrail serve, on a real RabbitMQ', () => {
  let broker: TestBroker;
  let root: string;
  let dataDir: string;
  let ledger: ServerProcess;
  let mes: Mes;
  let tokens: { admin: string; station: string; auditor: string };
  const stationKey = newSigner();
  const release = simulatedRecipeRelease('R-S3-3', 'SENSOR-S3', '3.0.0');
  const previous = { sha256: simulatedAppImage('2.9.0'), elf: simulatedElf('2.9.0') };
  const station = new EventSigner(stationKey, 'ST-01');

  const env = () => ({
    FLASHTRAIL_LOG_LEVEL: 'info',
    FLASHTRAIL_CFX_BROKER_URL: `amqp://${PLANT.user}@127.0.0.1:${broker.port}`,
    FLASHTRAIL_CFX_PASSWORD_FILE: join(DEPLOY, 'flashtrail-password'),
    FLASHTRAIL_CFX_HANDLE: HANDLE,
    FLASHTRAIL_CFX_VHOST: PLANT.vhost,
    FLASHTRAIL_CFX_ADDRESS: `/exchange/${PLANT.exchange}`,
    FLASHTRAIL_CFX_VALIDATION_ADDRESS: `/amq/queue/${PLANT.requestQueue}`,
    FLASHTRAIL_CFX_MAX_IN_FLIGHT: '8',
  });
  const connect = () => connectMes({ port: broker.port, vhost: PLANT.vhost, user: PLANT.mesUser, password: PLANT.mesPassword, eventsQueue: PLANT.eventsQueue, requestQueue: PLANT.requestQueue, replyQueue: PLANT.replyQueue });
  const client = () => new LedgerClient(ledger.url, tokens.station);

  /** One unit walked through the recipe as `plan` says, its events signed by ST-01; the envelopes to append. */
  function unitEnvelopes(serial: string, plan: Plan): DsseEnvelope[] {
    const envelopes: DsseEnvelope[] = [];
    const sign = (type: UnitEventType, data: unknown): UnitEvent => {
      const signed = station.sign(type, data as never);
      envelopes.push(signed.envelope);
      return signed.event as UnitEvent;
    };
    const app = release.images.find((i) => i.name === 'app');
    const device = { appImage: plan === 'drift' ? previous : { sha256: app?.sha256 as string, elf: app?.elfSha256 as string }, defective: false };
    const u = new RecipeUnit(release, serial, { stationId: 'ST-01', operator: 'op-ana' }, device, sign);
    const walk = (outcomeOf: (step: string, tries: number) => TryOutcome, stopAt?: string) => {
      const tries = new Map<string, number>();
      for (let step = u.next(); step !== null; step = u.next()) {
        const n = (tries.get(step.id) ?? 0) + 1;
        tries.set(step.id, n);
        const r = u.try(outcomeOf(step.id, n));
        if (r.failure && step.id === stopAt) return;
        if (n > 3) throw new Error(`${serial}: ${step.id} did not pass`);
      }
    };
    u.scan('B-S3-1');
    const pass = () => ({ kind: 'pass' }) as const;
    if (plan === 'pass') walk(pass);
    if (plan === 'rework') {
      walk((step, n) => (step === 'write-images' && n === 1 ? { kind: 'tool_failure', errorCode: 'FLASH_WRITE_ERROR' } : step === 'read-back-images' ? { kind: 'garbled' } : { kind: 'pass' }), 'read-back-images');
      u.rework('read-back did not match; reseated the programming contacts');
      u.scan('B-S3-1');
      walk(pass);
    }
    if (plan === 'scrap' || plan === 'fail') walk((step) => (step === 'read-back-images' ? { kind: 'garbled' } : { kind: 'pass' }), 'read-back-images');
    if (plan === 'scrap') u.scrap('read-back never matched: flash chip suspected', 'read-back-images');
    // A drifted station writes the previous application: its read-back catches it, and the unit goes no further.
    if (plan === 'drift') walk(pass, 'read-back-images');
    return envelopes;
  }

  beforeAll(async () => {
    // The trial broker of docker-compose.yml (profile plant): its definitions file is the one the README shows.
    broker = await startTestBroker(JSON.parse(readFileSync(join(DEPLOY, 'definitions.json'), 'utf8')) as object);
    root = mkdtempSync(join(tmpdir(), 'flashtrail-cfx-serve-'));
    dataDir = join(root, 'data');
    const init = await runCli(['init', '--data', dataDir]);
    expect(init.code, init.stderr).toBe(0);
    tokens = {
      admin: readFileSync(join(dataDir, 'admin.token'), 'utf8').trim(),
      station: addToken(join(dataDir, 'tokens.json'), { name: 'st-01', role: 'station', stationId: 'ST-01' }),
      auditor: addToken(join(dataDir, 'tokens.json'), { name: 'mes', role: 'auditor' }),
    };
    ledger = await spawnLedger(dataDir, env());
    const admin = new EventSigner(readSecretKeyFile(join(dataDir, 'admin.key')), 'admin');
    await new LedgerClient(ledger.url, tokens.admin).append([
      ...lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }] }),
      admin.sign('ReleaseApproved', release as never).envelope,
      admin.sign('BatchOpened', { batchId: 'B-S3-1', releaseId: release.releaseId, line: 'L1', productSku: release.productSku, plannedQuantity: 100 }).envelope,
    ]);
    mes = await connect();
  }, 180_000);

  afterAll(async () => {
    await mes?.close();
    await ledger?.kill('SIGTERM');
    await broker?.destroy();
    if (root) rmSync(root, { recursive: true, force: true });
  }, 60_000);

  it('pass, fail → rework → pass, scrap: exactly the documented sequences, SDK-shaped, schema-valid, with the evidence', async () => {
    const units: [string, keyof typeof SEQUENCES][] = [['SN-PASS-1', 'pass'], ['SN-REWORK-1', 'rework'], ['SN-SCRAP-1', 'scrap']];
    for (const [serial, plan] of units) await client().append(unitEnvelopes(serial, plan));
    const expected = units.reduce((n, [, plan]) => n + SEQUENCES[plan].length, 0);
    await mes.waitFor((r) => new Set(r.map((m) => m.envelope.UniqueID)).size >= expected, 60_000);
    // Nothing more comes: a short wait for a message the documented sequence does not have.
    await new Promise((r) => setTimeout(r, 1000));
    const byUnit = perUnit(mes.received);
    for (const [serial, plan] of units) expect((byUnit.get(serial) ?? []).map(shortName), serial).toEqual(SEQUENCES[plan]);
    expect(new Set(mes.received.map((m) => m.envelope.UniqueID)).size).toBe(expected);
    for (const m of mes.received) {
      expect(validateSchema(JSON.parse(m.json)), `${m.envelope.MessageName}: ${ajv.errorsText(validateSchema.errors)}`).toBe(true);
      expect(checkAgainstSdkClasses(m.json), m.envelope.MessageName).toEqual([]);
      expect(compareWithSdkExamples(m.json).problems, m.envelope.MessageName).toEqual([]);
      expect(m.properties).toMatchObject({
        message_id: m.envelope.UniqueID,
        subject: `${HANDLE}.ST-01.${m.envelope.MessageName}`,
        content_type: 'application/json; charset="utf-8"',
        content_encoding: 'gzip',
        durable: true,
        bodyTypecode: 0x75,
        application_properties: { 'cfx-message': m.envelope.MessageName, 'cfx-handle': `${HANDLE}.ST-01` },
      });
    }
    // The rework: two transactions, the first Failed, the fault raised and cleared within it.
    const rework = byUnit.get('SN-REWORK-1') as ReceivedCfx[];
    const completed = rework.filter((m) => shortName(m) === 'WorkCompleted').map((m) => (m.envelope.MessageBody as { Result: string }).Result);
    expect(completed).toEqual(['Failed', 'Completed']);
    const failedTest = rework[9]?.envelope.MessageBody as { TestedUnits: { OverallResult: string; Tests: { TestName: string; Measurements: { MeasurementName: string; Value: string; ExpectedValue: string; Result: string }[] }[] }[] };
    expect(failedTest.TestedUnits[0]).toMatchObject({ OverallResult: 'Failed', Tests: [{ TestName: 'read-back-images' }] });
    const appMeasurement = failedTest.TestedUnits[0]?.Tests[0]?.Measurements.find((x) => x.MeasurementName === 'app SHA-256');
    expect(appMeasurement).toMatchObject({ Result: 'Failed', ExpectedValue: release.images.find((i) => i.name === 'app')?.sha256 });
    expect(appMeasurement?.Value).not.toBe(appMeasurement?.ExpectedValue);
    // The scrap: the CFX reason, before the burn of the lock (repair not feasible, not impossible).
    expect((byUnit.get('SN-SCRAP-1') as ReceivedCfx[]).at(-2)?.envelope.MessageBody).toMatchObject({ Reason: 'DefectiveRepairNotFeasible', Units: [{ UnitIdentifier: 'SN-SCRAP-1', Status: 'Scrap' }] });
    // The evidence is the ledger's: each message names an event of the unit's signed history, by digest and position.
    const history = (await (await fetch(`${ledger.url}/v1/units/SN-PASS-1/events`, { headers: { authorization: `Bearer ${tokens.auditor}` } })).json()) as { events: { digest: string; position: number }[] };
    for (const m of byUnit.get('SN-PASS-1') as ReceivedCfx[]) {
      const p = m.properties.application_properties;
      expect(history.events).toContainEqual(expect.objectContaining({ digest: p['flashtrail-envelope-sha256'], position: Number(p['flashtrail-log-position']) }));
      expect(p['flashtrail-provenance-url']).toBe(`${ledger.url}/v1/units/SN-PASS-1/provenance`);
    }
  }, 120_000);

  it('a broker outage and a ledger restart lose nothing: every message afterwards, in order per unit, same UniqueIDs; appends never refused nor slowed', async () => {
    // What the first MES connection consumes up to the outage (the array it keeps filling), then the second's.
    const first = mes;
    const timeAppends = async (serials: string[]) => {
      const times: number[] = [];
      for (const serial of serials) {
        const envelopes = unitEnvelopes(serial, 'pass');
        const t0 = performance.now();
        // One event a request, as a station sends them: the latency the station would see.
        for (const e of envelopes) await client().append([e]);
        times.push((performance.now() - t0) / envelopes.length);
      }
      return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
    };
    const up = await timeAppends(['SN-UP-1', 'SN-UP-2', 'SN-UP-3']);
    await mes.close();
    await broker.stop();
    const down = await timeAppends(['SN-DOWN-1', 'SN-DOWN-2', 'SN-DOWN-3']);
    // The ledger restarted while the broker is down: the publisher resumes from its cursor in the data directory.
    expect(await ledger.kill('SIGTERM')).toBe(0);
    ledger = await spawnLedger(dataDir, env());
    await client().append(unitEnvelopes('SN-RESTART-1', 'pass'));
    await broker.start();
    mes = await connect();
    const serials = ['SN-UP-1', 'SN-UP-2', 'SN-UP-3', 'SN-DOWN-1', 'SN-DOWN-2', 'SN-DOWN-3', 'SN-RESTART-1'];
    const all = () => [...first.received, ...mes.received];
    // The ledger's reconnect backoff doubles to 30 s: allow for it.
    await mes.waitFor(() => serials.every((s) => (perUnit(all()).get(s) ?? []).length >= FIRST_PASS.length), 90_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${ledger.output().split('\n').filter((l) => /CFX/.test(l)).slice(-10).join('\n')}`);
    });
    const byUnit = perUnit(all());
    for (const s of serials) expect((byUnit.get(s) ?? []).map(shortName), s).toEqual(FIRST_PASS);
    // Stable UniqueIDs: a message delivered twice carries the same id and the same bytes.
    const byId = new Map<string, string>();
    for (const m of all()) {
      const seen = byId.get(m.envelope.UniqueID);
      if (seen !== undefined) expect(m.json).toBe(seen);
      byId.set(m.envelope.UniqueID, m.json);
    }
    expect(down, `median append ${down.toFixed(1)} ms with the broker down, ${up.toFixed(1)} ms with it up`).toBeLessThan(up * 1.5 + 5);
    expect(ledger.output()).toMatch(/CFX broker unavailable/);
  }, 240_000);

  it('the interlock, over CFX and over HTTP: a passing, a failed, a scrapped and a drifted unit, with the reason', async () => {
    await client().append(unitEnvelopes('SN-FAIL-1', 'fail'));
    await client().append(unitEnvelopes('SN-DRIFT-1', 'drift'));
    const cases: [string, string, number, RegExp][] = [
      ['SN-PASS-1', 'Passed', 0, /^OK$/],
      ['SN-REWORK-1', 'Passed', 0, /^OK$/],
      ['SN-FAIL-1', 'Failed', 3, /^NOT_VERIFIED: image bootloader failed its verification at step read-back-images \(readback_sha256\): the device reported [0-9a-f]{12}…/],
      ['SN-SCRAP-1', 'Failed', 2, /^UNIT_SCRAPPED: unit SN-SCRAP-1 was scrapped: read-back never matched/],
      ['SN-DRIFT-1', 'Failed', 5, /^DRIFTED: application is [0-9a-f]{12}…, the approved release says [0-9a-f]{12}… \(station ST-01/],
      ['SN-NEVER-SEEN', 'Failed', 1, /^UNIT_UNKNOWN: /],
    ];
    for (const [serial, result, code, message] of cases) {
      const a = await mes.validate([serial]);
      expect(checkAgainstSdkClasses(a.json)).toEqual([]);
      expect(a.envelope).toMatchObject({ MessageName: 'CFX.InformationSystem.UnitValidation.ValidateUnitsResponse', Source: HANDLE, Target: 'Plant1.MES' });
      const primary = (a.envelope.MessageBody as { PrimaryResult: { UniqueIdentifier: string; Result: string; FailureCode: number; Message: string } }).PrimaryResult;
      expect(primary, serial).toMatchObject({ UniqueIdentifier: serial, Result: result, FailureCode: code });
      expect(primary.Message, serial).toMatch(message);

      // The same verdict over HTTP, for a MES without CFX.
      const http = await fetch(`${ledger.url}/v1/units/${serial}/readiness`, { headers: { authorization: `Bearer ${tokens.auditor}` } });
      expect(http.status).toBe(200);
      expect(http.headers.get('cache-control')).toBe('no-store');
      const verdict = (await http.json()) as { serial: string; ready: boolean; failureCode: number; reasons: { code: string; message: string }[] };
      expect(verdict).toMatchObject({ serial, ready: result === 'Passed', failureCode: code });
      if (result === 'Failed') expect(`${verdict.reasons[0]?.code}: ${verdict.reasons[0]?.message}`).toMatch(message);
    }
    // A drifted unit carries every reason: the drift, and the verification it failed because of it.
    const drift = (await (await fetch(`${ledger.url}/v1/units/SN-DRIFT-1/readiness`, { headers: { authorization: `Bearer ${tokens.station}` } })).json()) as { reasons: { code: string }[] };
    expect(drift.reasons.map((r) => r.code)).toEqual(['DRIFTED', 'NOT_VERIFIED', 'HISTORY_INCOMPLETE', 'NOT_LOCKED']);

    const post = (body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
      fetch(`${ledger.url}/v1/interlock/validate`, { method: 'POST', headers: { authorization: `Bearer ${tokens.auditor}`, ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const carrier = await post({ units: ['SN-PASS-1', 'SN-SCRAP-1'] });
    expect(carrier.status).toBe(200);
    expect(await carrier.json()).toMatchObject({ ready: false, units: [{ serial: 'SN-PASS-1', ready: true, failureCode: 0, reasons: [] }, { serial: 'SN-SCRAP-1', ready: false, failureCode: 2 }] });
    // Malformed requests are problem documents with stable codes; no token, no answer.
    const problems: [Response, number, string][] = [
      [await post({ units: [] }), 400, 'SCHEMA_INVALID'],
      [await post({ units: Array.from({ length: 1001 }, (_, i) => `SN-${i}`) }), 400, 'SCHEMA_INVALID'],
      [await post('{not json'), 400, 'BODY_INVALID'],
      [await post({ units: ['SN-PASS-1'] }, { 'content-type': 'text/plain' }), 415, 'UNSUPPORTED_MEDIA_TYPE'],
      [await fetch(`${ledger.url}/v1/units/${encodeURIComponent('bad serial!')}/readiness`, { headers: { authorization: `Bearer ${tokens.auditor}` } }), 400, 'SCHEMA_INVALID'],
      [await fetch(`${ledger.url}/v1/units/SN-PASS-1/readiness`), 401, 'UNAUTHORIZED'],
    ];
    for (const [response, status, code] of problems) {
      expect(response.status).toBe(status);
      expect(response.headers.get('content-type')).toMatch(/^application\/problem\+json/);
      expect(((await response.json()) as { code: string }).code).toBe(code);
    }
  }, 120_000);
});
