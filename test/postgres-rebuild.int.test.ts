/**
 * `projections rebuild` on PostgreSQL: the shared Merkle log is checked against the event log (never
 * replaced: it is append-only and other instances serve from it), and an insider's edit of an event, made
 * as a superuser with the append-only triggers switched off, is caught by the signed checkpoints.
 */
import { expect, it } from 'vitest';
import { rebuildDerivedFiles } from '../src/server/rebuild.ts';
import { EventSigner } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { bootloaderData, scanData, startTestLedger } from './helpers/ledger-fixture.ts';
import { asSuperuser, describeWithPostgres } from './helpers/postgres.ts';
import { useStore } from './helpers/store-under-test.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LEDGER_CHECKPOINT_STREAM } from '../src/event/streams.ts';

describeWithPostgres('projections rebuild on PostgreSQL', (target) => {
  it('checks the shared Merkle log against the events and every signed checkpoint, and catches an edited event', async () => {
    useStore({ kind: 'postgres', target });
    const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-pg-rebuild-'));
    const t = await startTestLedger({ dataDir });
    const database = new URL(t.config.postgresUrl as string).pathname.slice(1);
    try {
      const station = new EventSigner(t.stationKeys['ST-01'], 'ST-01');
      for (const serial of ['R-1', 'R-2']) {
        await new LedgerClient(t.url, t.tokens.station1).append([station.sign('UnitScanned', scanData(serial)).envelope, station.sign('BootloaderWritten', bootloaderData(serial, t.release)).envelope]);
      }
      const signed = await fetch(`${t.url}/v1/checkpoint`, { method: 'POST', headers: { authorization: `Bearer ${t.tokens.admin}` } });
      expect(signed.status).toBe(201);
      const config = t.config;
      // The checkpointer may also have signed one on its cadence (a fresh ledger signs within a second).
      const issued = (await t.running.ledger.readStream(LEDGER_CHECKPOINT_STREAM)).length;
      expect(issued).toBeGreaterThanOrEqual(1);
      await t.running.close();

      const lines: string[] = [];
      const result = await rebuildDerivedFiles(config, (l) => lines.push(l));
      expect(result.ok, lines.join('\n')).toBe(true);
      // Each signed checkpoint twice: the table's record and its CheckpointIssued event.
      expect(result.merkle).toMatchObject({ ok: true, checkpointsReproduced: 2 * issued });
      expect(lines.join('\n')).toMatch(/checked the shared Merkle log in PostgreSQL: \d+ events replayed/);

      // An insider with the database's superuser rights edits one byte of a recorded event.
      await asSuperuser(target, database, `
        ALTER TABLE flashtrail.events DISABLE TRIGGER events_append_only;
        UPDATE flashtrail.events SET data = overlay(data placing '\\x20'::bytea from length(data) for 1) WHERE stream = 'unit-R-1' AND revision = 0;
        ALTER TABLE flashtrail.events ENABLE TRIGGER events_append_only;`);
      const after: string[] = [];
      const refused = await rebuildDerivedFiles(config, (l) => after.push(l));
      expect(refused.ok).toBe(false);
      expect(after.join('\n')).toMatch(/no longer reproduces signed checkpoint \d+ .*Nothing was changed/);
    } finally {
      await t.stop().catch(() => undefined);
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
