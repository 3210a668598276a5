/**
 * `flashtrail demo`: the quick start. Starts a real ledger on the embedded store, sets up a station, a
 * release (the ESP32-S3 Secure Boot v2 + flash encryption recipe) and a batch as an administrator would,
 * takes simulated units through the recipe over the HTTP API (the same walk as the station agent), shows a
 * refused write after the lock, prints every unit's state, and re-verifies one unit's history client-side.
 */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { configFromEnv, initDataDir, startLedgerServer } from '../server/main.ts';
import { addToken } from '../api/tokens.ts';
import { readSecretKeyFile, writeSecretKeyFile } from '../files/key-file.ts';
import { newSigner } from '../crypto/ed25519.ts';
import { EventSigner } from '../event/signer.ts';
import { LedgerClient, LedgerClientError } from '../client/ledger-client.ts';
import { lineSetupEvents } from './line-setup.ts';
import { RecipeUnit, simulatedRecipeRelease, type TryOutcome } from './recipe-unit.ts';
import type { DsseEnvelope } from '../crypto/dsse.ts';
import type { UnitEvent, UnitEventType } from '../../schemas/index.ts';
import { parseVerifierKey, verifyProvenance, VerificationError } from '../verify/index.ts';
import { failureLine, stepLines } from '../verify/report.ts';
import { nativeCrypto } from '../native/crypto.ts';
import { DEFAULT_FAILURE_RATES, runSimulation } from './run-simulation.ts';
import type { UnitView } from '../../projections/unit-state.ts';

