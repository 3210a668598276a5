/**
 * PostgreSQL itself crashes in the middle of a stream of appends (immediate shutdown: no checkpoint, crash
 * recovery at the next start), then comes back. Every append acknowledged before the crash is there; during
 * the outage the API answers 503 UNAVAILABLE (never a 500, never a false 201); afterwards the same ledger
 * process reconnects by itself, its retried requests are answered idempotently (nothing doubled), the log
 * writer is elected again and signs a checkpoint covering events appended after the restart.
 */
import { readFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { configFromEnv, initDataDir } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner, type SignedEvent } from '../src/event/signer.ts';
import { LedgerClient, LedgerClientError } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import { createTestDatabase, postgresTarget } from './helpers/postgres.ts';
import { startCluster } from './helpers/postgres-cluster.ts';

const reason = !postgresTarget()
  ? 'no PostgreSQL server on this machine'
  : process.env['FLASHTRAIL_TEST_POSTGRES_URL']
    ? 'FLASHTRAIL_TEST_POSTGRES_URL names a server this test must not crash'
    : null;

describe('PostgreSQL crash safety', () => {
  it.skipIf(reason !== null)(`the database server crashes mid-stream and restarts: nothing acknowledged is lost, the ledger recovers by itself${reason ? ` (skipped: ${reason})` : ''}`, async () => {
    // A cluster of its own: the shared one serves other test files meanwhile.
    const cluster = await startCluster();
    if (!cluster.availability.available || !cluster.crash || !cluster.restart) throw new Error('could not start a cluster of its own');
    const database = await createTestDatabase(cluster.availability.target);
    const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-pgcrash-'));
    const config = configFromEnv({}, { dataDir });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    const server = await spawnLedger(dataDir, { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_CHECKPOINT_INTERVAL_S: '1' });
    try {
      const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
      const key = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      await new LedgerClient(server.url, adminToken).appendAdmin(
        lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100_000 } }),
      );
      const client = new LedgerClient(server.url, stationToken);
      const acknowledged: SignedEvent[] = [];
      const statuses = new Map<number, number>();
      let stop = false;
      // Each station retries a request until it is acknowledged, unchanged, as the station agent's outbox does.
      const writer = async (w: number) => {
        const signer = new EventSigner(key, 'ST-01');
        for (let u = 0; !stop; u++) {
          const serial = `C${w}-${u}`;
          const steps = [
            [signer.sign('UnitScanned', scanData(serial)), signer.sign('BootloaderWritten', bootloaderData(serial, release))],
            [signer.sign('StepFailed', { serial, step: 'app_verify', errorCode: 'BOOT_LOG_TIMEOUT', message: 'no boot log in 10 s', attempt: 1 })],
          ];
          for (const batch of steps) {
            for (;;) {
              try {
                await client.append(batch.map((e) => e.envelope));
                acknowledged.push(...batch);
                break;
              } catch (error) {
                const status = error instanceof LedgerClientError ? error.status : 0;
                statuses.set(status, (statuses.get(status) ?? 0) + 1);
                if (stop) return;
                await new Promise((r) => setTimeout(r, 100));
              }
            }
          }
        }
      };
      const writers = [0, 1, 2, 3].map(writer);
      await until(() => acknowledged.length >= 150, 60_000);
      const beforeCrash = acknowledged.map((e) => e.event.id);
      cluster.crash();
      await new Promise((r) => setTimeout(r, 1500));
      cluster.restart();
      await until(() => acknowledged.length >= beforeCrash.length + 150, 60_000).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: the ledger did not recover (refusals ${JSON.stringify([...statuses])}); its log ends with:\n${server.output().slice(-3000)}`);
      });
      stop = true;
      await Promise.all(writers);

      // Refused during the outage, and only ever with 503: no 500, and no other status.
      expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
      expect([...statuses.keys()].filter((s) => s !== 503), JSON.stringify([...statuses])).toEqual([]);

      const db = new pg.Client({ connectionString: database.url });
      await db.connect();
      try {
        const { rows } = await db.query<{ id: string; n: string }>('SELECT id, count(*) AS n FROM flashtrail.events GROUP BY id');
        const stored = new Map(rows.map((r) => [r.id, Number(r.n)]));
        for (const id of beforeCrash) expect(stored.get(id), `event ${id} acknowledged before the crash`).toBe(1);
        for (const e of acknowledged) expect(stored.get(e.event.id), `acknowledged ${e.event.type} of ${e.stream}`).toBe(1);
      } finally {
        await db.end();
      }
      // The log writer is back: a unit appended after the restart has a provenance document that verifies.
      const last = (acknowledged[acknowledged.length - 1] as SignedEvent).stream.slice('unit-'.length);
      expect((await verifiedHistory(new LedgerClient(server.url, adminToken), last, init.verifierKey)).events).toBeGreaterThan(0);
    } finally {
      await server.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
      cluster.stop();
    }
  }, 180_000);
});

async function until(condition: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
