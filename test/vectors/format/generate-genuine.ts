/**
 * Genuine evidence for the format vectors, produced the way a user gets it: a real ledger (real SQLite files, the
 * real HTTP server on loopback) with fixed keys, a line set up by signed administrator events, units flashed by a
 * simulated station over HTTP, then `GET /v1/units/:serial/provenance` and `POST /v1/exports`.
 *
 *   npx tsx test/vectors/format/generate-genuine.ts OUTDIR
 *
 * It uses only interfaces every flashtrail version since the first export has, so the same script run from an
 * older checkout yields that version's genuine files (the v1 vectors were made that way, from commit 061f11c).
 * Keys are derived from fixed seeds: every vector verifies against one ledger key (keys.json).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { pino } from 'pino';
import { configFromEnv, startLedgerServer } from '../../../src/server/main.ts';
import { writeSecretKeyFile } from '../../../src/files/key-file.ts';
import { keyIdOf, publicKeyFromSecret, type Signer } from '../../../src/crypto/ed25519.ts';
import { EventSigner } from '../../../src/event/signer.ts';
import { LedgerClient } from '../../../src/client/ledger-client.ts';
import { lineSetupEvents } from '../../../src/sim/line-setup.ts';
import { SimulatedStation, simulatedRelease } from '../../../src/sim/simulated-station.ts';
import { writeMlDsaKeyFile } from '../../../src/files/ml-dsa-key-file.ts';
import { mlDsaSignerFromSeed, type MlDsaSigner } from '../../../src/crypto/ml-dsa.ts';
import { formatMlDsaVerifierKey } from '../../../src/tlog/ml-dsa-note.ts';

export const ORIGIN = 'vectors.flashtrail.example/log';

/** A signing key from a fixed, public seed: these keys protect nothing but the vectors. */
export function seededSigner(label: string): Signer {
  const secretKey = new Uint8Array(createHash('sha256').update(`flashtrail format vectors: ${label}`).digest());
  const publicKey = publicKeyFromSecret(secretKey);
  return { keyId: keyIdOf(publicKey), publicKey, secretKey };
}

/** The ledger's ML-DSA-44 key from a fixed, public seed (FIPS 204 ξ), for the v3 vectors. */
export function seededMlDsaSigner(label: string): MlDsaSigner {
  return mlDsaSignerFromSeed(new Uint8Array(createHash('sha256').update(`flashtrail format vectors: ${label}`).digest()));
}