export interface DemoOptions {
  readonly units: number;
  /** Units of the simulated batch shown at the end; 0 leaves it out. */
  readonly batchUnits: number;
  readonly dataDir?: string;
  readonly out?: (line: string) => void;
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const out = options.out ?? ((line: string) => process.stdout.write(line + '\n'));
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'flashtrail-demo-'));
  const config = configFromEnv({}, { dataDir, port: 0, logLevel: 'warn' });
  const init = initDataDir(config);
  const stationId = 'ST-01';
  const stationToken = addToken(config.tokensFile, { name: `station-${stationId}-${Date.now()}`, role: 'station', stationId });
  const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
  const ledger = await startLedgerServer(config, pino({ level: 'warn' }));
  try {
    out(`flashtrail demo: a simulated production line against a real ledger`);
    out(`  ledger   ${ledger.url}  (embedded store in ${dataDir})`);

    const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
    const adminClient = new LedgerClient(ledger.url, adminToken);
    const stationKey = newSigner();
    writeSecretKeyFile(join(dataDir, `${stationId}.key`), stationKey, `station ${stationId}`);
    const release = simulatedRecipeRelease('fw-3.0.0', 'SENSOR-S3', '3.0.0');
    const batchId = `B-${new Date().toISOString().slice(0, 10)}-01`;
    // The line was set up 20 hours ago: the simulated batch below is dated over the last hours, after it, and
    // administrator events stay inside the ledger's 24-hour window (ADMIN_EVENT_MAX_AGE_MS: EVENT_TOO_OLD).
    const setupAt = new Date(Date.now() - 20 * 3_600_000);
    await adminClient.appendAdmin(lineSetupEvents(admin, { stations: [{ stationId, key: stationKey, site: 'Plant 1, Cell 4' }], at: setupAt }));
    await adminClient.appendAdmin([
      admin.sign('ReleaseApproved', release, { occurredAt: setupAt }).envelope,
      admin.sign('BatchOpened', { batchId, releaseId: release.releaseId, line: 'L1', productSku: release.productSku, plannedQuantity: options.units }, { occurredAt: setupAt }).envelope,
    ]);
    out(`  admin    registered station ${stationId} with key ${stationKey.keyId.slice(0, 16)}…, approved release ${release.releaseId} (recipe ${release.recipe.id}, ${release.recipe.steps.length} steps), opened batch ${batchId}`);

    const stationClient = new LedgerClient(ledger.url, stationToken);
    const signer = new EventSigner(stationKey, stationId);
    const serials: string[] = [];
    out(`  flashing ${options.units} units, each step a signed event:`);
    const app = release.images.find((i) => i.name === 'app');
    for (let i = 1; i <= options.units; i++) {
      const serial = `SN${String(24_000 + i).padStart(7, '0')}`;
      serials.push(serial);
      // Every 7th unit reads back garbage twice (a loose programming clip) and is reworked; every 11th has a bad flash chip.
      const scenario = i % 7 === 3 ? 'rework' : i % 11 === 5 ? 'defective' : i === options.units ? 'unshipped' : 'pass';
      const envelopes: DsseEnvelope[] = [];
      const sign = (type: UnitEventType, data: unknown): UnitEvent => {
        const signed = signer.sign(type, data as never);
        envelopes.push(signed.envelope);
        return signed.event as UnitEvent;
      };
      const unit = new RecipeUnit(release, serial, { stationId, operator: 'op-jdoe' }, { appImage: { sha256: app?.sha256 ?? '', elf: app?.elfSha256 ?? '' }, defective: scenario === 'defective' }, sign);
      const log: string[] = [];
      unit.scan(batchId);
      for (let pass = 1; pass <= 2; pass++) {
        let failed: string | null = null;
        for (let step = unit.next(); step !== null && failed === null; step = unit.next()) {
          for (let t = 1; t <= 2; t++) {
            const outcome: TryOutcome = scenario === 'rework' && pass === 1 && step.id === 'read-back-images' ? { kind: 'garbled' } : { kind: 'pass' };
            const r = unit.try(outcome);
            if (r.done) break;
            if (t === 2) failed = step.id;
          }
        }
        if (failed === null) {
          log.push(pass === 1 ? 'recipe done, eFuses locked' : 'second pass done, locked');
          break;
        }
        log.push(`${failed} FAILED twice`);
        if (pass === 2) {
          unit.scrap(`${failed} failed in both passes; suspected bad flash chip`, failed);
          log.push('scrapped');
        } else {
          unit.rework('reseated the programming clip');
          unit.scan(batchId);
          log.push('reworked');
        }
      }
      if (unit.state.status === 'locked' && scenario !== 'unshipped') {
        unit.ship('ACME Robotics', 'PO-4711');
        log.push('shipped');
      }
      await stationClient.append(envelopes);
      out(`    ${serial}  ${log.join(' → ')}`);
    }

    const locked = serials[serials.length - 1] as string;
    try {
      const head = await stationClient.get<{ digest: string | null }>(`/v1/streams/unit-${locked}/head`);
      const image = release.images[0] as (typeof release.images)[number];
      await stationClient.append([
        signer.sign(
          'ImagesWritten',
          { serial: locked, step: 'write-images', operator: 'op-rogue', durationMs: 900, tools: [], images: [{ name: image.name, offset: image.offset, sha256: image.sha256, sizeBytes: image.sizeBytes }] },
          { prev: head.digest },
        ).envelope,
      ]);
      out(`  !! the ledger accepted a flash write after the lock: this is a bug`);
    } catch (error) {
      if (!(error instanceof LedgerClientError)) throw error;
      out(`  refused  flash write to locked unit ${locked}: ${error.status} ${error.problem.code} ${String(error.problem['rule'] ?? '')}`);
    }

    out('');
    out(`  ${'SERIAL'.padEnd(10)} ${'STATUS'.padEnd(12)} ${'TRY'.padEnd(3)} ${'APPLICATION SHA-256'.padEnd(18)} ${'MAC'.padEnd(18)} EVENTS`);
    for (const serial of serials) {
      const u = await adminClient.get<UnitView>(`/v1/units/${serial}`);
      const app = u.application?.verified ? `${u.application.sha256.slice(0, 16)}…` : '-';
      out(`  ${serial.padEnd(10)} ${u.status.padEnd(12)} ${String(u.attempt).padEnd(3)} ${app.padEnd(18)} ${(u.mac ?? '-').padEnd(18)} ${u.eventCount}`);
    }

    // What an auditor does, years later: fetch the unit's provenance and verify it offline against the
    // pinned ledger key alone.
    const provenanceFile = join(dataDir, `${locked}.provenance.json`);
    writeFileSync(provenanceFile, JSON.stringify(await adminClient.get(`/v1/units/${locked}/provenance`), null, 2));
    out('');
    out(`  ledger verifier key (auditors pin this): ${ledger.identity.verifierKey}`);
    out(`  $ flashtrail verify ${provenanceFile} --ledger-key <that key>`);
    try {
      const report = verifyProvenance(JSON.parse(readFileSync(provenanceFile, 'utf8')), parseVerifierKey(ledger.identity.verifierKey), nativeCrypto);
      out(`    verifying provenance of unit ${report.serial} (${provenanceFile})`);
      for (const line of stepLines(report.steps)) out(`  ${line}`);
      out(`    verified: ${report.events} events by ${report.stations.join(', ')}; application ${report.firmware.application.join(', ') || '-'}; checkpoint ${report.checkpoint.origin} size ${report.checkpoint.size}`);
    } catch (error) {
      if (!(error instanceof VerificationError)) throw error;
      out(`  ${failureLine(error)}`);
      process.exitCode = 1;
    }

    if (options.batchUnits > 0) {
      out('');
      out(`  a realistic batch: $ flashtrail simulate --units ${options.batchUnits} --stations 4 --seed 1`);
      out('  (transient failures at every step, rework then scrap, 0.3 % defective units, and ST-02 flashing');
      out('   the previous application image for an hour)');
      const sim = await runSimulation({
        units: options.batchUnits,
        stations: 4,
        seed: 1,
        failureRates: DEFAULT_FAILURE_RATES,
        maxRetriesPerStep: 1,
        maxReworks: 1,
        defectRate: 0.003,
        drift: { station: 'ST-02', fromMinute: 30, minutes: 60 },
        cycleSeconds: 60,
        dataDir,
        url: ledger.url,
        json: false,
        out,
        progress: () => undefined,
      });
      if (!sim.agrees) process.exitCode = 1;
    }
    out(`  explore  npx flashtrail serve --data ${dataDir}`);
    out(`           curl -H "Authorization: Bearer $(cat ${init.adminTokenFile})" http://127.0.0.1:8080/v1/units/${locked}`);
  } finally {
    await ledger.close();
  }
}
