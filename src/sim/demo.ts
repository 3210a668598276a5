/**
 * `flashtrail demo`: the quick start. Starts a real ledger on the embedded store, sets up a station, a
 * release and a batch as an administrator would, flashes simulated units through the HTTP API, shows a
 * refused out-of-order step, prints every unit's state, and re-verifies one unit's history client-side.
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
import { SimulatedStation, simulatedRelease, type UnitScenario } from './simulated-station.ts';
import { lineSetupEvents } from './line-setup.ts';
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
    const release = simulatedRelease('fw-2.4.1', 'SENSOR-S3', '2.4.1');
    const batchId = `B-${new Date().toISOString().slice(0, 10)}-01`;
    await adminClient.appendAdmin(
      lineSetupEvents(admin, {
        stations: [{ stationId, key: stationKey, site: 'Plant 1, Cell 4' }],
        release,
        batch: { batchId, line: 'L1', plannedQuantity: options.units },
      }),
    );
    out(`  admin    registered station ${stationId} with key ${stationKey.keyId.slice(0, 16)}…, approved release ${release.releaseId}, opened batch ${batchId}`);

    const stationClient = new LedgerClient(ledger.url, stationToken);
    const signer = new EventSigner(stationKey, stationId);
    const station = new SimulatedStation(stationClient, signer, { stationId, operator: 'op-jdoe', batchId, hardwareRevision: 'rev-C' }, release);
    const serials: string[] = [];
    out(`  flashing ${options.units} units, each step a signed event:`);
    for (let i = 1; i <= options.units; i++) {
      const serial = `SN${String(24_000 + i).padStart(7, '0')}`;
      serials.push(serial);
      const scenario: UnitScenario = i % 7 === 3 ? 'app-mismatch-then-rework' : i % 11 === 5 ? 'scrap-after-mismatch' : i === options.units ? 'pass-unshipped' : 'pass';
      out(`    ${await station.flash(serial, scenario)}`);
    }

    const locked = serials[serials.length - 1] as string;
    try {
      await stationClient.append([
        signer.sign('BootloaderWritten', {
          serial: locked,
          imageSha256: release.bootloader.sha256,
          version: release.bootloader.version,
          sizeBytes: release.bootloader.sizeBytes,
          signingKeyRef: 'rogue-rewrite',
          signingKeyDigest: release.signingKeyDigest,
        }).envelope,
      ]);
      out(`  !! the ledger accepted a bootloader write after the eFuse burn: this is a bug`);
    } catch (error) {
      if (!(error instanceof LedgerClientError)) throw error;
      out(`  refused  bootloader rewrite of eFuse-locked unit ${locked}: ${error.status} ${error.problem.code} ${String(error.problem['rule'] ?? '')}`);
    }

    out('');
    out(`  ${'SERIAL'.padEnd(10)} ${'STATUS'.padEnd(12)} ${'TRY'.padEnd(3)} ${'APPLICATION SHA-256'.padEnd(18)} ${'BOOTLOADER'.padEnd(12)} EVENTS`);
    for (const serial of serials) {
      const u = await adminClient.get<UnitView>(`/v1/units/${serial}`);
      const app = u.application?.verified ? `${u.application.sha256.slice(0, 16)}…` : '-';
      out(`  ${serial.padEnd(10)} ${u.status.padEnd(12)} ${String(u.attempt).padEnd(3)} ${app.padEnd(18)} ${(u.bootloader?.version ?? '-').padEnd(12)} ${u.eventCount}`);
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
