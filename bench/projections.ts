/**
 * Projection rebuild throughput over a store of 1M events (--quick: 100k), next to the same run's reference
 * of reading and decoding those events without projecting them; then the CRA affected-units query latency
 * through the HTTP API at that size.
 *
 *   npm run bench:projections            (a few minutes)
 *   npm run bench:projections -- --quick
 */
import { createPrivateKey, sign as nodeSign } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { SqliteEventStore } from '../src/store/sqlite-event-store.ts';
import { ProjectionRunner } from '../src/projections/runner.ts';
import { unitStateProjection } from '../projections/unit-state.ts';
import { productionProjection } from '../projections/production.ts';
import { configFromEnv, initDataDir, startLedgerServer } from '../src/main.ts';
import { newSigner } from '../src/keys/key-file.ts';
import { canonicalBytes } from '../src/crypto/jcs.ts';
import { envelopeBytes, pae } from '../src/crypto/dsse.ts';
import { toBase64 } from '../src/crypto/encoding.ts';
import { EVENT_PAYLOAD_TYPE, SCHEMA_VERSIONS, type EventType } from '../schemas/index.ts';
import { decodeStored } from '../src/ledger/codec.ts';
import { seededRandom, seededUuid } from '../src/sim/random.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { releaseApprovedData } from '../src/sim/line-setup.ts';

const quick = process.argv.includes('--quick');
const TARGET = quick ? 100_000 : 1_000_000;
const rows: [string, string, string][] = [];
const report = (what: string, value: string, unit: string) => {
  rows.push([what, value, unit]);
  console.error(`  ${what}: ${value} ${unit}`);
};
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

