/**
 * Graceful shutdown of a real `flashtrail serve` process under concurrent appends: SIGTERM stops it taking
 * requests, lets those in flight finish, closes the stores and exits 0; after a restart every acknowledged
 * event is there, and no request was answered with anything but its success or a retryable refusal.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configFromEnv, initDataDir } from '../src/server/main.ts';
import { addToken } from '../src/api/tokens.ts';
import { readSecretKeyFile } from '../src/files/key-file.ts';
import { newSigner } from '../src/crypto/ed25519.ts';
import { EventSigner, type SignedEvent } from '../src/event/signer.ts';
import { LedgerClient } from '../src/client/ledger-client.ts';
import { lineSetupEvents } from '../src/sim/line-setup.ts';
import { simulatedRelease } from '../src/sim/simulated-station.ts';
import { bootloaderData, scanData } from './helpers/ledger-fixture.ts';
import { spawnLedger } from './helpers/server-process.ts';

describe('graceful shutdown', () => {
  it('SIGTERM under concurrent appends: in-flight appends finish, acknowledged ones survive, exit 0', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'flashtrail-shutdown-'));
    try {
      const config = configFromEnv({}, { dataDir });
      const init = initDataDir(config);
      const stationToken = addToken(config.tokensFile, { name: 'st1', role: 'station', stationId: 'ST-01' });
      const adminToken = readFileSync(init.adminTokenFile, 'utf8').trim();
      const server = await spawnLedger(dataDir);
      const key = newSigner();
      const release = simulatedRelease('R-1', 'SENSOR-S3', '1.0.0');
      await new LedgerClient(server.url, adminToken).appendAdmin(
        lineSetupEvents(new EventSigner(readSecretKeyFile(init.adminKeyFile), 'admin'), { stations: [{ stationId: 'ST-01', key }], release, batch: { batchId: 'B-1', line: 'L1', plannedQuantity: 100_000 } }),
      );

      const acknowledged: SignedEvent[] = [];
      const answers = new Map<string, number>();
      let signalled = false;
      let acknowledgedAfterSignal = 0;
      const writer = async (w: number) => {
        const signer = new EventSigner(key, 'ST-01');
        for (let u = 0; ; u++) {
          const serial = `G${w}-${u}`;
          const batch = [signer.sign('UnitScanned', scanData(serial)), signer.sign('BootloaderWritten', bootloaderData(serial, release))];
          let response: Response;
          let body: { code?: string };
          try {
            response = await fetch(`${server.url}/v1/events`, {
              method: 'POST',
              headers: { authorization: `Bearer ${stationToken}`, 'content-type': 'application/json' },
              body: JSON.stringify({ events: batch.map((s) => s.envelope) }),
            });
            body = (await response.json()) as { code?: string };
          } catch {
            return; // the listener is gone: the process is stopping (an unanswered request was not acknowledged)
          }
          const answer = `${response.status} ${body.code ?? ''}`.trim();
          answers.set(answer, (answers.get(answer) ?? 0) + 1);
          if (response.status === 201) {
            acknowledged.push(...batch);
            if (signalled) acknowledgedAfterSignal++;
          } else return;
        }
      };
      const writers = Array.from({ length: 6 }, (_, w) => writer(w));
      while (acknowledged.length < 60) await new Promise((r) => setTimeout(r, 10));
      signalled = true;
      const exitCode = await server.kill('SIGTERM');
      await Promise.all(writers);

      expect(exitCode, server.output()).toBe(0);
      // Only success, or the retryable refusal of a request that came in while draining.
      expect([...answers.keys()].filter((k) => k !== '201' && k !== '503 UNAVAILABLE'), JSON.stringify([...answers])).toEqual([]);
      const lines = server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; signal?: string; inFlight?: number });
      const shutting = lines.find((l) => l.msg === 'shutting down');
      expect(shutting).toMatchObject({ signal: 'SIGTERM', inFlight: expect.any(Number) });
      expect(lines.at(-1)).toMatchObject({ msg: 'stopped', signal: 'SIGTERM' });
      // The signal came while appends were flowing (six writers never pause): answers kept arriving after it.
      expect(acknowledgedAfterSignal + (shutting?.inFlight ?? 0)).toBeGreaterThan(0);

      // The stores were closed cleanly: a restart opens them, and every acknowledged event is in its stream.
      const again = await spawnLedger(dataDir);
      try {
        const auditor = new LedgerClient(again.url, adminToken);
        const serials = [...new Set(acknowledged.map((s) => (s.event.data as { serial: string }).serial))];
        for (const serial of serials) {
          const history = await auditor.get<{ events: { event: { id: string } }[] }>(`/v1/units/${serial}/events`);
          const ids = new Set(history.events.map((e) => e.event.id));
          for (const s of acknowledged.filter((a) => (a.event.data as { serial: string }).serial === serial)) expect(ids.has(s.event.id), serial).toBe(true);
        }
      } finally {
        expect(await again.kill('SIGTERM')).toBe(0);
      }
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
