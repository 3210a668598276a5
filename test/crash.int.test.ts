/**
 * Crash safety: the ledger process is killed with SIGKILL in the middle of a stream of appends. After a
 * restart every acknowledged event is there, every batch is whole or absent, and every chain verifies.
 * With many concurrent clients the ledger writes their submissions in shared transactions (group commit):
 * a 201 still means the event is durable, and a group is never half-written.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { configFromEnv, initDataDir } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner, type SignedEvent } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { verifiedHistory } from './helpers/provenance.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { createTestDatabase, postgresTarget } from './helpers/postgres.ts';

describe('crash safety', () => {
  it('after SIGKILL mid-stream, every acknowledged event survives and nothing is half-written (SQLite)', async () => {
    await crashMidStream({}, (dataDir) => {
      const db = new Database(join(dataDir, 'events.sqlite'), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    });
  });

  it('after SIGKILL mid-stream with 32 concurrent clients (group commit), every acknowledged event survives (SQLite)', async () => {
    await crashMidStream({}, (dataDir) => {
      const db = new Database(join(dataDir, 'events.sqlite'), { readonly: true });
      expect(db.pragma('integrity_check', { simple: true })).toBe('ok');
      db.close();
    }, 32);
  });

  const target = postgresTarget();
  it.skipIf(!target)(`after SIGKILL mid-stream, every acknowledged event survives and nothing is half-written (PostgreSQL${target ? '' : ': skipped, no PostgreSQL server on this machine'})`, async () => {
    const database = await createTestDatabase(target!);
    try {
      await crashMidStream({ FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url }, () => undefined);
    } finally {
      await database.drop();
    }
  });
  it.skipIf(!target)(`after SIGKILL mid-stream with 32 concurrent clients (group commit), every acknowledged event survives (PostgreSQL${target ? '' : ': skipped, no PostgreSQL server on this machine'})`, async () => {
    const database = await createTestDatabase(target!);
    try {
      await crashMidStream({ FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url }, () => undefined, 32);
    } finally {
      await database.drop();
    }
  });
});

async function crashMidStream(env: Record<string, string>, checkStoreFiles: (dataDir: string) => void, writerCount = 4): Promise<void> {
  {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-crash-'));
    const config = configFromEnv({}, { dataDir });
    const init = initDataDir(config);
    const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
    const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
    const server = await spawnLedger(dataDir, env);

    const admin = new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin');
    const key = newSigner();
    const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
    await new LedgerClient(server.url, adminToken).appendAdmin(
      lineSetupEvents(admin, { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100_000 } }),
    );

    const client = new LedgerClient(server.url, stationToken);
    const acknowledged: SignedEvent[] = [];
    const attempted: SignedEvent[][] = [];
    let stop = false;
    const writer = async (w: number) => {
      const signer = new EventSigner(key, 'ST-01');
      for (let u = 0; !stop; u++) {
        const serial = `K${w}-${u}`;
        // Two events per request, then one: batches and single appends both cross the kill.
        const steps: SignedEvent[][] = [
          [signer.sign('UnitScanned', scanData(serial)), signer.sign('BootloaderWritten', bootloaderData(serial, release))],
          [signer.sign('StepFailed', { serial, step: 'app_verify', errorCode: 'BOOT_LOG_TIMEOUT', message: 'no boot log in 10 s', attempt: 1 })],
        ];
        for (const batch of steps) {
          if (stop) return;
          attempted.push(batch);
          try {
            await client.append(batch.map((s) => s.envelope));
            acknowledged.push(...batch);
          } catch {
            return; // the server died under us
          }
        }
      }
    };
    const writers = Array.from({ length: writerCount }, (_, w) => writer(w));
    while (acknowledged.length < 150) await new Promise((r) => setTimeout(r, 5));
    await server.kill('SIGKILL');
    stop = true;
    await Promise.all(writers);
    expect(acknowledged.length).toBeGreaterThanOrEqual(150);

    checkStoreFiles(dataDir);

    const restarted = await spawnLedger(dataDir, env);
    try {
      const auditor = new LedgerClient(restarted.url, adminToken);
      const streams = new Map<string, string[]>();
      for (const serial of new Set(attempted.flat().map((s) => s.stream.slice('unit-'.length)))) {
        const history = await auditor.get<{ events: { event: { id: string } }[] }>(`/v1/units/${serial}/events`).catch(() => ({ events: [] }));
        if (history.events.length > 0) expect((await verifiedHistory(auditor, serial)).events).toBe(history.events.length);
        streams.set(`unit-${serial}`, history.events.map((e) => e.event.id));
      }
      const present = new Set([...streams.values()].flat());
      for (const e of acknowledged) expect(present.has(e.event.id), `acknowledged ${e.event.type} of ${e.stream} lost`).toBe(true);
      for (const batch of attempted) {
        const found = batch.filter((e) => present.has(e.event.id)).length;
        expect([0, batch.length], 'a batch was half-written').toContain(found);
      }
      // The restarted ledger accepts new work on top of the recovered chains.
      const after = new EventSigner(key, 'ST-01');
      await new LedgerClient(restarted.url, stationToken).append([after.sign('UnitScanned', scanData('AFTER-1')).envelope]);
    } finally {
      await restarted.kill('SIGTERM');
      rmSync(dataDir, { recursive: true, force: true });
    }
  }
}