async function main() {
  const dir = mkdtempSync(join(tmpdir(), 'flashtrail-bench-proj-'));
  console.error(`flashtrail projection benchmark (${quick ? 'quick' : 'full'}), node ${process.version}`);
  try {
    const config = configFromEnv({}, { dataDir: dir, port: 0 });
    const init = initDataDir(config);
    const store = new SqliteEventStore(join(dir, 'events.sqlite'));
    // Events are signed with node's Ed25519 to build a million of them in reasonable time; projections
    // never look at signatures, and the envelopes are byte-for-byte what a station sends.
    const station = newSigner();
    const pkcs8 = createPrivateKey({ key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(station.secretKey)]), format: 'der', type: 'pkcs8' });
    const random = seededRandom(42);
    const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
    const previous = createHash('sha256').update('application 2.4.0').digest('hex');
    let time = Date.parse('2026-01-05T06:00:00.000Z');
    const heads = new Map<string, string | null>();
    const make = (type: EventType, data: Record<string, unknown>, kind: 'station' | 'admin', stream: string) => {
      time += 1000;
      const event = { id: seededUuid(random), type, schemaVersion: SCHEMA_VERSIONS[type], occurredAt: new Date(time).toISOString(), source: { kind, id: kind === 'station' ? 'ST-01' : 'admin' }, prev: heads.get(stream) ?? null, data };
      const body = canonicalBytes(event);
      const sig = nodeSign(null, pae(EVENT_PAYLOAD_TYPE, body), pkcs8);
      const envelope = { payloadType: EVENT_PAYLOAD_TYPE, payload: toBase64(body), signatures: [{ keyid: station.keyId, sig: toBase64(sig) }] };
      const bytes = envelopeBytes(envelope);
      heads.set(stream, createHash('sha256').update(bytes).digest('hex'));
      return { id: event.id, type, data: bytes };
    };
    await store.appendToStreams([
      { stream: 'station-ST-01', events: [make('StationRegistered', { stationId: 'ST-01', line: 'L1', site: 'bench' }, 'admin', 'station-ST-01')] },
      { stream: 'release-R-1', events: [make('ReleaseApproved', releaseApprovedData(release), 'admin', 'release-R-1')] },
      { stream: 'batch-B-1', events: [make('BatchOpened', { batchId: 'B-1', releaseId: 'R-1', line: 'L1', productSku: 'SENSOR-S3', plannedQuantity: 10_000_000 }, 'admin', 'batch-B-1')] },
    ]);
    console.error(`  writing ${fmt(TARGET)} events…`);
    let written = 3;
    let units = 0;
    let drifted = 0;
    while (written < TARGET) {
      const requests = [];
      for (let k = 0; k < 200 && written < TARGET; k++) {
        const serial = `SN${String(++units).padStart(8, '0')}`;
        const stream = `unit-${serial}`;
        const image = units % 50 === 0 ? previous : release.application.sha256;
        if (image === previous) drifted++;
        const events = [
          make('UnitScanned', { serial, batchId: 'B-1', station: 'ST-01', operator: 'op', productSku: 'SENSOR-S3', hardwareRevision: 'rev-C' }, 'station', stream),
          make('BootloaderWritten', { serial, imageSha256: release.bootloader.sha256, version: 'bl', sizeBytes: 1, signingKeyRef: 'k', signingKeyDigest: release.signingKeyDigest }, 'station', stream),
          make('AppVerified', { serial, imageSha256: image, version: '2.4.1', sizeBytes: 1, reportedSha256: image, method: 'device_report', result: 'pass' }, 'station', stream),
          make('ProvisioningApplied', { serial, templateId: 't', templateSha256: release.provisioningTemplate.sha256, configSha256: release.signingKeyDigest }, 'station', stream),
          make('EfuseBurned', { serial, profile: release.efuseProfile, fuses: [{ name: 'SECURE_BOOT_EN', value: '1' }], keyDigests: [release.signingKeyDigest], secureBoot: true, flashEncryption: true }, 'station', stream),
          make('UnitShipped', { serial, customer: 'ACME', orderRef: 'PO-1' }, 'station', stream),
        ];
        written += events.length;
        requests.push({ stream, events, expected: 'no_stream' as const });
      }
      await store.appendToStreams(requests);
    }
    console.error(`  ${fmt(written)} events, ${fmt(units)} units, ${fmt(drifted)} carrying the previous image`);

    let t = performance.now();
    let after = -1n;
    let decoded = 0;
    for (;;) {
      const batch = await store.readAll({ after, maxCount: 2000 });
      if (batch.length === 0) break;
      for (const e of batch) {
        decodeStored(e.data);
        decoded++;
      }
      after = (batch[batch.length - 1] as { position: bigint }).position;
    }
    report(`reference: read and decode ${fmt(decoded)} events, no projection`, fmt(decoded / ((performance.now() - t) / 1000)), 'events/s');

    const runner = new ProjectionRunner(store, join(dir, 'readmodel.sqlite'), [unitStateProjection, productionProjection]);
    t = performance.now();
    await runner.rebuild();
    report(`projection rebuild (unit-state + production) of ${fmt(written)} events`, fmt(written / ((performance.now() - t) / 1000)), 'events/s');
    runner.close();
    await store.close();

    const server = await startLedgerServer(configFromEnv({}, { dataDir: dir, port: 0 }), pino({ level: 'warn' }));
    try {
      const token = readFileSync(init.adminTokenFile, 'utf8').trim();
      const timed = async (path: string, accept: string, n: number) => {
        const start = performance.now();
        let bytes = 0;
        for (let i = 0; i < n; i++) bytes = (await (await fetch(`${server.url}${path}`, { headers: { authorization: `Bearer ${token}`, accept } })).text()).length;
        return { ms: (performance.now() - start) / n, bytes };
      };
      const page = await timed(`/v1/firmware/${previous}/units?limit=100`, 'application/json', 50);
      report(`affected units, first JSON page of 100 (of ${fmt(drifted)}), ${fmt(units)} units in the ledger`, page.ms.toFixed(2), 'ms');
      const csv = await timed(`/v1/firmware/${previous}/units`, 'text/csv', 5);
      report(`affected units, all ${fmt(drifted)} as CSV`, csv.ms.toFixed(1), 'ms');
      const all = await timed(`/v1/firmware/${release.application.sha256}/units?limit=1000`, 'application/json', 20);
      report(`units carrying the current image, JSON page of 1000 (of ${fmt(units - drifted)})`, all.ms.toFixed(2), 'ms');
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  console.log('| measurement | value | unit |\n|---|---:|---|');
  for (const [what, value, unit] of rows) console.log(`| ${what} | ${value} | ${unit} |`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
