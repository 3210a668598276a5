/**
 * The ledger on a real plant broker: a real RabbitMQ (3.10, AMQP 1.0 plugin) in a throwaway configuration, a
 * real ledger on loopback with a real SQLite file, simulated stations appending signed events over HTTP, and a
 * MES stand-in with its own AMQP connection on a queue bound to the CFX exchange.
 *
 * - One unit passes, one fails, is reworked and passes, one is scrapped: the MES receives exactly the documented
 *   message sequence for each, every body valid against schemas/cfx (Ajv) and shaped like the SDK's classes
 *   and documentation examples, with the SDK's AMQP properties.
 * - The broker is stopped mid-run and started again: every message arrives afterwards, in order per unit, with
 *   the UniqueIDs it had, and appends were not slowed while it was down. A publisher restart resumes from its
 *   cursor and loses nothing.
 * - ValidateUnitsRequest for a passing, a failed, a scrapped and a drifted unit gets the right answer and reason.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { brokerUnavailable, PLANT, startTestBroker, type TestBroker } from './helpers/rabbitmq.ts';
import { connectMes, type Mes, type ReceivedCfx } from './helpers/mes.ts';
import { startTestLedger, type TestLedger } from './helpers/ledger-fixture.ts';
import { SimulatedStation, type UnitScenario } from '../src/sim/simulated-station.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { BrokerConnection } from '../src/plant/broker.ts';
import { CfxPublisher, type PublisherOptions } from '../src/plant/publisher.ts';
import { CfxInterlock } from '../src/plant/interlock.ts';
import { readinessFromReadModel } from '../src/plant/readiness.ts';
import { cfxConfigFromEnv, type CfxConfig } from '../src/plant/config.ts';
import { checkAgainstSdkClasses, compareWithSdkExamples } from './cfx/sdk-compare.ts';

const unavailable = brokerUnavailable();
if (unavailable) console.log(`skipping the CFX broker tests: ${unavailable}`);

const HANDLE = 'Plant1.L1.flashtrail';
const schema = JSON.parse(readFileSync(fileURLToPath(new URL('../schemas/cfx/cfx-envelope.schema.json', import.meta.url)), 'utf8')) as object;
const ajv = new Ajv2020({ strict: false, allErrors: true });
const validateSchema = ajv.compile(schema);

/** The documented sequence per scenario (README, "Connecting to the plant"). */
const SEQUENCES: Record<string, string[]> = {
  pass: ['WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'UnitsTested', 'UnitsProcessed', 'UnitsProcessed', 'WorkCompleted'],
  'app-mismatch-then-rework': [
    'WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'UnitsTested', 'WorkCompleted',
    'WorkStarted', 'UnitsProcessed', 'UnitsTested', 'UnitsProcessed', 'UnitsProcessed', 'WorkCompleted',
  ],
  'scrap-after-mismatch': ['WorkStarted', 'UnitsPersonalized', 'UnitsProcessed', 'UnitsTested', 'UnitsDisqualified', 'WorkCompleted'],
};

const shortName = (m: ReceivedCfx) => m.envelope.MessageName.split('.').at(-1) as string;
const serialOf = (m: ReceivedCfx) => {
  const b = m.envelope.MessageBody as { PrimaryIdentifier?: string; PersonalizedUnits?: { UnitIdentifier: string }[]; TestedUnits?: { UnitIdentifier: string }[] };
  return String(m.properties.application_properties['flashtrail-provenance-url']).match(/\/units\/([^/]+)\/provenance$/)?.[1] ?? b.PrimaryIdentifier;
};
/** First arrivals only (the MES drops a UniqueID it has seen), per unit, in arrival order. */
function perUnit(received: readonly ReceivedCfx[]): Map<string, ReceivedCfx[]> {
  const seen = new Set<string>();
  const units = new Map<string, ReceivedCfx[]>();
  for (const m of received) {
    if (seen.has(m.envelope.UniqueID)) continue;
    seen.add(m.envelope.UniqueID);
    const serial = serialOf(m) as string;
    units.set(serial, [...(units.get(serial) ?? []), m]);
  }
  return units;
}

describe.skipIf(unavailable !== null)('IPC-CFX on a real RabbitMQ', () => {
  let broker: TestBroker;
  let ledger: TestLedger;
  let mes: Mes;
  let connection: BrokerConnection;
  let publisher: CfxPublisher;
  let interlock: CfxInterlock;
  let config: CfxConfig;
  let cursorDir: string;
  let st1: SimulatedStation;
  let st2: SimulatedStation;

  const newPublisher = (extra: Partial<PublisherOptions> = {}) =>
    new CfxPublisher({
      store: ledger.running.store,
      broker: connection,
      file: join(cursorDir, 'cfx-publisher.sqlite'),
      address: config.publishAddress,
      mapping: { handle: config.handle, provenanceUrl: (s) => `${ledger.url}/v1/units/${encodeURIComponent(s)}/provenance` },
      maxInFlight: config.maxInFlight,
      start: config.start,
      retryAfterMs: 200,
      ...extra,
    });

  beforeAll(async () => {
    broker = await startTestBroker();
    ledger = await startTestLedger();
    cursorDir = mkdtempSync(join(tmpdir(), 'flashtrail-cfx-'));
    config = cfxConfigFromEnv(
      {
        FLASHTRAIL_CFX_BROKER_URL: `amqp://${PLANT.user}:${PLANT.password}@127.0.0.1:${broker.port}`,
        FLASHTRAIL_CFX_HANDLE: HANDLE,
        FLASHTRAIL_CFX_VHOST: PLANT.vhost,
        FLASHTRAIL_CFX_ADDRESS: `/exchange/${PLANT.exchange}`,
        FLASHTRAIL_CFX_VALIDATION_ADDRESS: `/amq/queue/${PLANT.requestQueue}`,
        FLASHTRAIL_CFX_MAX_IN_FLIGHT: '8',
      },
      () => '',
    ) as CfxConfig;
    connection = new BrokerConnection(config.broker, { containerId: HANDLE, minBackoffMs: 100, maxBackoffMs: 500 });
    publisher = newPublisher();
    interlock = new CfxInterlock({ broker: connection, address: config.validationAddress as string, handle: HANDLE, readiness: readinessFromReadModel(ledger.running.projections) });
    await publisher.start();
    interlock.start();
    connection.start();
    mes = await connectMes({ port: broker.port, vhost: PLANT.vhost, user: PLANT.mesUser, password: PLANT.mesPassword, eventsQueue: PLANT.eventsQueue, requestQueue: PLANT.requestQueue, replyQueue: PLANT.replyQueue });
    const station = (id: 'ST-01' | 'ST-02', token: string) =>
      new SimulatedStation(new LedgerClient(ledger.url, token), new EventSigner(ledger.stationKeys[id], id), { stationId: id, operator: 'op-7', batchId: ledger.batchId, hardwareRevision: 'rev-C' }, ledger.release);
    st1 = station('ST-01', ledger.tokens.station1);
    st2 = station('ST-02', ledger.tokens.station2);
  }, 180_000);

  afterAll(async () => {
    await mes?.close();
    await interlock?.stop();
    await publisher?.stop();
    await connection?.stop();
    await ledger?.stop();
    await broker?.destroy();
    if (cursorDir) rmSync(cursorDir, { recursive: true, force: true });
  }, 60_000);

  const flash = async (units: [string, UnitScenario][]) => {
    for (const [serial, scenario] of units) await (serial.endsWith('2') ? st2 : st1).flash(serial, scenario === 'pass' ? 'pass-unshipped' : scenario);
  };

  it('pass, fail → rework → pass, scrap: the MES receives exactly the documented sequences, SDK-shaped and schema-valid', async () => {
    const units: [string, UnitScenario][] = [['SN-PASS-1', 'pass'], ['SN-REWORK-2', 'app-mismatch-then-rework'], ['SN-SCRAP-1', 'scrap-after-mismatch']];
    await flash(units);
    const expected = units.reduce((n, [, s]) => n + (SEQUENCES[s] as string[]).length, 0);
    await mes.waitFor((r) => new Set(r.map((m) => m.envelope.UniqueID)).size >= expected);
    const byUnit = perUnit(mes.received);
    for (const [serial, scenario] of units) expect((byUnit.get(serial) ?? []).map(shortName), serial).toEqual(SEQUENCES[scenario]);
    for (const m of mes.received) {
      expect(validateSchema(JSON.parse(m.json)), `${m.envelope.MessageName}: ${ajv.errorsText(validateSchema.errors)}`).toBe(true);
      expect(checkAgainstSdkClasses(m.json), m.envelope.MessageName).toEqual([]);
      expect(compareWithSdkExamples(m.json).problems, m.envelope.MessageName).toEqual([]);
      const station = serialOf(m)?.endsWith('2') ? 'ST-02' : 'ST-01';
      expect(m.properties).toMatchObject({
        message_id: m.envelope.UniqueID,
        subject: `${HANDLE}.${station}.${m.envelope.MessageName}`,
        content_type: 'application/json; charset="utf-8"',
        content_encoding: 'gzip',
        reply_to: `${HANDLE}.${station}`,
        durable: true,
        bodyTypecode: 0x75, // a Data section, not an AMQP value
        application_properties: {
          'cfx-topic': m.envelope.MessageName.slice(0, m.envelope.MessageName.lastIndexOf('.')),
          'cfx-message': m.envelope.MessageName,
          'cfx-handle': `${HANDLE}.${station}`,
          'cfx-target': null,
          'flashtrail-log-position': expect.stringMatching(/^\d+$/),
          'flashtrail-envelope-sha256': expect.stringMatching(/^[0-9a-f]{64}$/),
        },
      });
    }
    // The evidence is the ledger's: the named event is in the unit's signed history with that digest and position.
    const pass = byUnit.get('SN-PASS-1') as ReceivedCfx[];
    const history = (await (await fetch(`${ledger.url}/v1/units/SN-PASS-1/events`, { headers: { authorization: `Bearer ${ledger.tokens.auditor}` } })).json()) as { events: { digest: string; position: string }[] };
    for (const m of pass) {
      const p = m.properties.application_properties;
      expect(history.events).toContainEqual(expect.objectContaining({ digest: p['flashtrail-envelope-sha256'], position: Number(p['flashtrail-log-position']) }));
    }
    const stats = await publisher.stats();
    expect(stats).toMatchObject({ connected: true, lag: 0n, inFlight: 0, deliveryFailures: 0 });
    expect(stats.published).toBeGreaterThanOrEqual(expected);
  }, 120_000);

  it('a broker outage loses nothing: every message arrives after the restart, in order per unit, same UniqueIDs; appends are not slowed', async () => {
    const earlier = mes.received;
    const before = earlier.length;
    const timeAppends = async (serials: string[]) => {
      const times: number[] = [];
      for (const serial of serials) {
        const t0 = performance.now();
        await st1.flash(serial, 'pass-unshipped');
        times.push((performance.now() - t0) / 6);
      }
      return times.sort((a, b) => a - b)[Math.floor(times.length / 2)] as number;
    };
    const up = await timeAppends(['SN-UP-1', 'SN-UP-3', 'SN-UP-5', 'SN-UP-7']);
    await broker.stop();
    await mes.close();
    // The publisher notices and waits for the broker; the ledger goes on.
    for (let i = 0; i < 50 && (await publisher.stats()).connected; i++) await new Promise((r) => setTimeout(r, 100));
    expect((await publisher.stats()).connected).toBe(false);
    const down = await timeAppends(['SN-DOWN-1', 'SN-DOWN-3', 'SN-DOWN-5', 'SN-DOWN-7']);
    const whileDown = await publisher.stats();
    expect(whileDown.lag).toBeGreaterThan(0n);
    await broker.start();
    mes = await connectMes({ port: broker.port, vhost: PLANT.vhost, user: PLANT.mesUser, password: PLANT.mesPassword, eventsQueue: PLANT.eventsQueue, requestQueue: PLANT.requestQueue, replyQueue: PLANT.replyQueue });
    const serials = ['SN-UP-1', 'SN-UP-3', 'SN-UP-5', 'SN-UP-7', 'SN-DOWN-1', 'SN-DOWN-3', 'SN-DOWN-5', 'SN-DOWN-7'];
    // What the first MES connection consumed before the outage, then what the second one gets.
    const all = () => [...earlier, ...mes.received];
    await mes.waitFor(() => serials.every((s) => (perUnit(all()).get(s) ?? []).length >= (SEQUENCES['pass'] as string[]).length), 60_000).catch(async (e: Error) => {
      throw new Error(`${e.message}; publisher ${JSON.stringify(await publisher.stats(), (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    });
    for (let i = 0; i < 100 && (await publisher.stats()).lag > 0n; i++) await new Promise((r) => setTimeout(r, 100));
    const byUnit = perUnit(all());
    for (const s of serials) expect((byUnit.get(s) ?? []).map(shortName), s).toEqual(SEQUENCES['pass']);
    // Stable UniqueIDs: a message delivered twice (once before the outage, once after) carries the same id and
    // bytes; and no two different messages share an id.
    const byId = new Map<string, string>();
    for (const m of all()) {
      const seen = byId.get(m.envelope.UniqueID);
      if (seen) expect(m.json).toBe(seen);
      byId.set(m.envelope.UniqueID, m.json);
    }
    expect((await publisher.stats()).lag).toBe(0n);
    // Appends do not wait for the broker: median append latency with it down is not above the one with it up
    // beyond noise (loopback HTTP, one event per request).
    expect(down, `median append ${down.toFixed(1)} ms with the broker down, ${up.toFixed(1)} ms up`).toBeLessThan(up * 1.5 + 5);
    expect(before).toBeGreaterThan(0);
  }, 180_000);

  it('a publisher restart resumes from its cursor: nothing lost, nothing new invented', async () => {
    await publisher.stop();
    await st1.flash('SN-RESTART-1', 'pass-unshipped');
    publisher = newPublisher();
    await publisher.start();
    await mes.waitFor((r) => (perUnit(r).get('SN-RESTART-1') ?? []).length >= (SEQUENCES['pass'] as string[]).length);
    expect((perUnit(mes.received).get('SN-RESTART-1') ?? []).map(shortName)).toEqual(SEQUENCES['pass']);
  }, 60_000);

  it('an instance that is not the elected log writer sends nothing and keeps its cursor; once elected it publishes, with the same UniqueIDs', async () => {
    let elected = false;
    const standby = newPublisher({ file: join(cursorDir, 'standby-publisher.sqlite'), active: () => elected });
    await standby.start();
    try {
      await st1.flash('SN-STANDBY-1', 'pass-unshipped');
      await mes.waitFor((r) => (perUnit(r).get('SN-STANDBY-1') ?? []).length >= (SEQUENCES['pass'] as string[]).length);
      await new Promise((r) => setTimeout(r, 1500));
      const count = mes.received.length;
      const idle = await standby.stats();
      expect(idle).toMatchObject({ active: false, published: 0, inFlight: 0 });
      expect(idle.lag).toBeGreaterThan(0n);
      elected = true;
      // From its own cursor (the beginning): what the MES has, again, byte for byte under the same UniqueIDs.
      for (let i = 0; i < 200 && (await standby.stats()).lag > 0n; i++) await new Promise((r) => setTimeout(r, 100));
      expect((await standby.stats()).lag).toBe(0n);
      const republished = (r: readonly ReceivedCfx[]) => r.slice(count).filter((m) => serialOf(m) === 'SN-STANDBY-1').length >= (SEQUENCES['pass'] as string[]).length;
      await mes.waitFor(republished, 30_000);
      const first = new Map(mes.received.slice(0, count).map((m) => [m.envelope.UniqueID, m.json]));
      const again = mes.received.slice(count).filter((m) => serialOf(m) === 'SN-STANDBY-1');
      expect(again.map(shortName)).toEqual(SEQUENCES['pass']);
      for (const m of again) expect(m.json).toBe(first.get(m.envelope.UniqueID));
    } finally {
      await standby.stop();
    }
  }, 90_000);

  it('ValidateUnitsRequest: a passing, a failed, a scrapped and a drifted unit get the right answer and reason', async () => {
    // A failed unit: its application verification failed and it has not been reworked.
    const signer = new EventSigner(ledger.stationKeys['ST-01'], 'ST-01');
    const client = new LedgerClient(ledger.url, ledger.tokens.station1);
    const r = ledger.release;
    const step = (type: Parameters<EventSigner['sign']>[0], data: object) => client.append([signer.sign(type, data as never).envelope]);
    await step('UnitScanned', { serial: 'SN-FAIL-1', batchId: ledger.batchId, station: 'ST-01', operator: 'op-7', productSku: r.productSku, hardwareRevision: 'rev-C' });
    await step('BootloaderWritten', { serial: 'SN-FAIL-1', imageSha256: r.bootloader.sha256, version: r.bootloader.version, sizeBytes: r.bootloader.sizeBytes, signingKeyRef: 'k', signingKeyDigest: r.signingKeyDigest });
    await step('AppVerified', { serial: 'SN-FAIL-1', imageSha256: r.application.sha256, version: r.application.version, sizeBytes: r.application.sizeBytes, reportedSha256: 'e'.repeat(64), method: 'device_report', result: 'fail' });
    // A drifted unit: a station flashing another application image, verified and locked all the same.
    const other = 'd'.repeat(64);
    await step('UnitScanned', { serial: 'SN-DRIFT-1', batchId: ledger.batchId, station: 'ST-01', operator: 'op-7', productSku: r.productSku, hardwareRevision: 'rev-C' });
    await step('BootloaderWritten', { serial: 'SN-DRIFT-1', imageSha256: r.bootloader.sha256, version: r.bootloader.version, sizeBytes: r.bootloader.sizeBytes, signingKeyRef: 'k', signingKeyDigest: r.signingKeyDigest });
    await step('AppVerified', { serial: 'SN-DRIFT-1', imageSha256: other, version: '2.4.0', sizeBytes: 1000, reportedSha256: other, method: 'device_report', result: 'pass' });
    await step('ProvisioningApplied', { serial: 'SN-DRIFT-1', templateId: r.provisioningTemplate.id, templateSha256: r.provisioningTemplate.sha256, configSha256: 'c'.repeat(64) });
    await step('EfuseBurned', { serial: 'SN-DRIFT-1', profile: r.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [r.signingKeyDigest], secureBoot: true, flashEncryption: true });

    const answer = async (serial: string) => {
      const a = await mes.validate([serial]);
      expect(checkAgainstSdkClasses(a.json)).toEqual([]);
      expect(compareWithSdkExamples(a.json).problems).toEqual([]);
      expect(a.envelope).toMatchObject({ MessageName: 'CFX.InformationSystem.UnitValidation.ValidateUnitsResponse', Source: HANDLE, Target: 'Plant1.MES' });
      expect(a.properties.correlation_id).toBe(a.envelope.RequestID);
      return a.envelope.MessageBody as { Result: { Result: string }; PrimaryResult: { UniqueIdentifier: string; Result: string; FailureCode: number; Message: string } };
    };
    expect(await answer('SN-PASS-1')).toMatchObject({ Result: { Result: 'Success' }, PrimaryResult: { UniqueIdentifier: 'SN-PASS-1', Result: 'Passed', FailureCode: 0, Message: 'OK' } });
    const reworked = await answer('SN-REWORK-2');
    expect(reworked.PrimaryResult, reworked.PrimaryResult.Message).toMatchObject({ Result: 'Passed' });
    expect((await answer('SN-FAIL-1')).PrimaryResult).toMatchObject({ Result: 'Failed', FailureCode: 3, Message: expect.stringMatching(/^NOT_VERIFIED: application verification failed/) });
    expect((await answer('SN-SCRAP-1')).PrimaryResult).toMatchObject({ Result: 'Failed', FailureCode: 2, Message: expect.stringMatching(/^UNIT_SCRAPPED: /) });
    expect((await answer('SN-DRIFT-1')).PrimaryResult).toMatchObject({ Result: 'Failed', FailureCode: 5, Message: expect.stringMatching(/^DRIFTED: application is dddddddddddd…, the approved release says/) });
    expect((await answer('SN-NEVER-SEEN')).PrimaryResult).toMatchObject({ Result: 'Failed', FailureCode: 1 });
    // A carrier of two units: one result per unit, the primary failed with the failing unit's reason.
    const carrier = await mes.validate(['SN-PASS-1', 'SN-SCRAP-1'], { primary: 'CARRIER-7' });
    expect(carrier.envelope.MessageBody).toMatchObject({
      PrimaryResult: { UniqueIdentifier: 'CARRIER-7', Result: 'Failed', FailureCode: 2 },
      ValidationResults: [{ UniqueIdentifier: 'SN-PASS-1', PositionNumber: 1, Result: 'Passed' }, { UniqueIdentifier: 'SN-SCRAP-1', PositionNumber: 2, Result: 'Failed', FailureCode: 2 }],
    });
    // A request the ledger does not implement gets the SDK's NotSupportedResponse; an unreadable one a Failed answer.
    expect((await mes.validate(['SN-PASS-1'], { messageName: 'CFX.Production.GetUnitInfoRequest' })).envelope.MessageName).toBe('CFX.NotSupportedResponse');
    const garbage = await mes.validate(['x'], { raw: gzipSync(Buffer.from('not json')) });
    expect(garbage.envelope.MessageBody).toMatchObject({ Result: { Result: 'Failed', Message: 'the message body is not JSON' } });
    expect(interlock.stats()).toMatchObject({ rejected: 0 });
  }, 120_000);
});