async function main(out: string): Promise<void> {
  const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-vectors-'));
  try {
    writeSecretKeyFile(join(dataDir, 'ledger.key'), seededSigner('ledger'));
    writeSecretKeyFile(join(dataDir, 'admin.key'), seededSigner('admin'));
    // The index log's key (docs/format.md §15.3): unused by ledgers from before it.
    writeSecretKeyFile(join(dataDir, 'unit-map.key'), seededSigner('unit-map'));
    // Ledgers before hybrid signatures had no ML-DSA-44 key; with one (the seeded key) the export is v3 and hybrid.
    if (process.env['VECTORS_PQ'] !== 'off') writeMlDsaKeyFile(join(dataDir, 'ledger-ml-dsa.key'), seededMlDsaSigner('ledger ml-dsa-44'));
    const config = configFromEnv({ FLASHTRAIL_LOG_ORIGIN: ORIGIN, ...(process.env['VECTORS_PQ'] === 'off' ? { FLASHTRAIL_PQ_SIGNATURES: 'off' } : {}) }, { dataDir, port: 0, logLevel: 'warn' });
    const ledger = await startLedgerServer(config, pino({ level: 'warn' }));
    try {
      const { readFileSync } = await import('node:fs');
      const adminToken = readFileSync(join(dataDir, 'admin.token'), 'utf8').trim();
      const { addToken } = await import('../../../src/api/tokens.ts');
      const stationToken = addToken(config.tokensFile, { name: 'st-01', role: 'station', stationId: 'ST-01' });
      const auditorToken = addToken(config.tokensFile, { name: 'auditor', role: 'auditor' });
      const admin = new EventSigner(seededSigner('admin'), 'admin');
      const stationKey = seededSigner('station ST-01');
      const release = simulatedRelease('R-1', 'SENSOR-S3', '2.4.1');
      await new LedgerClient(ledger.url, adminToken).appendAdmin(lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key: stationKey }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 10 } }));
      // The token file is re-read when it changes; give the server a moment to see the new tokens.
      await new Promise((r) => setTimeout(r, 1500));
      const station = new SimulatedStation(new LedgerClient(ledger.url, stationToken), new EventSigner(stationKey, 'ST-01'), { stationId: 'ST-01', operator: 'op-1', batchId: 'B-1', hardwareRevision: 'rev-C' }, release);
      await station.flash('SN-0001', 'app-mismatch-then-rework');
      await station.flash('SN-0002', 'pass');
      const auditor = new LedgerClient(ledger.url, auditorToken);
      const provenance = await auditor.get<unknown>('/v1/units/SN-0001/provenance');
      const response = await fetch(`${ledger.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${auditorToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ batchId: 'B-1' }) });
      if (!response.ok) throw new Error(`export failed: ${response.status} ${await response.text()}`);
      const exportText = await response.text();
      // By firmware digest (docs/format.md §7.6.3): a ledger whose index log commits firmware writes v5. The approved
      // application (both units now) and the one SN-0001's device reported before its rework (SN-0001 formerly),
      // with no event between them: one checkpoint, so that the tamper cases can trade records between the two.
      const byFirmware = async (firmwareSha256: string) => {
        const r = await fetch(`${ledger.url}/v1/exports`, { method: 'POST', headers: { authorization: `Bearer ${auditorToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ firmwareSha256 }) });
        if (!r.ok) throw new Error(`export by firmware failed: ${r.status} ${await r.text()}`);
        return { format: r.headers.get('x-export-format'), text: await r.text() };
      };
      const reported = (provenance as { entries: { envelope: { payload: string } }[] }).entries
        .map((e) => JSON.parse(Buffer.from(e.envelope.payload, 'base64').toString('utf8')) as { type: string; data: { reportedSha256?: string } })
        .find((e) => e.type === 'AppVerified' && e.data.reportedSha256 !== release.application.sha256)?.data.reportedSha256;
      const firmwareExports = reported ? [await byFirmware(release.application.sha256), await byFirmware(reported)] : [];
      mkdirSync(out, { recursive: true });
      const [now, formerly] = firmwareExports;
      if (now?.format === 'flashtrail.export.v5' && formerly) {
        writeFileSync(join(out, 'genuine.firmware.export.ndjson'), now.text);
        writeFileSync(join(out, 'genuine.firmware-formerly.export.ndjson'), formerly.text);
      }
      writeFileSync(join(out, 'genuine.provenance.json'), JSON.stringify(provenance, null, 2) + '\n');
      writeFileSync(join(out, 'genuine.export.ndjson'), exportText);
      const mapVerifierKey = ledger.unitMap?.verifierKey;
      writeFileSync(
        join(out, 'keys.json'),
        JSON.stringify(
          {
            ledgerVerifierKey: ledger.identity.verifierKey,
            ledgerMlDsaVerifierKey: formatMlDsaVerifierKey(ORIGIN, seededMlDsaSigner('ledger ml-dsa-44').publicKey),
            ...(mapVerifierKey ? { mapVerifierKey } : {}),
            seeds: 'sha256("flashtrail format vectors: " + label) for labels ledger, admin, station ST-01, unit-map (Ed25519 secret keys) and "ledger ml-dsa-44" (the FIPS 204 ML-DSA-44 seed ξ)',
          },
          null,
          2,
        ) + '\n',
      );
      console.log(`wrote genuine vectors to ${out} (verifier key ${ledger.identity.verifierKey})`);
    } finally {
      await ledger.close();
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
  }
}

const outDir = process.argv[2];
if (outDir && process.argv[1]?.endsWith('generate-genuine.ts')) await main(outDir);
