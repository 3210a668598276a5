/** flashtrail migrate between two real stores: embedded → embedded, SQLite → PostgreSQL → SQLite (kurrentdb:// where a server exists). */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SqliteEventStore } from '../src/store/sqlite.ts';
import { migrate } from '../src/store/migrate.ts';
import type { RecordedEvent } from '../src/store/event-store.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { bootloaderData, scanData, startTestLedger } from './helpers/ledger-fixture.ts';
import { createTestDatabase, describeWithPostgres } from './helpers/postgres.ts';
import { runCli } from './helpers/cli.ts';
import { spawnLedger } from './helpers/server-process.ts';
import { verifiedHistory } from './helpers/provenance.ts';

describe('flashtrail migrate', () => {
  it('copies a ledger in order with ids and bytes, and proves it by identical Merkle roots', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-migrate-'));
    const from = new SqliteEventStore(join(dir, 'from.sqlite'));
    const to = new SqliteEventStore(join(dir, 'to.sqlite'));
    try {
      for (let i = 0; i < 2500; i++) {
        await from.appendToStream(`unit-${i % 7}`, [{ id: randomUUID(), type: 'T', data: new TextEncoder().encode(`{"i":${i}}`) }]);
      }
      const result = await migrate(from, to);
      expect(result.events).toBe(2500);
      expect(result.sourceRoot).toMatch(/^2500:[0-9a-f]{64}$/);
      expect(result.destinationRoot).toBe(result.sourceRoot);
      const [a, b] = [await from.readStream('unit-3'), await to.readStream('unit-3')];
      expect(a.length).toBeGreaterThan(0);
      expect(b.map((e) => [e.id, e.revision, Buffer.from(e.data).toString()])).toEqual(a.map((e) => [e.id, e.revision, Buffer.from(e.data).toString()]));
      // Migrating again into the same destination is an idempotent replay: nothing is doubled.
      await expect(migrate(from, to)).resolves.toMatchObject({ events: 2500, destinationRoot: result.sourceRoot });
      expect((await to.readAll({ maxCount: 10_000 })).length).toBe(2500);
    } finally {
      await from.close();
      await to.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describeWithPostgres('flashtrail migrate between SQLite and PostgreSQL', (target) => {
  it('a served ledger goes to PostgreSQL and back with identical Merkle roots, and is served from PostgreSQL with its signed history intact', async () => {
    const database = await createTestDatabase(target);
    const t = await startTestLedger({ dataDir: mkdtempSync(join(tmpdir(), 'flashtrail-migrate-ledger-')) });
    const back = mkdtempSync(join(tmpdir(), 'flashtrail-migrate-back-'));
    try {
      const station = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
      for (const serial of ['M-1', 'M-2', 'M-3']) {
        await new LedgerClient(t.url, t.tokens.station1).append([station.sign('UnitScanned', scanData(serial)).envelope, station.sign('BootloaderWritten', bootloaderData(serial, t.release)).envelope]);
      }
      // A signed checkpoint travels with the events (as CheckpointIssued) and must still hold after the move.
      const signed = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
      expect(signed.status).toBe(201);
      const signedSize = Number((await signed.text()).split('\n')[1]);
      const verifierKey = t.running.identity.verifierKey;
      await t.stop();
      const sqliteUrl = `sqlite:${join(t.dataDir, 'events.sqlite')}`;
      const pgUrl = `${database.url}?schema=ledger_a`;

      const there = await runCli(['migrate', '--from', sqliteUrl, '--to', pgUrl], { timeoutMs: 60_000 });
      expect(there.stderr).not.toMatch(/at .*\.js/);
      expect(there.code, there.stderr).toBe(0);
      const sourceRoot = /source Merkle root\s+(\S+)/.exec(there.stdout)?.[1];
      expect(sourceRoot).toMatch(/^\d+:[0-9a-f]{64}$/);
      expect(there.stdout).toContain(`destination Merkle root ${sourceRoot}`);

      const home = await runCli(['migrate', '--from', pgUrl, '--to', `sqlite:${join(back, 'events.sqlite')}`], { timeoutMs: 60_000 });
      expect(home.code, home.stderr).toBe(0);
      expect(home.stdout).toContain(`source Merkle root      ${sourceRoot}`);
      expect(home.stdout).toContain(`destination Merkle root ${sourceRoot}`);
      const [original, returned] = [new SqliteEventStore(join(t.dataDir, 'events.sqlite')), new SqliteEventStore(join(back, 'events.sqlite'))];
      const strip = (e: RecordedEvent) => [e.id, e.stream, e.revision, Buffer.from(e.data).toString('base64')];
      expect((await returned.readAll({ maxCount: 10_000 })).map(strip)).toEqual((await original.readAll({ maxCount: 10_000 })).map(strip));
      await original.close();
      await returned.close();

      // The same data directory (keys, tokens) served from PostgreSQL: the copied CheckpointIssued events
      // bind the new shared Merkle log, and a unit's provenance verifies with the ledger's own key.
      for (const derived of ['merkle.sqlite', 'readmodel.sqlite']) rmSync(join(t.dataDir, derived), { force: true });
      const served = await spawnLedger(t.dataDir, { FLASHTRAIL_STORE: 'postgres', FLASHTRAIL_POSTGRES_URL: database.url, FLASHTRAIL_POSTGRES_SCHEMA: 'ledger_a' });
      try {
        const auditor = new LedgerClient(served.url, t.tokens.auditor);
        expect((await verifiedHistory(auditor, 'M-2', verifierKey)).events).toBe(2);
        // New content over PostgreSQL, then a checkpoint: it is proven consistent with the one signed over SQLite.
        const admin = new LedgerClient(served.url, t.tokens.admin);
        await admin.appendAdmin([t.admin.sign('StationRegistered', { stationId: 'ST-MIG', line: 'L1', site: 'Plant 1' }).envelope]);
        const signedNow = await fetch(new URL('/v1/checkpoint', served.url), { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
        expect(signedNow.status).toBe(201);
        const now = await signedNow.text();
        const proof = await auditor.get<{ proof: string[] }>(`/v1/proofs/consistency?from=${signedSize}&to=${now.split('\n')[1]}`);
        expect(Number(now.split('\n')[1])).toBeGreaterThan(signedSize);
        expect(proof.proof.length).toBeGreaterThan(0);
      } finally {
        await served.kill('SIGTERM');
      }

      // A source that holds nothing (a mistyped schema, say) is refused, not "migrated".
      const empty = await runCli(['migrate', '--from', `${database.url}?schema=nothing_here`, '--to', `sqlite:${join(back, 'other.sqlite')}`]);
      expect(empty.code).toBe(1);
      expect(empty.stderr.trim()).toMatch(/^flashtrail: .*holds no events: nothing to migrate$/);
      expect(empty.stderr).not.toContain('flashtrail:flashtrail@');
    } finally {
      rmSync(t.dataDir, { recursive: true, force: true });
      rmSync(back, { recursive: true, force: true });
      await database.drop();
    }
  });

  it('an unreachable PostgreSQL server is one line, without the password', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'flashtrail-migrate-'));
    try {
      const from = new SqliteEventStore(join(dir, 'events.sqlite'));
      await from.appendToStream('unit-x', [{ id: randomUUID(), type: 'T', data: new Uint8Array([1]) }]);
      await from.close();
      const result = await runCli(['migrate', '--from', `sqlite:${join(dir, 'events.sqlite')}`, '--to', 'postgres://ledger:s3cret@127.0.0.1:1/flashtrail']);
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split('\n')).toHaveLength(1);
      expect(result.stderr).toMatch(/cannot reach the event store \(PostgreSQL at ledger@127\.0\.0\.1:1\/flashtrail\)/);
      expect(result.stderr).not.toContain('s3cret');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
